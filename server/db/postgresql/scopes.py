"""The SQL of access control on PostgreSQL: the asyncpg twins of ``server.db.scopes``
that the sync path (``syncs._exchange_pg``) still runs in its one asyncpg transaction.
Everything else runs ``server.db.scopes`` on both engines (#21); this file goes when the
write path runs on ``write_tx`` (then ``exchange`` calls ``scopes.*_in`` on both).

The same rules, the same answers (``tests/test_pg_sync_path.py`` compares them with
SQLite's on the demo community, person by person and page by page). What differs:

- the ``*_in`` functions are async and take an asyncpg connection inside the caller's
  transaction (SQLite's run blocking in the database thread);
- lists travel as arrays: ``json_each(?)`` over a JSON array → ``unnest($n::text[])``
  over a Python list; ``json_quote`` of each element → quoted in Python
  (``msgspec.json.encode``, byte for byte what SQLite's ``json_quote`` makes and what is
  stored in ``winners.value``); ``json_extract(j.value, '$[k]')`` over an array of
  tuples → parallel arrays ``unnest($1::text[], $2::text[]) AS k (coll, id)``;
- ``instr`` → ``strpos``, in the very expression of the ``winners_tail`` index;
  ``substr(x, 1, instr(x, '~') - 1)`` → ``substr(x, 1, greatest(strpos(x, '~') - 1, 0))``
  (SQLite gives '' for an id without '~', PostgreSQL refuses a negative length);
- lookups of a quoted id by value add ``octet_length(value) <= 512``, the predicate of the
  partial indexes ``winners_ref`` and ``history_anchor`` (always true for an id);
- a page and the log's top come from one statement (docs/postgresql.md, rule 3);
- SQL fragments (``pull_filter``, ``people_filter``, ``record_filter``, ``page_sql``)
  number their placeholders from ``start``: a caller that puts its own arguments first
  passes ``start=len(its args) + 1``.
"""

import re
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from server.access import ANCHORS, Facts, Scope, read_scope
from server.db.changes import Incoming, WinnerRow, cut_page
from server.db.devices import Device
from server.db.log import _INCIDENT_BUILDINGS, _scopes
from server.db.postgresql import changes
from server.db.postgresql.core import PgConn
from server.db.scopes import (
    _NO_END,
    _REFERENCE_COLLS,
    OWNED,
    Old,
    add_stored_anchors,
    authorise,
    cached_scope,
    community_grant,
    companion_keys,
    decode_rows,
    fold_assignments,
    make_scope,
    mark_communities,
    mark_foreign,
    needs_no_check,
    remember_scope,
    report_window,
    reports_over,
    restarts,
    scope_change,
    scope_union,
    seed_facts,
    snapshot_from,
    snapshot_texts,
    was_visible,
    work_targets,
)
from sync.validate import ForbiddenError

__all__ = [
    "authorise_in",
    "companions_in",
    "compute_scope",
    "evictions_in",
    "incident_scopes_in",
    "load_snapshot_in",
    "page_in",
    "page_sql",
    "pull_filter",
    "pull_in",
    "quote",
    "save_snapshot_in",
    "scope_in",
    "scope_stamp",
    "shared_order_in",
    "snapshot_seq_in",
    "visible_in",
    "write_facts_in",
]

_json = msgspec.json.Encoder()
_REFERENCE = "('communities', 'buildings', 'incidents')"
#: A lookup by a quoted id may use the partial indexes ``winners_ref``/``history_anchor``.
_SHORT = "octet_length({}.value) <= 512"


def quote(value: str) -> str:
    """``value`` as JSON text, byte for byte what SQLite's ``json_quote`` gives (and what
    ``winners.value`` holds for a string: both are made by msgspec's encoder)."""
    return _json.encode(value).decode()


def _ids(values: Iterable[str] | None) -> list[str]:
    return sorted(values or ())


def _quoted(values: Iterable[str] | None) -> list[str]:
    return [quote(x) for x in sorted(values or ())]


def _number(sql: str, start: int) -> str:
    """``?`` placeholders → ``$start, $start+1, …`` (the SQL below has no other ``?``)."""
    counter = iter(range(start, start + sql.count("?")))
    return re.sub(r"\?", lambda _m: f"${next(counter)}", sql)


async def _rows(conn: PgConn, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await conn.fetch(_number(sql, 1), *args)]


