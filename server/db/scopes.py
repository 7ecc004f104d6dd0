"""The SQL of access control: scopes, write facts, pull filters, evictions.

Values in ``winners`` and ``history`` are JSON text, so an id is compared in its quoted
form (``'"0190…"'``), which lets the ``winners_ref (coll, field, value)`` index answer
"every household of these buildings" without decoding rows.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec

from server.access import (
    ANCHORS,
    REPORTS_PER_HOUR,
    Facts,
    Grant,
    ReportLimitError,
    Scope,
    may_write,
    read_scope,
    scope_token,
)
from server.db import changes
from server.db.changes import Incoming, WinnerRow, cut_page
from server.db.devices import Device
from server.db.log import incident_scopes_in
from server.db.sqlite.engine import BaseDatabase, Database, Sql
from sync.validate import ForbiddenError

__all__ = [
    "authorise_in",
    "community_scope",
    "companions_in",
    "compute_scope",
    "evictions_in",
    "load_scope",
    "page_in",
    "page_sql",
    "people_filter",
    "pull",
    "pull_filter",
    "pull_in",
    "pull_page",
    "record_filter",
    "reference",
    "reference_in",
    "scope_in",
    "scope_stamp",
    "visible",
    "visible_rows",
    "write_facts_in",
]

_json = msgspec.json.Encoder()
_decode = msgspec.json.Decoder()

#: (collection, field) whose change can make a record visible or invisible by itself.
SELF_ANCHORS: frozenset[tuple[str, str]] = frozenset(
    {
        ("households", "building"),
        ("visits", "household"),
        ("deliveries", "household"),
        ("repairs", "incident"),
        ("updates", "incident"),
        ("updates", "public"),
        ("reports", "community"),
        ("reports", "reporter"),
    }
)

_REFERENCE = "('communities', 'buildings', 'incidents')"


def _pg() -> Any:
    """The PostgreSQL twins (``server/db/postgresql/scopes.py``), imported when first needed."""
    from server.db.postgresql import scopes as pg_scopes

    return pg_scopes


def _ids(values: Iterable[str] | None) -> str:
    return _json.encode(sorted(values or ())).decode()


def _value(text: str) -> Any:
    try:
        return _decode.decode(text)
    except msgspec.DecodeError:
        return None


# --- the pure parts, shared with the PostgreSQL twins (server/db/postgresql/scopes.py) --------

Old = tuple[frozenset[str] | None, frozenset[str] | None] | None


def cached_scope(cache: dict[Any, Any] | None, stamp: str | None, person: str, role: str) -> Any:
    """The scope cached for ``(person, role)`` under ``stamp``, or None."""
    if stamp is None or cache is None:
        return None
    hit = cache.get((person, role))
    return hit[1] if hit is not None and hit[0] == stamp else None


def remember_scope(
    cache: dict[Any, Any] | None, stamp: str | None, person: str, role: str, scope: Scope
) -> Scope:
    """Cache ``scope`` under ``stamp`` (a bounded cache: emptied when full)."""
    if stamp is not None and cache is not None:
        if len(cache) >= 20_000:
            cache.clear()
        cache[(person, role)] = (stamp, scope)
    return scope


def community_grant(person: str, community: str, bs: list[str], incs: list[str]) -> Grant:
    """A coordinator's grant over ``community``, its buildings and incidents."""
    return read_scope(
        person,
        "coordinator",
        community=community,
        community_buildings=bs,
        community_incidents=incs,
    )


def fold_assignments(rows: Iterable[Sequence[Any]]) -> dict[str, dict[str, Any]]:
    """(id, field, JSON value) rows of ``assignments`` → {id: {field: value}}."""
    assignments: dict[str, dict[str, Any]] = {}
    for rid, fld, value in rows:
        assignments.setdefault(rid, {})[fld] = _value(value)
    return assignments


def make_scope(person: str, grant: Grant, households: frozenset[str] | None) -> Scope:
    """The Scope of ``person`` from their grant, the households of its buildings and the
    households given to them one by one."""
    if households is not None and grant.households:
        households = households | grant.households
    return Scope(
        person=person,
        role=grant.role,
        buildings=grant.buildings,
        households=households,
        incidents=grant.incidents,
        community=grant.community,
        token=scope_token(grant.role, person, households, grant.incidents),
    )


def seed_facts(changes: Sequence[tuple[str, str, str, Any]]) -> dict[tuple[str, str], Facts]:
    """The facts a batch states itself: the anchors it writes, per record."""
    facts: dict[tuple[str, str], Facts] = {}
    for coll, rid, fld, value in changes:
        f = facts.setdefault((coll, rid), Facts())
        if ANCHORS.get(coll) == fld:
            f.anchors.add(_hashable(value))
    return facts


def add_stored_anchors(facts: dict[tuple[str, str], Facts], rows: Iterable[Sequence[Any]]) -> None:
    """Add the stored (coll, id, JSON value) anchors of existing records to ``facts``."""
    for coll, rid, value in rows:
        f = facts[(coll, rid)]
        f.anchors.add(_hashable(_value(value)))
        f.exists = True


def decode_rows(good: list[Incoming]) -> list[tuple[str, str, str, Any]]:
    """(coll, id, field, decoded value) of each row of a batch."""
    return [(row[1], row[2], row[3], _value(row[4])) for row in good]


def needs_no_check(scope: Scope, good: list[Incoming]) -> bool:
    """An unlimited scope writes anything but assignments unchecked."""
    return scope.unlimited and not any(row[1] == "assignments" for row in good)


