"""The SQL of access control: scopes, write facts, pull filters, evictions — written once
for both engines.

Every ``*_in`` function is a blocking function of a ``server.db.dialect.Conn`` inside the
caller's transaction (``db.read_tx`` / ``db.write_tx``), in SQLite's spelling; where the
engines' SQL differs (a JSON list as a table, the part of an id after ``~``, the partial
value indexes) it asks ``conn.dialect``. The rules themselves are not written here: every
filter below is made from ``server.access.VISIBILITY``, the one table of how each
collection reaches a scope.

Values in ``winners`` and ``history`` are JSON text, so an id is compared in its quoted
form (``'"0190…"'``, quoted here by msgspec, byte for byte what is stored), which lets the
``winners_ref (coll, field, value)`` index answer "every household of these buildings"
without decoding rows.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import msgspec

from server import access
from server.access import (
    HEAD,
    ID,
    REPORTS_PER_HOUR,
    TAIL,
    Facts,
    Grant,
    Reach,
    ReportLimitError,
    Scope,
    may_write,
    read_scope,
    scope_token,
)
from server.db import changes
from server.db.changes import Incoming, WinnerRow, cut_page
from server.db.devices import Device
from server.db.dialect import Conn, Dialect
from server.db.interface import BaseDatabase
from server.db.log import incident_scopes_in
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

Sql = Conn
#: A pull page: (rows, new cursor, more, [(coll, id) to delete], the scope token now).
Page = tuple[list[WinnerRow], int, bool, list[tuple[str, str]], str]


def _ids(values: Iterable[Any] | None) -> str:
    """A JSON list of ``values`` as they are (ids), for ``dialect.each``."""
    return _json.encode(sorted(values or ())).decode()


def _quoted(values: Iterable[Any] | None) -> str:
    """A JSON list of ``values`` each as JSON text, as ``winners.value`` holds them."""
    return _json.encode(sorted(_json.encode(v).decode() for v in values or ())).decode()


def _value(text: str) -> Any:
    try:
        return _decode.decode(text)
    except msgspec.DecodeError:
        return None


_NAME = re.compile(r"[a-z_]+\Z")


def _name(text: str) -> str:
    """A collection or field name of ``VISIBILITY``, safe to write into SQL."""
    if not _NAME.match(text):
        raise ValueError(f"not a collection or field name: {text!r}")
    return text


def _key_sql(d: Dialect, reach: Reach, table: str) -> str:
    """The SQL of a record's key in ``table`` (a ``winners`` row): its id, a part of it, or
    its anchor field's JSON value (a lookup of the record's other row)."""
    if reach.key == ID:
        return f"{table}.id"
    if reach.key == TAIL:
        return d.after(f"{table}.id")
    if reach.key == HEAD:
        return d.before(f"{table}.id")
    return (
        f"(SELECT x.value FROM winners x WHERE x.coll = {table}.coll "
        f"AND x.id = {table}.id AND x.field = '{_name(reach.key)}')"
    )


def _keys_arg(scope: Scope, reach: Reach, keys: Iterable[Any] | None = None) -> str:
    """The JSON list of the keys ``reach`` accepts in ``scope`` (quoted for a field)."""
    keys = access.scope_keys(scope, reach.within) if keys is None else keys
    return _quoted(keys) if reach.by_field else _ids(keys)


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
    anchors = access.anchors()
    for coll, rid, fld, value in changes:
        f = facts.setdefault((coll, rid), Facts())
        if anchors.get(coll) == fld:
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
    return access.readable(replace(scope, households=h, incidents=i), coll, rid, then)


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
    if coll not in access.reference_collections():
        raise ValueError(f"not a reference collection: {coll}")


def companion_keys(scope: Scope, rows: Sequence[WinnerRow], cursor: int) -> list[tuple[str, str]]:
    """The records this page made visible by a change of their own anchor (none for an
    unlimited scope or a pull from 0: it gets every field anyway)."""
    if scope.unlimited or cursor == 0:
        return []
    anchors = access.self_anchors()
    return sorted({(c, i) for _, c, i, f, _, _ in rows if (c, f) in anchors})


def restarts(held: str | None, scope: Scope, grown: bool, old: Old) -> bool:
    """Whether a pull must start again from 0: records became visible whose older
    changes are behind the device's cursor."""
    return held is not None and held != scope.token and (grown or old is None)