async def shared_order_in(conn: PgConn) -> None:
    """Take the change log's ordering lock in shared mode: appends (which hold it
    exclusively) cannot commit while this transaction reads, so its READ COMMITTED
    statements see one state of the log, as a pull needs (the scope, the evictions and the
    page agree), while other readers go on. Take it first, as ``core.order_in``."""
    from server.db.postgresql.core import LOG_LOCK

    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", LOG_LOCK)


# --- scopes -------------------------------------------------------------------------


async def scope_stamp(conn: PgConn) -> str | None:
    """The database's epoch and scope sequence (see ``scopes.scope_stamp``)."""
    return await conn.fetchval(
        "SELECT (SELECT value FROM meta WHERE key = 'epoch') || ':' || "
        "(SELECT value FROM meta WHERE key = 'scope_seq')"
    )


async def scope_in(
    conn: PgConn, person: str, role: str, cache: dict[Any, Any] | None = None
) -> Scope:
    """``scopes.scope_in``: from ``cache`` while the scope stamp has not moved."""
    stamp = await scope_stamp(conn) if cache is not None else None
    hit = cached_scope(cache, stamp, person, role)
    if hit is not None:
        return hit
    return remember_scope(cache, stamp, person, role, await compute_scope(conn, person, role))


async def incident_scopes_in(conn: PgConn) -> dict[str, list[str]]:
    """``log.incident_scopes_in``: every incident's ``buildings``, folded (the same SQL,
    no parameters, and the same fold)."""
    return _scopes(await _rows(conn, _INCIDENT_BUILDINGS))


async def compute_scope(conn: PgConn, person: str, role: str) -> Scope:
    """``scopes.compute_scope``."""
    if role == "coordinator":
        rows = await _rows(conn, "SELECT community FROM people WHERE id = ?", (person,))
        community = rows[0][0] if rows else None
        if community is None:
            grant = read_scope(person, role)
        else:
            grant = community_grant(person, community, *await _community_parts(conn, community))
    else:
        rows = await _rows(
            conn,
            "SELECT id, field, value FROM winners WHERE coll = 'assignments' AND id > ? AND id < ?",
            (person + "~", person + "\x7f"),
        )
        grant = read_scope(
            person,
            role,
            assignments=fold_assignments(rows),
            incident_buildings=await incident_scopes_in(conn),
        )
    households = None if grant.buildings is None else await _households(conn, grant.buildings)
    return make_scope(person, grant, households)


async def _community_parts(conn: PgConn, community: str) -> tuple[list[str], list[str]]:
    out = []
    for coll in ("buildings", "incidents"):
        rows = await _rows(
            conn,
            f"SELECT id FROM winners w WHERE coll = '{coll}' AND field = 'community' "
            f"AND value = ? AND {_SHORT.format('w')}",
            (quote(community),),
        )
        out.append([r[0] for r in rows])
    return out[0], out[1]


async def _households(conn: PgConn, buildings: Iterable[str]) -> frozenset[str]:
    rows = await _rows(
        conn,
        "SELECT id FROM winners w WHERE coll = 'households' AND field = 'building' "
        f"AND value IN (SELECT unnest(?::text[])) AND {_SHORT.format('w')}",
        (_quoted(buildings),),
    )
    return frozenset(r[0] for r in rows)


# --- SQL fragments --------------------------------------------------------------------


def pull_filter(scope: Scope, start: int = 1) -> tuple[str, list[Any]] | None:
    """``scopes.pull_filter``: a WHERE fragment over ``winners``, placeholders numbered
    from ``$start``; None when the scope is unlimited."""
    if scope.unlimited:
        return None
    h, i = _ids(scope.households), _ids(scope.incidents)
    hq, iq = _quoted(scope.households), _quoted(scope.incidents)
    within = "(SELECT unnest(?::text[]))"

    def anchor(fld: str) -> str:
        return (
            "(SELECT x.value FROM winners x WHERE x.coll = winners.coll "
            f"AND x.id = winners.id AND x.field = '{fld}')"
        )

    parts = [
        f"coll IN {_REFERENCE}",
        f"(coll = 'households' AND id IN {within})",
        f"(coll IN ('visits', 'deliveries') AND {anchor('household')} IN {within})",
        f"(coll = 'household_status' AND substr(id, strpos(id, '~') + 1) IN {within})",
        f"(coll = 'repairs' AND {anchor('incident')} IN {within})",
    ]
    args: list[Any] = [h, hq, h, iq]
    if scope.volunteer:
        parts.append(
            f"(coll = 'updates' AND ({anchor('public')} = 'true' "
            f"OR {anchor('incident')} IN {within}))"
        )
        parts.append("(coll = 'assignments' AND substr(id, 1, ?::integer) = ?)")
        parts.append(f"(coll = 'reports' AND {anchor('reporter')} = ?)")
        args += [iq, len(scope.person) + 1, scope.person + "~", quote(scope.person)]
    else:
        parts.append(f"(coll = 'updates' AND {anchor('incident')} IN {within})")
        parts.append(f"(coll = 'assignments' AND substr(id, strpos(id, '~') + 1) IN {within})")
        parts.append(
            f"(coll = 'checks' AND substr(id, 1, greatest(strpos(id, '~') - 1, 0)) IN {within})"
        )
        parts.append(f"(coll = 'reports' AND {anchor('community')} = ?)")
        targets = _ids((scope.buildings or frozenset()) | (scope.incidents or frozenset()))
        args += [iq, targets, i, quote(scope.community or "")]
    return _number("(" + " OR ".join(parts) + ")", start), args