def authorise(
    scope: Scope,
    good: list[Incoming],
    decoded: list[tuple[str, str, str, Any]],
    sources: list[tuple[int, Any]],
    facts: dict[tuple[str, str], Facts],
    over: frozenset[str] = frozenset(),
) -> tuple[list[Incoming], list[tuple[int, Any, ForbiddenError]]]:
    """Split ``good`` by ``may_write`` given what the server knows (``facts``); every
    change of a report in ``over`` (``reports_over``) is refused."""
    allowed: list[Incoming] = []
    denied: list[tuple[int, Any, ForbiddenError]] = []
    for row, (coll, rid, fld, value), (index, raw) in zip(good, decoded, sources, strict=True):
        try:
            if coll == "reports" and rid in over:
                raise ReportLimitError(
                    f"this phone sent {REPORTS_PER_HOUR} new field reports in the last hour, "
                    "the most one phone may; phone the coordinator, or report it later"
                )
            may_write(scope, coll, rid, fld, value, facts.get((coll, rid)) or Facts())
        except ForbiddenError as exc:
            denied.append((index, raw, exc))
            continue
        allowed.append(row)
    return allowed, denied


def report_window(good: Sequence[Incoming]) -> tuple[str, str, list[str]]:
    """(the batch's node, the start of the hour before its receipt, the ids of the
    reports it writes, in order of first appearance: none for a batch without)."""
    ids = list(dict.fromkeys(row[2] for row in good if row[1] == "reports"))
    if not ids:
        return "", "", []
    received = datetime.fromisoformat(good[0][7].replace("Z", "+00:00"))
    since = received - timedelta(hours=1)
    start = since.strftime("%Y-%m-%dT%H:%M:%S.") + f"{since.microsecond // 1000:03d}Z"
    return good[0][5], start, ids


def reports_over(ids: Sequence[str], known: Iterable[str], sent: int) -> frozenset[str]:
    """The new reports (``ids`` the server does not hold: not in ``known``) beyond what a
    device that sent ``sent`` new reports in the last hour may still send."""
    held = set(known)
    new = [rid for rid in ids if rid not in held]
    return frozenset(new[max(0, REPORTS_PER_HOUR - sent) :])


def scope_change(scope: Scope, old: Old) -> tuple[frozenset[str], set[str] | None, set[str], bool]:
    """What left the scope and whether it grew, against the ``old`` one the device holds.

    Returns:
        (households now, households gone — None when the old scope had every household:
        the caller asks the database —, incidents gone, grown)
    """
    h_now, i_now = scope.households or frozenset(), scope.incidents or frozenset()
    if old is None:
        return h_now, set(), set(), False
    h_old, i_old = old
    grown = False
    gone_h: set[str] | None = None
    if h_old is not None:
        gone_h = set(h_old - h_now)
        grown = bool(h_now - h_old)
    gone_i = set() if i_old is None else set(i_old - i_now)
    if i_old is not None:
        grown = grown or bool(i_now - i_old)
    return h_now, gone_h, gone_i, grown


def scope_union(scope: Scope, old: Old) -> tuple[frozenset[str], frozenset[str]]:
    """The households and incidents of the scope now and the ``old`` one together."""
    h = (scope.households or frozenset()) | ((old or (None, None))[0] or frozenset())
    i = (scope.incidents or frozenset()) | ((old or (None, None))[1] or frozenset())
    return h, i


def was_visible(
    scope: Scope, coll: str, rid: str, history: Iterable[Sequence[Any]], old: Old
) -> bool:
    """Whether a record was in the scope (now's or ``old``) by its anchors' values in
    ``history``: its (field, JSON value) rows up to the cursor, in hlc order."""
    h, i = scope_union(scope, old)
    then: dict[str, Any] = {}
    for fld, value in history:
        then[fld] = _value(value)
    if coll in ("visits", "deliveries"):
        return then.get("household") in h
    if coll == "households":
        return rid in h
    if coll == "repairs":
        return then.get("incident") in i
    if coll == "updates":
        return (scope.volunteer and then.get("public") is True) or then.get("incident") in i
    if coll == "reports":
        if scope.volunteer:
            return then.get("reporter") == scope.person
        return then.get("community") == scope.community
    return False


def snapshot_texts(scope: Scope) -> tuple[str | None, str | None]:
    """The JSON text a scope snapshot keeps: its sorted households and incidents."""
    h = None if scope.households is None else _json.encode(sorted(scope.households)).decode()
    i = None if scope.incidents is None else _json.encode(sorted(scope.incidents)).decode()
    return h, i


def snapshot_from(rows: Sequence[Sequence[Any]]) -> Old:
    """A scope snapshot's (households, incidents) from its row, or None without one."""
    if not rows:
        return None
    h, i = rows[0]
    return (
        None if h is None else frozenset(_decode.decode(h)),
        None if i is None else frozenset(_decode.decode(i)),
    )


#: Collections whose records a volunteer may change only if nobody else wrote to them.
OWNED = ("incidents", "reports")


def mark_foreign(facts: dict[tuple[str, str], Facts], rows: Iterable[Sequence[Any]]) -> None:
    """Records ((coll, id) rows) someone else wrote to are foreign to the writer."""
    for coll, rid in rows:
        facts[(coll, rid)].foreign = True


def work_targets(scope: Scope) -> list[str]:
    """The buildings and incidents whose ``community`` a volunteer works in."""
    return sorted((scope.buildings or frozenset()) | (scope.incidents or frozenset()))


def mark_communities(facts: dict[tuple[str, str], Facts], rows: Iterable[Sequence[Any]]) -> None:
    """Give the batch's reports the writer's communities (rows of one community each)."""
    mine = frozenset(c for (c,) in rows if isinstance(c, str))
    for (coll, _), f in facts.items():
        if coll == "reports":
            f.communities = mine


