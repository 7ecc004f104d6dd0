"""The SQL of access control: scopes, write facts, pull filters, evictions.

Values in ``winners`` and ``history`` are JSON text, so an id is compared in its quoted
form (``'"0190…"'``), which lets the ``winners_ref (coll, field, value)`` index answer
"every household of these buildings" without decoding rows.
"""

import contextlib
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from server.access import ANCHORS, Facts, Scope, may_write, read_scope, scope_token
from server.db import changes
from server.db.changes import Incoming, WinnerRow
from server.db.core import Database
from server.db.devices import Device
from server.db.log import incident_scopes
from server.errors import StorageFullError
from sync.validate import ForbiddenError

__all__ = [
    "authorise",
    "community_scope",
    "companions",
    "evictions",
    "load_scope",
    "people_filter",
    "pull",
    "pull_filter",
    "record_filter",
    "visible",
    "visible_rows",
    "write_facts",
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
    }
)

_REFERENCE = "('communities', 'buildings', 'incidents')"


def _ids(values: Iterable[str] | None) -> str:
    return _json.encode(sorted(values or ())).decode()


def _value(text: str) -> Any:
    try:
        return _decode.decode(text)
    except msgspec.DecodeError:
        return None


async def load_scope(db: Database, device: Device) -> Scope:
    """The read and write scope of a device, from its person's role, community and
    assignments as they are now."""
    person, role = device.person, device.role
    if role == "coordinator":
        rows = await db.read("SELECT community FROM people WHERE id = ?", (person,))
        community = rows[0][0] if rows else None
        if community is None:
            grant = read_scope(person, role)
        else:
            quoted = _json.encode(community).decode()
            bs = await db.read(
                "SELECT id FROM winners WHERE coll = 'buildings' AND field = 'community' "
                "AND value = ?",
                (quoted,),
            )
            incs = await db.read(
                "SELECT id FROM winners WHERE coll = 'incidents' AND field = 'community' "
                "AND value = ?",
                (quoted,),
            )
            grant = read_scope(
                person,
                role,
                community=community,
                community_buildings=[r[0] for r in bs],
                community_incidents=[r[0] for r in incs],
            )
    else:
        rows = await db.read(
            "SELECT id, field, value FROM winners WHERE coll = 'assignments' AND id > ? AND id < ?",
            (person + "~", person + "\x7f"),
        )
        assignments: dict[str, dict[str, Any]] = {}
        for rid, fld, value in rows:
            assignments.setdefault(rid, {})[fld] = _value(value)
        # Set field: the list and its element fields, folded (sync/sets.py).
        incident_buildings = await incident_scopes(db)
        grant = read_scope(
            person, role, assignments=assignments, incident_buildings=incident_buildings
        )
    households: frozenset[str] | None = None
    if grant.buildings is not None:
        rows = await db.read(
            "SELECT id FROM winners WHERE coll = 'households' AND field = 'building' "
            "AND value IN (SELECT json_quote(value) FROM json_each(?))",
            (_ids(grant.buildings),),
        )
        households = frozenset(r[0] for r in rows)
    return Scope(
        person=person,
        role=grant.role,
        buildings=grant.buildings,
        households=households,
        incidents=grant.incidents,
        community=grant.community,
        token=scope_token(grant.role, person, households, grant.incidents),
    )


def pull_filter(scope: Scope) -> tuple[str, list[Any]] | None:
    """A WHERE fragment over the ``winners`` table that keeps what ``scope`` may read.

    Returns:
        (sql, args), or None when the scope is unlimited.
    """
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
        args += [i, len(scope.person) + 1, scope.person + "~"]
    else:
        parts.append(f"(coll = 'updates' AND {anchor('incident')} IN {in_hq})")
        parts.append(f"(coll = 'assignments' AND substr(id, instr(id, '~') + 1) IN {in_h})")
        # 需核实 resolutions (#11): coordinators of the incident only.
        parts.append(f"(coll = 'checks' AND substr(id, 1, instr(id, '~') - 1) IN {in_h})")
        args += [i, _ids((scope.buildings or frozenset()) | (scope.incidents or frozenset())), i]
    return "(" + " OR ".join(parts) + ")", args