def _keys_sql(scope: Scope) -> tuple[str, list[Any]]:
    """``scopes._keys_sql`` with ``?`` placeholders (numbered by the caller)."""
    h, i = _ids(scope.households), _ids(scope.incidents)
    hq, iq = _quoted(scope.households), _quoted(scope.incidents)
    short = _SHORT.format("x")

    def by_anchor(coll: str, fld: str) -> str:
        return (
            "SELECT x.coll, x.id FROM unnest(?::text[]) j (v) JOIN winners x "
            f"ON x.coll = '{coll}' AND x.field = '{fld}' AND x.value = j.v AND {short}"
        )

    parts = [
        "SELECT 'households'::text, v FROM unnest(?::text[]) j (v)",
        by_anchor("visits", "household"),
        by_anchor("deliveries", "household"),
        "SELECT x.coll, x.id FROM unnest(?::text[]) j (v) JOIN winners x "
        "ON x.coll = 'household_status' AND substr(x.id, strpos(x.id, '~') + 1) = j.v",
        by_anchor("repairs", "incident"),
        by_anchor("updates", "incident"),
    ]
    args: list[Any] = [h, hq, hq, h, iq, iq]
    if scope.volunteer:
        parts.append(
            "SELECT x.coll, x.id FROM winners x WHERE x.coll = 'updates' "
            f"AND x.field = 'public' AND x.value = 'true' AND {short}"
        )
        parts.append(
            "SELECT x.coll, x.id FROM winners x WHERE x.coll = 'assignments' "
            "AND x.id > ? AND x.id < ?"
        )
        parts.append(
            "SELECT x.coll, x.id FROM winners x WHERE x.coll = 'reports' "
            f"AND x.field = 'reporter' AND x.value = ? AND {short}"
        )
        args += [scope.person + "~", scope.person + "\x7f", quote(scope.person)]
    else:
        targets = _ids((scope.buildings or frozenset()) | (scope.incidents or frozenset()))
        parts.append(
            "SELECT x.coll, x.id FROM unnest(?::text[]) j (v) JOIN winners x "
            "ON x.coll = 'assignments' AND substr(x.id, strpos(x.id, '~') + 1) = j.v"
        )
        parts.append(
            "SELECT x.coll, x.id FROM unnest(?::text[]) j (v) JOIN winners x "
            "ON x.coll = 'checks' AND x.id > j.v || '~' AND x.id < j.v || chr(127)"
        )
        parts.append(
            "SELECT x.coll, x.id FROM winners x WHERE x.coll = 'reports' "
            f"AND x.field = 'community' AND x.value = ? AND {short}"
        )
        args += [targets, i, quote(scope.community or "")]
    return " UNION ".join(parts), args


def page_sql(
    scope: Scope,
    cursor: int,
    node: str,
    since: int,
    limit: int,
    upto: int = _NO_END,
    start: int = 1,
) -> tuple[str, list[Any]]:
    """``scopes.page_sql``: the statement of a pull page, placeholders from ``$start``."""
    cols = "w.seq, w.coll, w.id, w.field, w.value, w.hlc"
    mine = "(substr(w.hlc, 31) <> ? OR w.seq <= ?)"
    if scope.unlimited:
        return (
            _number(
                f"SELECT {cols} FROM winners w WHERE w.seq > ? AND w.seq <= ? AND {mine} "
                "ORDER BY w.seq LIMIT ?",
                start,
            ),
            [cursor, upto, node, since, limit],
        )
    keys, args = _keys_sql(scope)
    colls = ", ".join(f"'{c}'" for c in _REFERENCE_COLLS)
    return (
        _number(
            f"WITH keys (coll, id) AS ({keys}) "
            f"SELECT {cols} FROM keys JOIN winners w ON w.coll = keys.coll "
            f"AND w.id = keys.id WHERE w.seq > ? AND w.seq <= ? AND {mine} "
            f"UNION ALL SELECT {cols} FROM winners w WHERE w.coll IN ({colls}) "
            f"AND w.seq > ? AND w.seq <= ? AND {mine} ORDER BY 1 LIMIT ?",
            start,
        ),
        [*args, cursor, upto, node, since, cursor, upto, node, since, limit],
    )