def check_reference(coll: str) -> None:
    """Raise ValueError unless ``coll`` is read whole by every scope."""
    if coll not in _REFERENCE_COLLS:
        raise ValueError(f"not a reference collection: {coll}")


def companion_keys(scope: Scope, rows: Sequence[WinnerRow], cursor: int) -> list[tuple[str, str]]:
    """The records this page made visible by a change of their own anchor (none for an
    unlimited scope or a pull from 0: it gets every field anyway)."""
    if scope.unlimited or cursor == 0:
        return []
    return sorted({(c, i) for _, c, i, f, _, _ in rows if (c, f) in SELF_ANCHORS})


def restarts(held: str | None, scope: Scope, grown: bool, old: Old) -> bool:
    """Whether a pull must start again from 0: records became visible whose older
    changes are behind the device's cursor."""
    return held is not None and held != scope.token and (grown or old is None)


def scope_stamp(conn: Sql) -> str | None:
    """The database's epoch and scope sequence (migration m006): a scope computed under
    one stamp is right until it changes. None if the database has no scope sequence."""
    (stamp,) = conn.execute(
        "SELECT (SELECT value FROM meta WHERE key = 'epoch') || ':' || "
        "(SELECT value FROM meta WHERE key = 'scope_seq')"
    ).fetchone()
    return stamp


def scope_in(conn: Sql, person: str, role: str, cache: dict[Any, Any] | None = None) -> Scope:
    """The scope of ``person`` in ``role``, inside the caller's transaction: from
    ``cache`` while the scope stamp has not moved, computed (and cached) otherwise."""
    stamp = scope_stamp(conn) if cache is not None else None
    hit = cached_scope(cache, stamp, person, role)
    if hit is not None:
        return hit
    return remember_scope(cache, stamp, person, role, compute_scope(conn, person, role))


def compute_scope(conn: Sql, person: str, role: str) -> Scope:
    """The read and write scope of a person in a role, from their community and
    assignments as they are in the caller's transaction."""
    if role == "coordinator":
        rows = _rows(conn, "SELECT community FROM people WHERE id = ?", (person,))
        community = rows[0][0] if rows else None
        if community is None:
            grant = read_scope(person, role)
        else:
            grant = community_grant(person, community, *_community_parts(conn, community))
    else:
        rows = _rows(
            conn,
            "SELECT id, field, value FROM winners WHERE coll = 'assignments' AND id > ? AND id < ?",
            (person + "~", person + "\x7f"),
        )
        # Set field: the list and its element fields, folded (sync/sets.py).
        grant = read_scope(
            person,
            role,
            assignments=fold_assignments(rows),
            incident_buildings=incident_scopes_in(conn),
        )
    households = None if grant.buildings is None else _households(conn, grant.buildings)
    return make_scope(person, grant, households)