# --- scopes ---------------------------------------------------------------------------


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
            incident_buildings=incident_scopes_in(conn),  # type: ignore[arg-type]
        )
    households = None if grant.buildings is None else _households(conn, grant.buildings)
    return make_scope(person, grant, households)


def _rows(conn: Sql, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(sql, args).fetchall()]


def _community_parts(conn: Sql, community: str) -> tuple[list[str], list[str]]:
    quoted = _json.encode(community).decode()
    out = []
    for coll in ("buildings", "incidents"):
        rows = _rows(
            conn,
            f"SELECT id FROM winners w WHERE coll = '{coll}' AND field = 'community' "
            f"AND value = ? AND {conn.dialect.short_value('w')}",
            (quoted,),
        )
        out.append([r[0] for r in rows])
    return out[0], out[1]


def _households(conn: Sql, buildings: Iterable[str]) -> frozenset[str]:
    d = conn.dialect
    rows = _rows(
        conn,
        "SELECT id FROM winners w WHERE coll = 'households' AND field = 'building' "
        f"AND value IN (SELECT value FROM {d.each()}) AND {d.short_value('w')}",
        (_quoted(buildings),),
    )
    return frozenset(r[0] for r in rows)


async def load_scope(db: BaseDatabase, device: Device) -> Scope:
    """The read and write scope of a device, from its person's role, community and
    assignments as they are now (one read transaction; cached by the scope sequence)."""
    cache = db.scope_cache
    return await db.read_tx(lambda conn: scope_in(conn, device.person, device.role, cache))


async def community_scope(db: BaseDatabase, community: str) -> Scope:
    """The read scope every coordinator of ``community`` shares (for their live stream)."""

    def run(conn: Sql) -> Scope:
        grant = community_grant("", community, *_community_parts(conn, community))
        return make_scope("", grant, _households(conn, grant.buildings or ()))

    return await db.read_tx(run)


# --- SQL fragments, made from ``access.VISIBILITY`` ------------------------------------


def pull_filter(scope: Scope, dialect: Dialect) -> tuple[str, list[Any]] | None:
    """A WHERE fragment over the ``winners`` table that keeps what ``scope`` may read:
    reference data, and each way of ``access.VISIBILITY`` open to the scope's role.

    Args:
        dialect: the engine's (``conn.dialect`` or ``db.sql``); ``?`` placeholders.

    Returns:
        (sql, args), or None when the scope is unlimited.
    """
    if scope.unlimited:
        return None
    d = dialect
    refs = ", ".join(f"'{_name(c)}'" for c in access.reference_collections())
    parts = [f"winners.coll IN ({refs})"]
    args: list[Any] = []
    for coll, reach in access.reaches(scope.role):
        parts.append(
            f"(winners.coll = '{_name(coll)}' AND {_key_sql(d, reach, 'winners')} "
            f"IN (SELECT value FROM {d.each()}))"
        )
        args.append(_keys_arg(scope, reach))
    return "(" + " OR ".join(parts) + ")", args