# --- pulls ----------------------------------------------------------------------------


async def page_in(
    conn: PgConn,
    scope: Scope,
    cursor: int,
    limit: int,
    node: str,
    since: int,
    upto: int | None = None,
) -> tuple[list[WinnerRow], int, bool]:
    """``scopes.page_in``. The page and the log's top come from one statement."""
    end = _NO_END if upto is None or upto < since else upto
    page, args = page_sql(scope, cursor, node, since, limit + 1, end)
    both = await conn.fetch(
        "SELECT p.*, t.top FROM (SELECT coalesce(max(seq), 0) AS top FROM history) AS t "
        f"LEFT JOIN ({page}) AS p ON true ORDER BY p.seq",
        *args,
    )
    top = int(both[0][6])
    rows, new_cursor, more = cut_page([tuple(r[:6]) for r in both if r[0] is not None], limit)
    return rows, max(cursor, top) if new_cursor is None else new_cursor, more


async def companions_in(
    conn: PgConn, scope: Scope, rows: Sequence[WinnerRow], cursor: int, exclude_node: str
) -> list[WinnerRow]:
    """``scopes.companions_in``: older winners of records made visible by this page."""
    keys = companion_keys(scope, rows, cursor)
    if not keys:
        return []
    out = await _rows(
        conn,
        "SELECT w.seq, w.coll, w.id, w.field, w.value, w.hlc "
        "FROM unnest(?::text[], ?::text[]) AS k (coll, id) "
        "JOIN winners w ON w.coll = k.coll AND w.id = k.id "
        "WHERE w.seq <= ? AND substr(w.hlc, 31) <> ? ORDER BY w.seq",
        ([c for c, _ in keys], [i for _, i in keys], cursor, exclude_node),
    )
    return out  # type: ignore[return-value]


async def write_facts_in(
    conn: PgConn,
    person: str,
    changes_: Sequence[tuple[str, str, str, Any]],
    scope: Scope | None = None,
) -> dict[tuple[str, str], Facts]:
    """``scopes.write_facts_in``."""
    facts = seed_facts(changes_)
    keyed = [(c, i, ANCHORS[c]) for c, i in facts if c in ANCHORS]
    if keyed:
        rows = await _rows(
            conn,
            "SELECT w.coll, w.id, w.value FROM unnest(?::text[], ?::text[], ?::text[]) "
            "AS k (coll, id, field) JOIN winners w "
            "ON w.coll = k.coll AND w.id = k.id AND w.field = k.field",
            ([k[0] for k in keyed], [k[1] for k in keyed], [k[2] for k in keyed]),
        )
        add_stored_anchors(facts, rows)
    owned = [(c, i) for c, i in facts if c in OWNED]
    if owned:
        rows = await _rows(
            conn,
            "SELECT DISTINCT h.coll, h.id FROM unnest(?::text[], ?::text[]) AS k (coll, id) "
            "JOIN history h ON h.coll = k.coll AND h.id = k.id "
            "WHERE h.person IS NULL OR h.person <> ?",
            ([k[0] for k in owned], [k[1] for k in owned], person),
        )
        mark_foreign(facts, rows)
    if scope is not None and scope.volunteer and any(c == "reports" for c, _ in facts):
        rows = await _rows(
            conn,
            "SELECT community FROM people WHERE id = ? UNION "
            "SELECT value::jsonb #>> '{}' FROM winners WHERE coll IN ('buildings', 'incidents') "
            "AND field = 'community' AND id IN (SELECT unnest(?::text[]))",
            (person, work_targets(scope)),
        )
        mark_communities(facts, rows)
    return facts