def _rows(conn: Sql, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    return conn.execute(sql, args).fetchall()


def _community_parts(conn: Sql, community: str) -> tuple[list[str], list[str]]:
    quoted = _json.encode(community).decode()
    bs = _rows(
        conn,
        "SELECT id FROM winners WHERE coll = 'buildings' AND field = 'community' AND value = ?",
        (quoted,),
    )
    incs = _rows(
        conn,
        "SELECT id FROM winners WHERE coll = 'incidents' AND field = 'community' AND value = ?",
        (quoted,),
    )
    return [r[0] for r in bs], [r[0] for r in incs]


def _households(conn: Sql, buildings: Iterable[str]) -> frozenset[str]:
    rows = _rows(
        conn,
        "SELECT id FROM winners WHERE coll = 'households' AND field = 'building' "
        "AND value IN (SELECT json_quote(value) FROM json_each(?))",
        (_ids(buildings),),
    )
    return frozenset(r[0] for r in rows)


async def load_scope(db: BaseDatabase, device: Device) -> Scope:
    """The read and write scope of a device, from its person's role, community and
    assignments as they are now (one trip to the database thread; cached by the scope
    sequence)."""
    if db.dialect == "postgresql":
        return await _pg().load_scope(db, device)
    assert isinstance(db, Database)
    return await db.call(lambda conn: scope_in(conn, device.person, device.role, db.scope_cache))


def pull_filter(
    scope: Scope, *, dialect: str = "sqlite", start: int = 1
) -> tuple[str, list[Any]] | None:
    """A WHERE fragment over the ``winners`` table that keeps what ``scope`` may read.

    Args:
        dialect: ``db.dialect``; on "postgresql" the placeholders are ``$start, …``.
        start: the number of the fragment's first placeholder (PostgreSQL only).

    Returns:
        (sql, args), or None when the scope is unlimited.
    """
    if dialect == "postgresql":
        return _pg().pull_filter(scope, start)
    if scope.unlimited:
        return None
    h, i = _ids(scope.households), _ids(scope.incidents)
    in_h = "(SELECT value FROM json_each(?))"
    in_hq = "(SELECT json_quote(value) FROM json_each(?))"

    def anchor(fld: str) -> str:
        return (
            "(SELECT x.value FROM winners x WHERE x.coll = winners.coll "
            f"AND x.id = winners.id AND x.field = '{fld}')"
        )

    parts = [
        f"coll IN {_REFERENCE}",
        f"(coll = 'households' AND id IN {in_h})",
        f"(coll IN ('visits', 'deliveries') AND {anchor('household')} IN {in_hq})",
        f"(coll = 'household_status' AND substr(id, instr(id, '~') + 1) IN {in_h})",
        f"(coll = 'repairs' AND {anchor('incident')} IN {in_hq})",
    ]
    args: list[Any] = [h, h, h, i]
    if scope.volunteer:
        parts.append(
            f"(coll = 'updates' AND ({anchor('public')} = 'true' "
            f"OR {anchor('incident')} IN {in_hq}))"
        )
        parts.append("(coll = 'assignments' AND substr(id, 1, ?) = ?)")
        # Field reports (#22): a volunteer reads their own.
        parts.append(f"(coll = 'reports' AND {anchor('reporter')} = json_quote(?))")
        args += [i, len(scope.person) + 1, scope.person + "~", scope.person]
    else:
        parts.append(f"(coll = 'updates' AND {anchor('incident')} IN {in_hq})")
        parts.append(f"(coll = 'assignments' AND substr(id, instr(id, '~') + 1) IN {in_h})")
        # 需核实 resolutions (#11): coordinators of the incident only.
        parts.append(f"(coll = 'checks' AND substr(id, 1, instr(id, '~') - 1) IN {in_h})")
        # Field reports (#22): the coordinators of the report's community.
        parts.append(f"(coll = 'reports' AND {anchor('community')} = json_quote(?))")
        args += [
            i,
            _ids((scope.buildings or frozenset()) | (scope.incidents or frozenset())),
            i,
            scope.community or "",
        ]
    return "(" + " OR ".join(parts) + ")", args


def companions_in(
    conn: Sql, scope: Scope, rows: Sequence[WinnerRow], cursor: int, exclude_node: str
) -> list[WinnerRow]:
    """Older winners of records that became visible through a change in this page.

    A visit whose ``household`` arrives after its ``note`` (or an update made public
    later) becomes visible only at its anchor's sequence; the device, past the older
    fields' sequence, would never get them. They ride along with the anchor change.
    """
    keys = companion_keys(scope, rows, cursor)
    if not keys:
        return []
    out = _rows(
        conn,
        # The page's keys drive, each a primary-key lookup (``+w.seq``: not a scan of
        # ``winners_coll_seq`` up to the cursor for each).
        "SELECT w.seq, w.coll, w.id, w.field, w.value, w.hlc FROM json_each(?) j "
        "CROSS JOIN winners w ON w.coll = json_extract(j.value, '$[0]') "
        "AND w.id = json_extract(j.value, '$[1]') "
        "WHERE +w.seq <= ? AND substr(w.hlc, 31) != ? ORDER BY w.seq",
        (_json.encode(keys).decode(), cursor, exclude_node),
    )
    return [tuple(r) for r in out]  # type: ignore[misc]


def write_facts_in(
    conn: Sql,
    person: str,
    changes: Sequence[tuple[str, str, str, Any]],
    scope: Scope | None = None,
) -> dict[tuple[str, str], Facts]:
    """What the server knows about each record a batch writes to (see ``access.Facts``).

    Args:
        changes: (coll, id, field, decoded value) of each valid change of the batch.
        scope: the writer's scope; for a volunteer's reports, their communities are
            looked up from it.
    """
    facts = seed_facts(changes)
    keyed = [[c, i, ANCHORS[c]] for c, i in facts if c in ANCHORS]
    if keyed:
        rows = _rows(
            conn,
            "SELECT w.coll, w.id, w.value FROM json_each(?) j JOIN winners w "
            "ON w.coll = json_extract(j.value, '$[0]') AND w.id = json_extract(j.value, '$[1]') "
            "AND w.field = json_extract(j.value, '$[2]')",
            (_json.encode(keyed).decode(),),
        )
        add_stored_anchors(facts, rows)
    owned = [[c, i] for c, i in facts if c in OWNED]
    if owned:
        rows = _rows(
            conn,
            "SELECT DISTINCT h.coll, h.id FROM json_each(?) j CROSS JOIN history h "
            "ON h.coll = json_extract(j.value, '$[0]') AND h.id = json_extract(j.value, '$[1]') "
            "WHERE h.person IS NULL OR h.person != ?",
            (_json.encode(owned).decode(), person),
        )
        mark_foreign(facts, rows)
    if scope is not None and scope.volunteer and any(c == "reports" for c, _ in facts):
        rows = _rows(
            conn,
            "SELECT community FROM people WHERE id = ? UNION "
            "SELECT json_extract(value, '$') FROM winners WHERE coll IN ('buildings', 'incidents') "
            "AND field = 'community' AND id IN (SELECT value FROM json_each(?))",
            (person, _ids(work_targets(scope))),
        )
        mark_communities(facts, rows)
    return facts


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | None) else repr(value)


def save_snapshot_in(conn: Sql, node: str, scope: Scope, at: str, seq: int) -> None:
    """Remember what ``scope.token`` stood for, for this device's next sync, and the log's
    top ``seq`` when the device was given it (again: a scope can come back)."""
    h, i = snapshot_texts(scope)
    conn.execute(
        "INSERT INTO scope_snapshots (node, token, households, incidents, created_at, seq) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (node, token) DO UPDATE SET "
        "created_at = excluded.created_at, seq = excluded.seq",
        (node, scope.token, h, i, at, seq),
    )


def snapshot_seq_in(conn: Sql, node: str, token: str) -> int:
    """The log's top when the device was given the scope ``token`` (0 if unknown)."""
    rows = _rows(
        conn, "SELECT seq FROM scope_snapshots WHERE node = ? AND token = ?", (node, token)
    )
    return int(rows[0][0] or 0) if rows else 0


def load_snapshot_in(
    conn: Sql, node: str, token: str
) -> tuple[frozenset[str] | None, frozenset[str] | None] | None:
    rows = _rows(
        conn,
        "SELECT households, incidents FROM scope_snapshots WHERE node = ? AND token = ?",
        (node, token),
    )
    return snapshot_from(rows)