def people_filter(scope: Scope, column: str, dialect: Dialect) -> tuple[str, list[Any]]:
    """A WHERE fragment keeping rows whose ``column`` names a person of the scope's
    community: its own people (``people.community``), the volunteers assigned to one of
    its buildings or incidents, and the unattached volunteers (no community, no active
    assignment: the pool every coordinator assigns from). Everyone for an unlimited scope.
    A coordinator assigned to a building is never someone else's person: a new invite
    for them is a setup link, and its login would be theirs (found by attack, #22).

    ``dialect`` as for ``pull_filter``.
    """
    if scope.unlimited:
        return "1 = 1", []
    d = dialect
    active = (
        f"SELECT {d.before('a.id')} FROM winners a "
        "WHERE a.coll = 'assignments' AND a.field = 'active' AND a.value = 'true'"
    )
    sql = (
        f"({column} IN (SELECT p.id FROM people p WHERE p.community = ?) "
        f"OR ({column} IN ({active} "
        f"AND {d.after('a.id')} IN (SELECT value FROM {d.each()})) "
        f"AND {column} IN (SELECT p.id FROM people p WHERE p.role = 'volunteer')) "
        f"OR {column} IN (SELECT p.id FROM people p WHERE p.community IS NULL "
        f"AND p.role = 'volunteer' AND p.id NOT IN ({active})))"
    )
    targets = _ids(access.scope_keys(scope, "targets"))
    return sql, [scope.community or "", targets]


def record_filter(scope: Scope, coll: str, rid: str, dialect: Dialect) -> tuple[str, list[Any]]:
    """A WHERE fragment keeping rows whose record ``(coll, rid)`` columns ``scope`` may read.
    ``dialect`` as for ``pull_filter``."""
    filt = pull_filter(scope, dialect)
    if filt is None:
        return "1 = 1", []
    where, args = filt
    sql = (
        f"EXISTS (SELECT 1 FROM winners WHERE winners.coll = {coll} "
        f"AND winners.id = {rid} AND {where})"
    )
    return sql, list(args)


#: No upper bound on a page's sequences (SQLite integers end here).
_NO_END = 2**63 - 1


def _keys_sql(d: Dialect, scope: Scope) -> tuple[str, list[Any]]:
    """The records a limited scope may read, as index lookups from its keys (the ways of
    ``access.VISIBILITY``, as ``pull_filter``, driven by the scope, not the log).
    ``CROSS JOIN`` keeps the scope's short lists as the outer loop."""
    keys = f"(SELECT value AS v FROM {d.each()}) j CROSS JOIN winners x WHERE x.coll"
    parts: list[str] = []
    args: list[Any] = []
    for coll, reach in access.reaches(scope.role):
        c = _name(coll)
        args.append(_keys_arg(scope, reach))
        if reach.key == ID:
            parts.append(f"SELECT '{c}', j.v FROM (SELECT value AS v FROM {d.each()}) j")
        elif reach.key == TAIL:
            parts.append(f"SELECT x.coll, x.id FROM {keys} = '{c}' AND {d.after('x.id')} = j.v")
        elif reach.key == HEAD:
            # A range of the primary key: the ids ``<key>~…``.
            parts.append(
                f"SELECT x.coll, x.id FROM {keys} = '{c}' AND x.id > j.v || '~' AND x.id < j.v || ?"
            )
            args.append("\x7f")
        else:
            parts.append(
                f"SELECT x.coll, x.id FROM {keys} = '{c}' AND x.field = '{_name(reach.key)}' "
                f"AND x.value = j.v AND {d.short_value('x')}"
            )
    return " UNION ".join(parts), args