async def save_snapshot_in(conn: PgConn, node: str, scope: Scope, at: str, seq: int) -> None:
    """``scopes.save_snapshot_in``: the same JSON text in ``households``/``incidents``."""
    h, i = snapshot_texts(scope)
    await conn.execute(
        "INSERT INTO scope_snapshots (node, token, households, incidents, created_at, seq) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (node, token) DO UPDATE SET "
        "created_at = excluded.created_at, seq = excluded.seq",
        node,
        scope.token,
        h,
        i,
        at,
        seq,
    )


async def snapshot_seq_in(conn: PgConn, node: str, token: str) -> int:
    """``scopes.snapshot_seq_in``."""
    rows = await _rows(
        conn, "SELECT seq FROM scope_snapshots WHERE node = ? AND token = ?", (node, token)
    )
    return int(rows[0][0] or 0) if rows else 0


async def load_snapshot_in(
    conn: PgConn, node: str, token: str
) -> tuple[frozenset[str] | None, frozenset[str] | None] | None:
    """``scopes.load_snapshot_in``."""
    rows = await _rows(
        conn,
        "SELECT households, incidents FROM scope_snapshots WHERE node = ? AND token = ?",
        (node, token),
    )
    return snapshot_from(rows)


async def evictions_in(
    conn: PgConn,
    scope: Scope,
    old: Old,
    cursor: int,
) -> tuple[list[tuple[str, str]], bool]:
    """``scopes.evictions_in``: what a device must delete, and whether its scope grew."""
    if scope.unlimited:
        return [], False
    h_now, gone_h, gone_i, grown = scope_change(scope, old)
    out: list[tuple[str, str]] = []
    if old is not None:
        if gone_h is None:
            rows = await _rows(
                conn,
                "SELECT DISTINCT id FROM winners WHERE coll = 'households' "
                "AND id <> ALL (?::text[])",
                (_ids(h_now),),
            )
            gone_h = {r[0] for r in rows}
        if gone_h:
            out += [("households", x) for x in sorted(gone_h)]
            # Ordered as SQLite's UNION leaves them (its de-duplicating index).
            out += await _rows(
                conn,
                "SELECT coll, id FROM winners w WHERE coll IN ('visits', 'deliveries') "
                "AND field = 'household' AND value IN (SELECT unnest(?::text[])) "
                f"AND {_SHORT.format('w')} "
                "UNION SELECT coll, id FROM winners WHERE coll = 'household_status' "
                "AND substr(id, strpos(id, '~') + 1) IN (SELECT unnest(?::text[])) "
                "ORDER BY 1, 2",
                (_quoted(gone_h), _ids(gone_h)),
            )  # type: ignore[arg-type]
        if gone_i:
            # Ordered as SQLite reads them, along ``winners_ref``.
            out += await _rows(
                conn,
                "SELECT coll, id FROM winners w WHERE coll IN ('repairs', 'updates') "
                "AND field = 'incident' AND value IN (SELECT unnest(?::text[])) "
                f"AND {_SHORT.format('w')} ORDER BY coll, value, id",
                (_quoted(gone_i),),
            )  # type: ignore[arg-type]
            out += await _rows(
                conn,
                "SELECT coll, id FROM winners WHERE coll = 'reports' AND field = 'community' "
                "AND value IN (SELECT value FROM winners WHERE coll = 'incidents' "
                "AND field = 'community' AND id IN (SELECT unnest(?::text[]))) "
                "ORDER BY id",
                (_ids(gone_i),),
            )  # type: ignore[arg-type]
    if out:
        still = await visible_in(conn, scope, out)
        out = [k for k in out if k not in still]
    was_h, was_i = scope_union(scope, old)
    parts: list[tuple[str, str, list[str]]] = [
        ("visits", "household", _quoted(was_h)),
        ("deliveries", "household", _quoted(was_h)),
        ("repairs", "incident", _quoted(was_i)),
        ("updates", "incident", _quoted(was_i)),
    ]
    me = quote(scope.person if scope.volunteer else scope.community or "")
    if scope.volunteer:
        parts.append(("updates", "public", ["true"]))
        parts.append(("reports", "reporter", [me]))
    else:
        parts.append(("reports", "community", [me]))
    sql = " UNION ".join(
        "SELECT h.coll, h.id FROM unnest(?::text[]) j (v) JOIN history h "
        f"ON h.coll = '{c}' AND h.field = '{f}' AND h.value = j.v AND {_SHORT.format('h')} "
        f"AND h.seq <= ? JOIN winners w ON w.coll = h.coll AND w.id = h.id "
        f"AND w.field = '{f}' AND w.seq > ? AND w.value <> h.value"
        for c, f, _ in parts
    )
    left = await _rows(conn, sql, [a for *_, vals in parts for a in (vals, cursor, cursor)])
    if left:
        still = await visible_in(conn, scope, left)  # type: ignore[arg-type]
        moved = [k for k in left if k not in still]
    else:
        moved = []
    for coll, rid in sorted(moved):
        if (coll, rid) in out:
            continue
        if await _was_visible_in(conn, scope, coll, rid, cursor, old):
            out.append((coll, rid))
    return out, grown