def evictions_in(
    conn: Sql,
    scope: Scope,
    old: Old,
    cursor: int,
) -> tuple[list[tuple[str, str]], bool]:
    """What a device must delete, and whether its scope grew, since it was last served.

    Args:
        old: the (households, incidents) of the scope the device holds, or None if
            unknown (then only changes since ``cursor`` are considered).
        cursor: the device's cursor.

    Returns:
        ([(coll, id) to delete], grown) — grown means records became visible whose
        older changes the device never received: pull again from 0.
    """
    if scope.unlimited:
        return [], False
    h_now, gone_h, gone_i, grown = scope_change(scope, old)
    out: list[tuple[str, str]] = []
    if old is not None:
        if gone_h is None:
            rows = _rows(
                conn,
                "SELECT DISTINCT id FROM winners WHERE coll = 'households' "
                "AND id NOT IN (SELECT value FROM json_each(?))",
                (_ids(h_now),),
            )
            gone_h = {r[0] for r in rows}
        if gone_h:
            out += [("households", x) for x in sorted(gone_h)]
            rows = _rows(
                conn,
                "SELECT coll, id FROM winners WHERE coll IN ('visits', 'deliveries') "
                "AND field = 'household' "
                "AND value IN (SELECT json_quote(value) FROM json_each(?)) "
                "UNION SELECT DISTINCT coll, id FROM winners WHERE coll = 'household_status' "
                "AND substr(id, instr(id, '~') + 1) IN (SELECT value FROM json_each(?))",
                (_ids(gone_h), _ids(gone_h)),
            )
            out += [tuple(r) for r in rows]  # type: ignore[misc]
        if gone_i:
            rows = _rows(
                conn,
                "SELECT coll, id FROM winners w WHERE coll IN ('repairs', 'updates') "
                "AND field = 'incident' "
                "AND value IN (SELECT json_quote(value) FROM json_each(?))",
                (_ids(gone_i),),
            )
            out += [tuple(r) for r in rows]  # type: ignore[misc]
            # A coordinator moved to another community: the reports of the old one.
            rows = _rows(
                conn,
                "SELECT coll, id FROM winners WHERE coll = 'reports' AND field = 'community' "
                "AND value IN (SELECT value FROM winners WHERE coll = 'incidents' "
                "AND field = 'community' AND id IN (SELECT value FROM json_each(?))) "
                "ORDER BY id",
                (_ids(gone_i),),
            )
            out += [tuple(r) for r in rows]  # type: ignore[misc]
    if out:
        # A public update of an incident no longer worked on is still readable: keep it.
        still = _visible_in(conn, scope, out)
        out = [k for k in out if k not in still]
    # Records that left the scope by a change of their own anchor since the cursor, and
    # were in it before: a visit moved to another household, an update made internal.
    # Driven by the scope, not the log: the anchor values the device's scopes held
    # (``history_anchor``, a partial index of anchor fields) give the records it may have
    # held; those whose anchor changed since the cursor to a value outside the scope are
    # left, and the few left are judged by the rules of pulls. (A household leaves only
    # with its building's scope: ``gone_h`` above.)
    was_h, was_i = scope_union(scope, old)
    quoted = msgspec.json.encode
    hq = _json.encode(sorted(quoted(x).decode() for x in was_h)).decode()
    iq = _json.encode(sorted(quoted(x).decode() for x in was_i)).decode()
    parts: list[tuple[str, str, str]] = [
        ("visits", "household", hq),
        ("deliveries", "household", hq),
        ("repairs", "incident", iq),
        ("updates", "incident", iq),
    ]
    me = quoted(scope.person if scope.volunteer else scope.community or "").decode()
    if scope.volunteer:
        parts.append(("updates", "public", '["true"]'))
        parts.append(("reports", "reporter", _json.encode([me]).decode()))
    else:
        parts.append(("reports", "community", _json.encode([me]).decode()))
    sql = " UNION ".join(
        f"SELECT h.coll, h.id FROM json_each(?) j CROSS JOIN history h "
        f"ON h.coll = '{c}' AND h.field = '{f}' AND h.value = j.value AND +h.seq <= ? "
        f"CROSS JOIN winners w ON w.coll = h.coll AND w.id = h.id AND w.field = '{f}' "
        "AND +w.seq > ? AND w.value != h.value"
        for c, f, _ in parts
    )
    left = _rows(conn, sql, [a for *_, vals in parts for a in (vals, cursor, cursor)])
    if left:
        still = _visible_in(conn, scope, left)
        rows = [k for k in left if k not in still]
    else:
        rows = []
    # Only what the device may have held: anchored before the cursor inside the scope.
    for coll, rid in sorted(rows):
        if (coll, rid) in out:
            continue
        if _was_visible_in(conn, scope, coll, rid, cursor, old):
            out.append((coll, rid))
    return out, grown