async def companions(
    db: Database, scope: Scope, rows: Sequence[WinnerRow], cursor: int, exclude_node: str
) -> list[WinnerRow]:
    """Older winners of records that became visible through a change in this page.

    A visit whose ``household`` arrives after its ``note`` (or an update made public
    later) becomes visible only at its anchor's sequence; the device, past the older
    fields' sequence, would never get them. They ride along with the anchor change.
    """
    if scope.unlimited or cursor == 0:
        return []
    keys = sorted({(c, i) for _, c, i, f, _, _ in rows if (c, f) in SELF_ANCHORS})
    if not keys:
        return []
    out = await db.read(
        "SELECT w.seq, w.coll, w.id, w.field, w.value, w.hlc FROM json_each(?) j "
        "JOIN winners w ON w.coll = json_extract(j.value, '$[0]') "
        "AND w.id = json_extract(j.value, '$[1]') "
        "WHERE w.seq <= ? AND substr(w.hlc, 31) != ? ORDER BY w.seq",
        (_json.encode(keys).decode(), cursor, exclude_node),
    )
    return [tuple(r) for r in out]  # type: ignore[misc]


async def write_facts(
    db: Database, person: str, changes: Sequence[tuple[str, str, str, Any]]
) -> dict[tuple[str, str], Facts]:
    """What the server knows about each record a batch writes to (see ``access.Facts``).

    Args:
        changes: (coll, id, field, decoded value) of each valid change of the batch.
    """
    facts: dict[tuple[str, str], Facts] = {}
    for coll, rid, fld, value in changes:
        f = facts.setdefault((coll, rid), Facts())
        if ANCHORS.get(coll) == fld:
            f.anchors.add(_hashable(value))
    keyed = [[c, i, ANCHORS[c]] for c, i in facts if c in ANCHORS]
    if keyed:
        rows = await db.read(
            "SELECT w.coll, w.id, w.value FROM json_each(?) j JOIN winners w "
            "ON w.coll = json_extract(j.value, '$[0]') AND w.id = json_extract(j.value, '$[1]') "
            "AND w.field = json_extract(j.value, '$[2]')",
            (_json.encode(keyed).decode(),),
        )
        for coll, rid, value in rows:
            f = facts[(coll, rid)]
            f.anchors.add(_hashable(_value(value)))
            f.exists = True
    incidents = [i for c, i in facts if c == "incidents"]
    if incidents:
        rows = await db.read(
            "SELECT DISTINCT id FROM history WHERE coll = 'incidents' "
            "AND id IN (SELECT value FROM json_each(?)) AND (person IS NULL OR person != ?)",
            (_ids(incidents), person),
        )
        for (rid,) in rows:
            facts[("incidents", rid)].foreign = True
    return facts


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | None) else repr(value)


async def save_snapshot(db: Database, node: str, scope: Scope, at: str, seq: int) -> None:
    """Remember what ``scope.token`` stood for, for this device's next sync, and the log's
    top ``seq`` when the device was given it (again: a scope can come back)."""
    h = None if scope.households is None else _ids(scope.households)
    i = None if scope.incidents is None else _ids(scope.incidents)
    await db.write(
        "INSERT INTO scope_snapshots (node, token, households, incidents, created_at, seq) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (node, token) DO UPDATE SET "
        "created_at = excluded.created_at, seq = excluded.seq",
        (node, scope.token, h, i, at, seq),
    )


async def snapshot_seq(db: Database, node: str, token: str) -> int:
    """The log's top when the device was given the scope ``token`` (0 if unknown)."""
    rows = await db.read(
        "SELECT seq FROM scope_snapshots WHERE node = ? AND token = ?", (node, token)
    )
    return int(rows[0][0] or 0) if rows else 0


async def load_snapshot(
    db: Database, node: str, token: str
) -> tuple[frozenset[str] | None, frozenset[str] | None] | None:
    rows = await db.read(
        "SELECT households, incidents FROM scope_snapshots WHERE node = ? AND token = ?",
        (node, token),
    )
    if not rows:
        return None
    h, i = rows[0]
    return (
        None if h is None else frozenset(_decode.decode(h)),
        None if i is None else frozenset(_decode.decode(i)),
    )