async def visible_in(
    conn: PgConn, scope: Scope, keys: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    filt = pull_filter(scope, start=3)
    assert filt is not None
    where, args = filt
    rows = await conn.fetch(
        # The keys drive, each a primary-key lookup of its record.
        "SELECT DISTINCT winners.coll, winners.id FROM unnest($1::text[], $2::text[]) "
        "AS k (k_coll, k_id) JOIN winners ON winners.coll = k.k_coll "
        "AND winners.id = k.k_id "
        f"WHERE {where}",
        [k[0] for k in keys],
        [k[1] for k in keys],
        *args,
    )
    return {(c, i) for c, i in rows}


async def _was_visible_in(
    conn: PgConn,
    scope: Scope,
    coll: str,
    rid: str,
    cursor: int,
    old: Old,
) -> bool:
    """``scopes._was_visible_in``."""
    rows = await _rows(
        conn,
        "SELECT field, value FROM history WHERE coll = ? AND id = ? AND seq <= ? ORDER BY hlc",
        (coll, rid, cursor),
    )
    return was_visible(scope, coll, rid, rows, old)


async def authorise_in(
    conn: PgConn,
    scope: Scope,
    good: list[Incoming],
    sources: list[tuple[int, Any]],
) -> tuple[list[Incoming], list[tuple[int, Any, ForbiddenError]]]:
    """``scopes.authorise_in``: split valid changes into allowed and forbidden."""
    if needs_no_check(scope, good):
        return good, []
    decoded = decode_rows(good)
    facts = {} if scope.unlimited else await write_facts_in(conn, scope.person, decoded, scope)
    over = await _reports_over_in(conn, good) if scope.volunteer else frozenset()
    return authorise(scope, good, decoded, sources, facts, over)


async def _reports_over_in(conn: PgConn, good: list[Incoming]) -> frozenset[str]:
    """``scopes._reports_over_in``."""
    node, since, ids = report_window(good)
    if not ids:
        return frozenset()
    known = await _rows(
        conn,
        "SELECT DISTINCT id FROM winners WHERE coll = 'reports' AND id = ANY(?::text[])",
        (ids,),
    )
    [(sent,)] = await _rows(
        conn,
        "SELECT count(DISTINCT id) FROM history WHERE coll = 'reports' AND node = ? "
        "AND received_at >= ?",
        (node, since),
    )
    return reports_over(ids, (r[0] for r in known), int(sent))


async def pull_in(
    conn: PgConn,
    device: Device,
    cursor: int,
    limit: int,
    held: str | None,
    at: str,
    top: int | None = None,
    cache: dict[Any, Any] | None = None,
) -> tuple[list[WinnerRow], int, bool, list[tuple[str, str]], str]:
    """``scopes.pull_in``, inside a transaction that holds the log's ordering lock
    (exclusively after an append, ``shared_order_in`` otherwise): its statements see one
    state of the log."""
    scope = await scope_in(conn, device.person, device.role, cache)
    start, evict = cursor, []
    if not scope.unlimited:
        old = None
        if held is not None and held != scope.token:
            old = await load_snapshot_in(conn, device.node, held)
        evict, grown = await evictions_in(conn, scope, old, cursor)
        if restarts(held, scope, grown, old):
            start = 0
    fresh = cursor == 0 or (held != scope.token and not scope.unlimited)
    if fresh or held != scope.token:
        since = 0
        if fresh:
            since = top if top is not None else await changes.top_in(conn)
        snap = since

        async def save() -> None:
            await save_snapshot_in(conn, device.node, scope, at, snap)

        await changes.try_write(conn, save)
    else:
        since = await snapshot_seq_in(conn, device.node, scope.token)
    rows, new_cursor, more = await page_in(conn, scope, start, limit, device.node, since, top)
    rows = await companions_in(conn, scope, rows, start, device.node) + rows
    return rows, new_cursor, more, evict, scope.token