def _visible_in(conn: Sql, scope: Scope, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    filt = pull_filter(scope)
    assert filt is not None
    where, args = filt
    rows = _rows(
        conn,
        # The keys drive, each a primary-key lookup of its record.
        "SELECT DISTINCT winners.coll, winners.id FROM (SELECT json_extract(value, '$[0]') "
        "AS k_coll, json_extract(value, '$[1]') AS k_id FROM json_each(?)) AS k "
        f"CROSS JOIN winners ON winners.coll = k.k_coll AND winners.id = k.k_id WHERE {where}",
        (_json.encode([list(k) for k in keys]).decode(), *args),
    )
    return {(c, i) for c, i in rows}


def _was_visible_in(
    conn: Sql,
    scope: Scope,
    coll: str,
    rid: str,
    cursor: int,
    old: Old,
) -> bool:
    """Whether a record was in the scope as of ``cursor`` (by its anchors' values then)."""
    rows = _rows(
        conn,
        "SELECT field, value FROM history WHERE coll = ? AND id = ? AND seq <= ? ORDER BY hlc",
        (coll, rid, cursor),
    )
    return was_visible(scope, coll, rid, rows, old)


def authorise_in(
    conn: Sql,
    scope: Scope,
    good: list[Incoming],
    sources: list[tuple[int, msgspec.Raw]],
) -> tuple[list[Incoming], list[tuple[int, msgspec.Raw, ForbiddenError]]]:
    """Split a batch's valid changes into those the writer may make and those it may not.

    Args:
        good: the valid changes, as rows for ``changes.apply``.
        sources: (index in the request, raw change) of each row of ``good``.

    Returns:
        (allowed rows, [(index, raw, error) of each forbidden change]).
    """
    if needs_no_check(scope, good):
        return good, []
    decoded = decode_rows(good)
    facts = {} if scope.unlimited else write_facts_in(conn, scope.person, decoded, scope)
    over = _reports_over_in(conn, good) if scope.volunteer else frozenset()
    return authorise(scope, good, decoded, sources, facts, over)  # type: ignore[return-value]


def _reports_over_in(conn: Sql, good: list[Incoming]) -> frozenset[str]:
    """The batch's new reports beyond the device's hourly allowance (``reports_over``)."""
    node, since, ids = report_window(good)
    if not ids:
        return frozenset()
    known = _rows(
        conn,
        "SELECT DISTINCT id FROM winners WHERE coll = 'reports' "
        "AND id IN (SELECT value FROM json_each(?))",
        (_json.encode(ids).decode(),),
    )
    [(sent,)] = _rows(
        conn,
        "SELECT count(DISTINCT id) FROM history WHERE coll = 'reports' AND node = ? "
        "AND received_at >= ?",
        (node, since),
    )
    return reports_over(ids, (r[0] for r in known), int(sent))


def reference_in(
    conn: Sql, device: Device, coll: str, cache: dict[Any, Any] | None = None
) -> tuple[list[WinnerRow], str]:
    """Every winner of one reference collection (every scope reads them whole), in
    sequence order, and the device's scope token: no scope filter, no log scan."""
    check_reference(coll)
    scope = scope_in(conn, device.person, device.role, cache)
    rows = _rows(
        conn,
        "SELECT seq, coll, id, field, value, hlc FROM winners WHERE coll = ? ORDER BY seq",
        (coll,),
    )
    return rows, scope.token


async def reference(db: BaseDatabase, device: Device, coll: str) -> tuple[list[WinnerRow], str]:
    """``reference_in`` on the reader connection: it never waits for the writer (the
    dashboard asks for the incidents alone beside its snapshot, which the writer makes)."""
    if db.dialect == "postgresql":
        return await _pg().reference(db, device, coll)
    assert isinstance(db, Database)
    cache = db.scope_cache
    return await db.call(lambda conn: reference_in(conn, device, coll, cache))


async def pull(
    db: BaseDatabase, device: Device, cursor: int, limit: int, held: str | None, at: str
) -> tuple[list[WinnerRow], int, bool, list[tuple[str, str]], str]:
    """``pull_in`` in one trip to the writer's thread (it may save the scope snapshot):
    a pull with no push, as the dashboard's snapshot (``server.http.snapshot``) makes."""
    if db.dialect == "postgresql":
        return await _pg().pull(db, device, cursor, limit, held, at)
    assert isinstance(db, Database)
    cache = db.scope_cache
    return await db.write_call(
        lambda conn: pull_in(conn, device, cursor, limit, held, at, cache=cache)
    )


async def pull_page(
    db: BaseDatabase, device: Device, cursor: int, limit: int, held: str, at: str
) -> tuple[list[WinnerRow], int, bool, list[tuple[str, str]], str]:
    """A further page of a pull under way (``held``: the token its first page answered,
    ``cursor`` > 0). Such a page writes nothing, so on SQLite it is read on the reader
    connection: a long pull (the dashboard's snapshot) never holds the writer, and the
    syncs waiting for it, for more than its first page. If the scope moved meanwhile,
    ``pull`` (the writer) answers, as for a phone. On PostgreSQL ``pull``: its shared
    ordering lock is what keeps a page from passing an append still committing."""
    if db.dialect == "postgresql" or cursor == 0:
        return await pull(db, device, cursor, limit, held, at)
    assert isinstance(db, Database)
    cache = db.scope_cache

    def run(conn: Sql) -> tuple[list[WinnerRow], int, bool, list[tuple[str, str]], str] | None:
        if scope_in(conn, device.person, device.role, cache).token != held:
            return None
        return pull_in(conn, device, cursor, limit, held, at, cache=cache)

    page = await db.call(run)
    return page if page is not None else await pull(db, device, cursor, limit, held, at)


def pull_in(
    conn: Sql,
    device: Device,
    cursor: int,
    limit: int,
    held: str | None,
    at: str,
    top: int | None = None,
    cache: dict[Any, Any] | None = None,
) -> tuple[list[WinnerRow], int, bool, list[tuple[str, str]], str]:
    """A page of what the device may read, and what it must delete (docs/protocol.md).

    Args:
        held: the scope token the device holds (None: a device that never got one).
        top: the log's top before this request's own writes (default: now).

    Returns:
        (rows, new cursor, more, [(coll, id) to delete], the scope token now)
    """
    scope = scope_in(conn, device.person, device.role, cache)
    start, evict = cursor, []
    if not scope.unlimited:
        old = None
        if held is not None and held != scope.token:
            old = load_snapshot_in(conn, device.node, held)
        evict, grown = evictions_in(conn, scope, old, cursor)
        if restarts(held, scope, grown, old):
            start = 0
    # The device's own winners are left out of its pulls (it wrote them) — except those
    # up to the moment it was given this scope or pulled from cursor 0: a scope that
    # shrank and grew back evicted them from the device (issue 9), and a device that
    # lost its storage but kept its token starts again from 0 (issue 22); both re-pulls
    # must bring them back, on every page of the re-pull.
    # (An unlimited scope never shrinks: only a pull from 0 brings them back.)
    fresh = cursor == 0 or (held != scope.token and not scope.unlimited)
    if fresh or held != scope.token:
        since = (top if top is not None else changes.top_in(conn)) if fresh else 0
        # Pulls keep working on a full disk: the snapshot is only not remembered.
        changes.try_write(conn, lambda: save_snapshot_in(conn, device.node, scope, at, since))
    else:
        since = snapshot_seq_in(conn, device.node, scope.token)
    rows, new_cursor, more = page_in(conn, scope, start, limit, device.node, since, top)
    rows = companions_in(conn, scope, rows, start, device.node) + rows
    return rows, new_cursor, more, evict, scope.token


#: No upper bound on a page's sequences (SQLite integers end here).
_NO_END = 2**63 - 1

#: Collections every scope reads whole: reference data.
_REFERENCE_COLLS = ("communities", "buildings", "incidents")


def _keys_sql(scope: Scope) -> tuple[str, list[Any]]:
    """The records a limited scope may read, as index lookups from its households and
    incidents (the same rules as ``pull_filter``, driven by the scope, not the log).
    ``CROSS JOIN`` keeps the scope's short list as the outer loop."""
    h, i = _ids(scope.households), _ids(scope.incidents)
    parts = [
        "SELECT 'households', value FROM json_each(?)",
        "SELECT x.coll, x.id FROM json_each(?) j CROSS JOIN winners x ON x.coll = 'visits' "
        "AND x.field = 'household' AND x.value = json_quote(j.value)",
        "SELECT x.coll, x.id FROM json_each(?) j CROSS JOIN winners x ON x.coll = 'deliveries' "
        "AND x.field = 'household' AND x.value = json_quote(j.value)",
        "SELECT x.coll, x.id FROM json_each(?) j CROSS JOIN winners x "
        "ON x.coll = 'household_status' AND substr(x.id, instr(x.id, '~') + 1) = j.value",
        "SELECT x.coll, x.id FROM json_each(?) j CROSS JOIN winners x ON x.coll = 'repairs' "
        "AND x.field = 'incident' AND x.value = json_quote(j.value)",
        "SELECT x.coll, x.id FROM json_each(?) j CROSS JOIN winners x ON x.coll = 'updates' "
        "AND x.field = 'incident' AND x.value = json_quote(j.value)",
    ]
    args: list[Any] = [h, h, h, h, i, i]
    if scope.volunteer:
        parts.append(
            "SELECT x.coll, x.id FROM winners x WHERE x.coll = 'updates' "
            "AND x.field = 'public' AND x.value = 'true'"
        )
        parts.append(
            "SELECT x.coll, x.id FROM winners x WHERE x.coll = 'assignments' "
            "AND x.id > ? AND x.id < ?"
        )
        parts.append(
            "SELECT x.coll, x.id FROM winners x WHERE x.coll = 'reports' "
            "AND x.field = 'reporter' AND x.value = json_quote(?)"
        )
        args += [scope.person + "~", scope.person + "\x7f", scope.person]
    else:
        targets = _ids((scope.buildings or frozenset()) | (scope.incidents or frozenset()))
        parts.append(
            "SELECT x.coll, x.id FROM json_each(?) j CROSS JOIN winners x "
            "ON x.coll = 'assignments' AND substr(x.id, instr(x.id, '~') + 1) = j.value"
        )
        # 需核实 resolutions (#11): ids ``<incident>~…``, coordinators of the incident only.
        parts.append(
            "SELECT x.coll, x.id FROM json_each(?) j CROSS JOIN winners x ON x.coll = 'checks' "
            "AND x.id > j.value || '~' AND x.id < j.value || char(127)"
        )
        parts.append(
            "SELECT x.coll, x.id FROM winners x WHERE x.coll = 'reports' "
            "AND x.field = 'community' AND x.value = json_quote(?)"
        )
        args += [targets, i, scope.community or ""]
    return " UNION ".join(parts), args


def page_sql(
    scope: Scope,
    cursor: int,
    node: str,
    since: int,
    limit: int,
    upto: int = _NO_END,
    *,
    dialect: str = "sqlite",
    start: int = 1,
) -> tuple[str, list[Any]]:
    """The statement of a pull page and its arguments: index range scans for a limited
    scope — its records by their anchors, reference data by ``winners_coll_seq`` — or
    ``winners_seq`` from the cursor for an unlimited one (docs/performance.md shows the
    plans). The device's own winners after ``since`` are left out, and so is everything
    after ``upto``. On PostgreSQL (``dialect``) placeholders are numbered from ``start``."""
    if dialect == "postgresql":
        return _pg().page_sql(scope, cursor, node, since, limit, upto, start)
    cols = "w.seq, w.coll, w.id, w.field, w.value, w.hlc"
    mine = "(substr(w.hlc, 31) != ? OR w.seq <= ?)"
    if scope.unlimited:
        return (
            f"SELECT {cols} FROM winners w WHERE w.seq > ? AND w.seq <= ? AND {mine} "
            "ORDER BY w.seq LIMIT ?",
            [cursor, upto, node, since, limit],
        )
    keys, args = _keys_sql(scope)
    colls = ", ".join(f"'{c}'" for c in _REFERENCE_COLLS)
    return (
        f"WITH keys (coll, id) AS ({keys}) "
        # CROSS JOIN: the scope's keys drive, each a primary-key lookup (``+w.seq``: not
        # a scan of ``winners_coll_seq`` per key).
        f"SELECT {cols} FROM keys CROSS JOIN winners w ON w.coll = keys.coll "
        f"AND w.id = keys.id WHERE +w.seq > ? AND +w.seq <= ? AND {mine} "
        f"UNION ALL SELECT {cols} FROM winners w WHERE w.coll IN ({colls}) "
        f"AND w.seq > ? AND w.seq <= ? AND {mine} ORDER BY 1 LIMIT ?",
        [*args, cursor, upto, node, since, cursor, upto, node, since, limit],
    )


def page_in(
    conn: Sql,
    scope: Scope,
    cursor: int,
    limit: int,
    node: str,
    since: int,
    upto: int | None = None,
) -> tuple[list[WinnerRow], int, bool]:
    """A page of the winners ``scope`` may read changed after ``cursor``, in sequence
    order, without the device's own (``node``'s after ``since``: it has them).

    Args:
        upto: the log's top before this request's own writes, if it wrote: every winner
            after it is the device's own, left out by ``since`` anyway; the bound spares
            the page a walk over the batch it just wrote.

    Returns:
        (rows, new cursor, more pages waiting)
    """
    end = _NO_END if upto is None or upto < since else upto
    page = _rows(conn, *page_sql(scope, cursor, node, since, limit + 1, end))
    rows, new_cursor, more = cut_page(page, limit)
    if new_cursor is None:
        # Same transaction as the page: the cursor never passes a change it left out.
        new_cursor = max(cursor, changes.top_in(conn))
    return rows, new_cursor, more


async def community_scope(db: BaseDatabase, community: str) -> Scope:
    """The read scope every coordinator of ``community`` shares (for their live stream)."""
    if db.dialect == "postgresql":
        return await _pg().community_scope(db, community)
    assert isinstance(db, Database)

    def run(conn: Sql) -> Scope:
        grant = community_grant("", community, *_community_parts(conn, community))
        return make_scope("", grant, _households(conn, grant.buildings or ()))

    return await db.call(run)


async def visible_rows(db: BaseDatabase, scope: Scope, rows: Sequence[Any]) -> list[Any]:
    """The change-log rows ``(seq, coll, id, ...)`` whose record ``scope`` may read now, by
    the same rules as pulls (``pull_filter``): one query for the whole batch."""
    if scope.unlimited or not rows:
        return list(rows)
    keys = sorted({(r[1], r[2]) for r in rows})
    keep = await _visible(db, scope, keys)
    return [r for r in rows if (r[1], r[2]) in keep]


async def visible(db: BaseDatabase, scope: Scope, coll: str, rid: str) -> bool:
    """Whether ``scope`` may read the record now (the rules of pulls)."""
    if scope.unlimited:
        return True
    return (coll, rid) in await _visible(db, scope, [(coll, rid)])


async def _visible(
    db: BaseDatabase, scope: Scope, keys: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    """``_visible_in`` in one read (the reader connection, or a read-only snapshot)."""
    if db.dialect == "postgresql":
        pg_visible_in = _pg().visible_in
        return await db.read_fn(lambda conn: pg_visible_in(conn, scope, keys))
    assert isinstance(db, Database)
    return await db.call(lambda conn: _visible_in(conn, scope, keys))


def people_filter(
    scope: Scope, column: str, *, dialect: str = "sqlite", start: int = 1
) -> tuple[str, list[Any]]:
    """A WHERE fragment keeping rows whose ``column`` names a person of the scope's
    community: its own people (``people.community``), the volunteers assigned to one of
    its buildings or incidents, and the unattached volunteers (no community, no active
    assignment: the pool every coordinator assigns from). Everyone for an unlimited scope.
    A coordinator assigned to a building is never someone else's person: a new invite
    for them is a setup link, and its login would be theirs (found by attack, #22).

    On PostgreSQL (``dialect``) placeholders are numbered from ``start`` and "everyone"
    is ``true``.
    """
    if dialect == "postgresql":
        return _pg().people_filter(scope, column, start)
    if scope.unlimited:
        return "1", []
    targets = _ids((scope.buildings or frozenset()) | (scope.incidents or frozenset()))
    active = (
        "SELECT substr(a.id, 1, instr(a.id, '~') - 1) FROM winners a "
        "WHERE a.coll = 'assignments' AND a.field = 'active' AND a.value = 'true'"
    )
    return (
        f"({column} IN (SELECT p.id FROM people p WHERE p.community = ?) "
        f"OR ({column} IN ({active} "
        "AND substr(a.id, instr(a.id, '~') + 1) IN (SELECT value FROM json_each(?))) "
        f"AND {column} IN (SELECT p.id FROM people p WHERE p.role = 'volunteer')) "
        f"OR {column} IN (SELECT p.id FROM people p WHERE p.community IS NULL "
        f"AND p.role = 'volunteer' AND p.id NOT IN ({active})))",
        [scope.community or "", targets],
    )


def record_filter(
    scope: Scope, coll: str, rid: str, *, dialect: str = "sqlite", start: int = 1
) -> tuple[str, list[Any]]:
    """A WHERE fragment keeping rows whose record ``(coll, rid)`` columns ``scope`` may read.
    On PostgreSQL (``dialect``) placeholders are numbered from ``start``."""
    if dialect == "postgresql":
        return _pg().record_filter(scope, coll, rid, start)
    filt = pull_filter(scope)
    if filt is None:
        return "1", []
    where, args = filt
    return (
        f"EXISTS (SELECT 1 FROM winners WHERE winners.coll = {coll} "
        f"AND winners.id = {rid} AND {where})",
        list(args),
    )