async def evictions(
    db: Database,
    scope: Scope,
    old: tuple[frozenset[str] | None, frozenset[str] | None] | None,
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
    h_now, i_now = scope.households or frozenset(), scope.incidents or frozenset()
    out: list[tuple[str, str]] = []
    grown = False
    if old is not None:
        h_old, i_old = old
        if h_old is None:
            rows = await db.read(
                "SELECT DISTINCT id FROM winners WHERE coll = 'households' "
                "AND id NOT IN (SELECT value FROM json_each(?))",
                (_ids(h_now),),
            )
            gone_h = {r[0] for r in rows}
        else:
            gone_h = set(h_old - h_now)
            grown = grown or bool(h_now - h_old)
        gone_i = set() if i_old is None else set(i_old - i_now)
        if i_old is not None:
            grown = grown or bool(i_now - i_old)
        if gone_h:
            out += [("households", x) for x in sorted(gone_h)]
            rows = await db.read(
                "SELECT coll, id FROM winners WHERE coll IN ('visits', 'deliveries') "
                "AND field = 'household' "
                "AND value IN (SELECT json_quote(value) FROM json_each(?)) "
                "UNION SELECT DISTINCT coll, id FROM winners WHERE coll = 'household_status' "
                "AND substr(id, instr(id, '~') + 1) IN (SELECT value FROM json_each(?))",
                (_ids(gone_h), _ids(gone_h)),
            )
            out += [tuple(r) for r in rows]  # type: ignore[misc]
        if gone_i:
            rows = await db.read(
                "SELECT coll, id FROM winners w WHERE coll IN ('repairs', 'updates') "
                "AND field = 'incident' "
                "AND value IN (SELECT json_quote(value) FROM json_each(?))",
                (_ids(gone_i),),
            )
            out += [tuple(r) for r in rows]  # type: ignore[misc]
    if out:
        # A public update of an incident no longer worked on is still readable: keep it.
        still = await _visible(db, scope, out)
        out = [k for k in out if k not in still]
    # Records that left the scope by a change of their own anchor since the cursor, and
    # were in it before: a visit moved to another household, an update made internal.
    filt = pull_filter(scope)
    assert filt is not None
    where, args = filt
    rows = await db.read(
        "SELECT DISTINCT coll, id FROM winners WHERE seq > ? AND (coll, field) IN "
        "(SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)) "
        f"AND NOT {where} AND EXISTS (SELECT 1 FROM history h WHERE h.coll = winners.coll "
        "AND h.id = winners.id AND h.seq <= ?)",
        (cursor, _json.encode(sorted(SELF_ANCHORS)).decode(), *args, cursor),
    )
    # Only what the device may have held: anchored before the cursor inside the scope.
    for coll, rid in rows:
        if (coll, rid) in out:
            continue
        if await _was_visible(db, scope, coll, rid, cursor, old):
            out.append((coll, rid))
    return out, grown


async def _visible(
    db: Database, scope: Scope, keys: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    filt = pull_filter(scope)
    assert filt is not None
    where, args = filt
    rows = await db.read(
        "SELECT DISTINCT coll, id FROM winners WHERE (coll, id) IN (SELECT "
        "json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)) "
        f"AND {where}",
        (_json.encode([list(k) for k in keys]).decode(), *args),
    )
    return {(c, i) for c, i in rows}


async def _was_visible(
    db: Database,
    scope: Scope,
    coll: str,
    rid: str,
    cursor: int,
    old: tuple[frozenset[str] | None, frozenset[str] | None] | None,
) -> bool:
    """Whether a record was in the scope as of ``cursor`` (by its anchors' values then)."""
    h = set(scope.households or ()) | set((old or (None, None))[0] or ())
    i = set(scope.incidents or ()) | set((old or (None, None))[1] or ())
    rows = await db.read(
        "SELECT field, value FROM history WHERE coll = ? AND id = ? AND seq <= ? ORDER BY hlc",
        (coll, rid, cursor),
    )
    then: dict[str, Any] = {}
    for fld, value in rows:
        then[fld] = _value(value)
    if coll in ("visits", "deliveries"):
        return then.get("household") in h
    if coll == "households":
        return rid in h
    if coll == "repairs":
        return then.get("incident") in i
    if coll == "updates":
        return (scope.volunteer and then.get("public") is True) or then.get("incident") in i
    return False


async def authorise(
    db: Database,
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
    if scope.unlimited and not any(row[1] == "assignments" for row in good):
        return good, []
    decoded = [(row[1], row[2], row[3], _value(row[4])) for row in good]
    facts = {} if scope.unlimited else await write_facts(db, scope.person, decoded)
    allowed: list[Incoming] = []
    denied: list[tuple[int, msgspec.Raw, ForbiddenError]] = []
    for row, (coll, rid, fld, value), (index, raw) in zip(good, decoded, sources, strict=True):
        try:
            may_write(scope, coll, rid, fld, value, facts.get((coll, rid)) or Facts())
        except ForbiddenError as exc:
            denied.append((index, raw, exc))
            continue
        allowed.append(row)
    return allowed, denied


async def pull(
    db: Database,
    device: Device,
    cursor: int,
    limit: int,
    held: str | None,
    at: str,
    top: int | None = None,
) -> tuple[list[WinnerRow], int, bool, list[tuple[str, str]], str]:
    """A page of what the device may read, and what it must delete (docs/protocol.md).

    Args:
        held: the scope token the device holds (None: a device that never got one).
        top: the log's top before this request's own writes (default: now).

    Returns:
        (rows, new cursor, more, [(coll, id) to delete], the scope token now)
    """
    scope = await load_scope(db, device)
    start, evict = cursor, []
    if not scope.unlimited:
        old = None
        if held is not None and held != scope.token:
            old = await load_snapshot(db, device.node, held)
        evict, grown = await evictions(db, scope, old, cursor)
        if held is not None and held != scope.token and (grown or old is None):
            # Records became visible whose older changes are behind the device's cursor.
            start = 0
    # The device's own winners are left out of its pulls (it wrote them) — except those
    # up to the moment it was given this scope: a scope that shrank and grew back evicted
    # them from the device, and the re-pull must bring them back (issue 9).
    since = 0
    if held != scope.token:
        if not scope.unlimited:
            since = top if top is not None else await changes.max_seq(db)
        with contextlib.suppress(StorageFullError):  # pulls keep working on a full disk
            await save_snapshot(db, device.node, scope, at, since)
    elif not scope.unlimited:
        since = await snapshot_seq(db, device.node, scope.token)
    rows, new_cursor, more = await changes.pull(
        db,
        start,
        limit,
        exclude_node=device.node,
        exclude_after=since,
        scope=pull_filter(scope),
    )
    rows = await companions(db, scope, rows, start, device.node) + rows
    return rows, new_cursor, more, evict, scope.token


async def community_scope(db: Database, community: str) -> Scope:
    """The read scope every coordinator of ``community`` shares (for their live stream)."""
    quoted = _json.encode(community).decode()
    bs = await db.read(
        "SELECT id FROM winners WHERE coll = 'buildings' AND field = 'community' AND value = ?",
        (quoted,),
    )
    incs = await db.read(
        "SELECT id FROM winners WHERE coll = 'incidents' AND field = 'community' AND value = ?",
        (quoted,),
    )
    grant = read_scope(
        "",
        "coordinator",
        community=community,
        community_buildings=[r[0] for r in bs],
        community_incidents=[r[0] for r in incs],
    )
    rows = await db.read(
        "SELECT id FROM winners WHERE coll = 'households' AND field = 'building' "
        "AND value IN (SELECT json_quote(value) FROM json_each(?))",
        (_ids(grant.buildings),),
    )
    households = frozenset(r[0] for r in rows)
    return Scope(
        person="",
        role="coordinator",
        buildings=grant.buildings,
        households=households,
        incidents=grant.incidents,
        community=community,
        token=scope_token("coordinator", "", households, grant.incidents),
    )


async def visible_rows(db: Database, scope: Scope, rows: Sequence[Any]) -> list[Any]:
    """The change-log rows ``(seq, coll, id, ...)`` whose record ``scope`` may read now, by
    the same rules as pulls (``pull_filter``): one query for the whole batch."""
    if scope.unlimited or not rows:
        return list(rows)
    keep = await _visible(db, scope, sorted({(r[1], r[2]) for r in rows}))
    return [r for r in rows if (r[1], r[2]) in keep]


async def visible(db: Database, scope: Scope, coll: str, rid: str) -> bool:
    """Whether ``scope`` may read the record now (the rules of pulls)."""
    if scope.unlimited:
        return True
    return (coll, rid) in await _visible(db, scope, [(coll, rid)])


def people_filter(scope: Scope, column: str) -> tuple[str, list[Any]]:
    """A WHERE fragment keeping rows whose ``column`` names a person of the scope's
    community: its own people (``people.community``), the volunteers assigned to one of
    its buildings or incidents, and the unattached volunteers (no community, no active
    assignment: the pool every coordinator assigns from). Everyone for an unlimited scope.
    """
    if scope.unlimited:
        return "1", []
    targets = _ids((scope.buildings or frozenset()) | (scope.incidents or frozenset()))
    active = (
        "SELECT substr(a.id, 1, instr(a.id, '~') - 1) FROM winners a "
        "WHERE a.coll = 'assignments' AND a.field = 'active' AND a.value = 'true'"
    )
    return (
        f"({column} IN (SELECT p.id FROM people p WHERE p.community = ?) "
        f"OR {column} IN ({active} "
        "AND substr(a.id, instr(a.id, '~') + 1) IN (SELECT value FROM json_each(?))) "
        f"OR {column} IN (SELECT p.id FROM people p WHERE p.community IS NULL "
        f"AND p.role = 'volunteer' AND p.id NOT IN ({active})))",
        [scope.community or "", targets],
    )


def record_filter(scope: Scope, coll: str, rid: str) -> tuple[str, list[Any]]:
    """A WHERE fragment keeping rows whose record ``(coll, rid)`` columns ``scope`` may read."""
    filt = pull_filter(scope)
    if filt is None:
        return "1", []
    where, args = filt
    return (
        f"EXISTS (SELECT 1 FROM winners WHERE winners.coll = {coll} "
        f"AND winners.id = {rid} AND {where})",
        list(args),
    )