def page_sql(
    scope: Scope,
    cursor: int,
    node: str,
    since: int,
    limit: int,
    upto: int = _NO_END,
    *,
    dialect: Dialect,
) -> tuple[str, list[Any]]:
    """The statement of a pull page and its arguments: index range scans for a limited
    scope — its records by their keys, reference data by ``winners_coll_seq`` — or
    ``winners_seq`` from the cursor for an unlimited one (docs/performance.md shows the
    plans). The device's own winners after ``since`` are left out, and so is everything
    after ``upto``. ``dialect`` as for ``pull_filter``."""
    d = dialect
    cols = "w.seq, w.coll, w.id, w.field, w.value, w.hlc"
    mine = "(substr(w.hlc, 31) != ? OR w.seq <= ?)"
    if scope.unlimited:
        sql = (
            f"SELECT {cols} FROM winners w WHERE w.seq > ? AND w.seq <= ? AND {mine} "
            "ORDER BY w.seq LIMIT ?"
        )
        return sql, [cursor, upto, node, since, limit]
    keys, args = _keys_sql(d, scope)
    colls = ", ".join(f"'{_name(c)}'" for c in access.reference_collections())
    sql = (
        f"WITH keys (coll, id) AS ({keys}) "
        # CROSS JOIN: the scope's keys drive, each a primary-key lookup (``+w.seq``: not
        # a scan of ``winners_coll_seq`` per key).
        f"SELECT {cols} FROM keys CROSS JOIN winners w WHERE w.coll = keys.coll "
        f"AND w.id = keys.id AND +w.seq > ? AND +w.seq <= ? AND {mine} "
        f"UNION ALL SELECT {cols} FROM winners w WHERE w.coll IN ({colls}) "
        f"AND w.seq > ? AND w.seq <= ? AND {mine} ORDER BY 1 LIMIT ?"
    )
    return sql, [
        *args,
        *(cursor, upto, node, since, cursor, upto, node, since, limit),
    ]


# --- pulls ----------------------------------------------------------------------------


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
    sql, args = page_sql(scope, cursor, node, since, limit + 1, end, dialect=conn.dialect)
    rows, new_cursor, more = cut_page(_rows(conn, sql, args), limit)
    if new_cursor is None:
        # Same transaction as the page, which sees one state of the log (SQLite's one
        # transaction; PostgreSQL's ordering lock, held by every pull): the cursor never
        # passes a change it left out.
        new_cursor = max(cursor, changes.top_in(conn))  # type: ignore[arg-type]
    return rows, new_cursor, more


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
        "SELECT w.seq, w.coll, w.id, w.field, w.value, w.hlc "
        f"FROM {conn.dialect.tuples('?', 'k_coll', 'k_id')} AS k CROSS JOIN winners w "
        "WHERE w.coll = k.k_coll AND w.id = k.k_id "
        "AND +w.seq <= ? AND substr(w.hlc, 31) != ? ORDER BY w.seq",
        (_json.encode(keys).decode(), cursor, exclude_node),
    )
    return out  # type: ignore[return-value]


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
    d = conn.dialect
    facts = seed_facts(changes)
    anchors = access.anchors()
    keyed = [[c, i, anchors[c]] for c, i in facts if c in anchors]
    if keyed:
        rows = _rows(
            conn,
            f"SELECT w.coll, w.id, w.value FROM {d.tuples('?', 'k_coll', 'k_id', 'k_field')} "
            "AS k CROSS JOIN winners w "
            "WHERE w.coll = k.k_coll AND w.id = k.k_id AND w.field = k.k_field",
            (_json.encode(keyed).decode(),),
        )
        add_stored_anchors(facts, rows)
    owned = [[c, i] for c, i in facts if c in OWNED]
    if owned:
        rows = _rows(
            conn,
            f"SELECT DISTINCT h.coll, h.id FROM {d.tuples('?', 'k_coll', 'k_id')} AS k "
            "CROSS JOIN history h WHERE h.coll = k.k_coll AND h.id = k.k_id "
            "AND (h.person IS NULL OR h.person != ?)",
            (_json.encode(owned).decode(), person),
        )
        mark_foreign(facts, rows)
    if scope is not None and scope.volunteer and any(c == "reports" for c, _ in facts):
        mine = _rows(conn, "SELECT community FROM people WHERE id = ?", (person,))
        worked = _rows(
            conn,
            "SELECT value FROM winners WHERE coll IN ('buildings', 'incidents') "
            f"AND field = 'community' AND id IN (SELECT value FROM {d.each()})",
            (_ids(work_targets(scope)),),
        )
        mark_communities(facts, [*mine, *((_value(v),) for (v,) in worked)])
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


def _keyed_by(conn: Sql, coll: str, reach: Reach, keys: Iterable[str]) -> list[tuple[str, str]]:
    """The records of ``coll`` whose key (by ``reach``) is one of ``keys``."""
    d = conn.dialect
    c = _name(coll)
    if reach.key == ID:
        return [(coll, k) for k in sorted(keys)]
    if reach.by_field:
        where = (
            f"field = '{_name(reach.key)}' AND value IN (SELECT value FROM {d.each()}) "
            f"AND {d.short_value('w')}"
        )
    else:
        part = d.after("w.id") if reach.key == TAIL else d.before("w.id")
        where = f"{part} IN (SELECT value FROM {d.each()})"
    rows = _rows(
        conn,
        f"SELECT DISTINCT w.coll, w.id FROM winners w WHERE w.coll = '{c}' AND {where} "
        "ORDER BY w.id",
        (_quoted(keys) if reach.by_field else _ids(keys),),
    )
    return rows  # type: ignore[return-value]


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
    d = conn.dialect
    h_now, gone_h, gone_i, grown = scope_change(scope, old)
    ways = access.reaches(scope.role)
    out: list[tuple[str, str]] = []
    if old is not None:
        if gone_h is None:
            rows = _rows(
                conn,
                "SELECT DISTINCT id FROM winners WHERE coll = 'households' "
                f"AND id NOT IN (SELECT value FROM {d.each()})",
                (_ids(h_now),),
            )
            gone_h = {r[0] for r in rows}
        # The records reached through a household or an incident that left the scope.
        gone = {"households": gone_h, "incidents": gone_i}
        for coll, reach in ways:
            if gone.get(reach.within):
                out += _keyed_by(conn, coll, reach, gone[reach.within])
        if gone_i:
            # A coordinator moved to another community: the records of the old one.
            for coll, reach in ways:
                if reach.within != "community" or not reach.by_field:
                    continue
                out += _rows(  # type: ignore[arg-type]
                    conn,
                    f"SELECT coll, id FROM winners WHERE coll = '{_name(coll)}' "
                    f"AND field = '{_name(reach.key)}' "
                    "AND value IN (SELECT value FROM winners WHERE coll = 'incidents' "
                    f"AND field = 'community' AND id IN (SELECT value FROM {d.each()})) "
                    "ORDER BY id",
                    (_ids(gone_i),),
                )
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
    if cursor <= 0:
        # Nothing was anchored at or before sequence 0: the device held none of it.
        return out, grown
    was_h, was_i = scope_union(scope, old)
    was = replace(scope, households=was_h, incidents=was_i)
    parts = [(c, r) for c, r in ways if r.by_field]
    sql = " UNION ".join(
        f"SELECT h.coll, h.id FROM (SELECT value AS v FROM {d.each()}) j "
        "CROSS JOIN history h CROSS JOIN winners w "
        f"WHERE h.coll = '{_name(c)}' AND h.field = '{_name(r.key)}' AND h.value = j.v "
        f"AND {d.short_value('h')} AND +h.seq <= ? "
        f"AND w.coll = h.coll AND w.id = h.id AND w.field = h.field "
        "AND +w.seq > ? AND w.value != h.value"
        for c, r in parts
    )
    left = _rows(conn, sql, [a for _, r in parts for a in (_keys_arg(was, r), cursor, cursor)])
    if left:
        still = _visible_in(conn, scope, left)  # type: ignore[arg-type]
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
    filt = pull_filter(scope, conn.dialect)
    assert filt is not None
    where, args = filt
    rows = _rows(
        conn,
        # The keys drive, each a primary-key lookup of its record.
        "SELECT DISTINCT winners.coll, winners.id "
        f"FROM {conn.dialect.tuples('?', 'k_coll', 'k_id')} AS k CROSS JOIN winners "
        f"WHERE winners.coll = k.k_coll AND winners.id = k.k_id AND {where}",
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
        f"AND id IN (SELECT value FROM {conn.dialect.each()})",
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
    return rows, scope.token  # type: ignore[return-value]


async def reference(db: BaseDatabase, device: Device, coll: str) -> tuple[list[WinnerRow], str]:
    """``reference_in`` in one read transaction: it never waits for the writer (the
    dashboard asks for the incidents alone beside its snapshot, which the writer makes)."""
    cache = db.scope_cache
    return await db.read_tx(lambda conn: reference_in(conn, device, coll, cache))


async def pull(
    db: BaseDatabase, device: Device, cursor: int, limit: int, held: str | None, at: str
) -> Page:
    """``pull_in`` in one write transaction (it may save the scope snapshot): a pull with
    no push, as the dashboard's snapshot (``server.http.snapshot``) makes. It reads one state
    of the log: on PostgreSQL it takes the log's ordering lock shared first
    (docs/postgresql.md, "Ordering")."""
    cache = db.scope_cache

    def run(conn: Sql) -> Page:
        conn.dialect.shared_order_in(conn)
        return pull_in(conn, device, cursor, limit, held, at, cache=cache)

    return await db.write_tx(run)


async def pull_page(
    db: BaseDatabase, device: Device, cursor: int, limit: int, held: str, at: str
) -> Page:
    """A further page of a pull under way (``held``: the token its first page answered,
    ``cursor`` > 0). Such a page writes nothing, so it is read in a read transaction: a
    long pull (the dashboard's snapshot) never holds the writer, and the syncs waiting
    for it, for more than its first page. If the scope moved meanwhile, ``pull`` (the
    writer) answers, as for a phone."""
    if cursor == 0:
        return await pull(db, device, cursor, limit, held, at)
    cache = db.scope_cache

    def run(conn: Sql) -> Page | None:
        conn.dialect.shared_order_in(conn)
        if scope_in(conn, device.person, device.role, cache).token != held:
            return None
        return pull_in(conn, device, cursor, limit, held, at, cache=cache)

    page = await db.read_tx(run)
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
) -> Page:
    """A page of what the device may read, and what it must delete (docs/protocol.md).
    On PostgreSQL the caller's transaction holds the log's ordering lock (exclusively
    after an append, shared otherwise): its statements see one state of the log.

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
        since = (top if top is not None else changes.top_in(conn)) if fresh else 0  # type: ignore[arg-type]
        # Pulls keep working on a full disk: the snapshot is only not remembered.
        changes.try_write(conn, lambda: save_snapshot_in(conn, device.node, scope, at, since))
    else:
        since = snapshot_seq_in(conn, device.node, scope.token)
    rows, new_cursor, more = page_in(conn, scope, start, limit, device.node, since, top)
    rows = companions_in(conn, scope, rows, start, device.node) + rows
    return rows, new_cursor, more, evict, scope.token


async def visible_rows(db: BaseDatabase, scope: Scope, rows: Sequence[Any]) -> list[Any]:
    """The change-log rows ``(seq, coll, id, ...)`` whose record ``scope`` may read now, by
    the same rules as pulls (``pull_filter``): one query for the whole batch."""
    if scope.unlimited or not rows:
        return list(rows)
    keys = sorted({(r[1], r[2]) for r in rows})
    keep = await db.read_tx(lambda conn: _visible_in(conn, scope, keys))
    return [r for r in rows if (r[1], r[2]) in keep]


async def visible(db: BaseDatabase, scope: Scope, coll: str, rid: str) -> bool:
    """Whether ``scope`` may read the record now (the rules of pulls)."""
    if scope.unlimited:
        return True
    return (coll, rid) in await db.read_tx(lambda conn: _visible_in(conn, scope, [(coll, rid)]))
