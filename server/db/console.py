"""The coordinator's console (#12): the roster and what a day's brief reads.

Written once for both engines: blocking functions of a ``Conn`` run by ``db.read_tx``, or
one statement by ``db.select`` (``db.sql`` is the engine's dialect).
"""

import json
from collections.abc import Sequence
from typing import Any

import msgspec

from server.access import Scope
from server.db import AnyDatabase
from server.db.log import IncidentInputs, fold_rows

__all__ = ["brief_rows", "incident_names", "inputs_until", "roster"]

# The pending count a phone reports is stored by the sync's own transaction
# (``server.db.syncs``).


def _roster_in(conn: Any, scope: Scope) -> list[Any]:
    from server.db.scopes import people_filter

    within, args = people_filter(scope, "p.id", conn.dialect)
    # PostgreSQL's ``sum`` of a bigint is a numeric: cast, an int on both. NULLS FIRST:
    # SQLite's default, said for PostgreSQL's sake.
    return conn.execute(
        "SELECT p.id, p.name, count(d.node), max(d.last_seen), "
        "CAST(sum(d.pending) AS bigint), max(d.pending_at) FROM people p "
        "JOIN devices d ON d.person = p.id AND d.revoked_at IS NULL "
        f"WHERE p.role = 'volunteer' AND {within} "
        "GROUP BY p.id, p.name ORDER BY p.name NULLS FIRST, p.id LIMIT 5000",
        args,
    ).fetchall()


async def roster(db: AnyDatabase, scope: Scope) -> list[tuple[Any, ...]]:
    """(person, name, devices, last_seen, pending, pending_at) of every volunteer a
    coordinator works with, over the volunteer's active devices: the people
    ``scopes.people_filter`` keeps (their community's, the volunteers assigned inside it
    and the unattached ones; everyone without a community), as ``/api/v1/people``."""
    return [tuple(r) for r in await db.read_tx(lambda conn: _roster_in(conn, scope))]


def _ids(ids: Sequence[str]) -> str:
    """An id list as the parameter of ``Dialect.each``."""
    return msgspec.json.encode(sorted(ids)).decode()


def _records_in(conn: Any, coll: str, incident: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    rows = conn.execute(
        "SELECT id, field, value FROM winners WHERE coll = ? AND id IN "
        "(SELECT id FROM winners WHERE coll = ? AND field = 'incident' AND value = ? "
        f"AND {conn.dialect.ref_sized('value')})",
        (coll, coll, msgspec.json.encode(incident).decode()),
    )
    for rid, fld, value in rows:
        out.setdefault(rid, {})[fld] = json.loads(value)
    return {k: v for k, v in out.items() if v.get("_deleted") is not True}


def _brief_rows_in(conn: Any, incident: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        coll: _records_in(conn, coll, incident)
        for coll in ("repairs", "updates", "deliveries", "visits")
    }
    rows = conn.execute(
        "SELECT field, value, hlc FROM history WHERE coll = 'incidents' AND id = ? "
        "AND (field IN ('status', 'eta', 'restored_buildings') "
        "OR substr(field, 1, 19) = 'restored_buildings.') ORDER BY hlc",
        (incident,),
    )
    out["history"] = [(fld, json.loads(value), hlc) for fld, value, hlc in rows]
    rows = conn.execute(
        "SELECT id, value FROM winners WHERE coll = 'buildings' AND field = 'label'"
    )
    out["labels"] = {rid: json.loads(value) for rid, value in rows}
    return out


async def brief_rows(db: AnyDatabase, incident: str) -> dict[str, Any]:
    """What a day's brief needs, in one snapshot: the incident's repairs, updates,
    deliveries and visits (winners), the history of its status, ETA and restored
    buildings (whole-list writes and ``restored_buildings.<id>`` element writes), and
    building labels."""
    return await db.read_tx(lambda conn: _brief_rows_in(conn, incident))


async def incident_names(db: AnyDatabase, incidents: frozenset[str] | None) -> list[dict[str, Any]]:
    """Title, place, kind, status and start of the incidents ``incidents`` names (every
    one for None), newest first, deleted ones left out: what an export form lists."""
    sql = (
        "SELECT id, field, value FROM winners WHERE coll = 'incidents' AND field IN "
        "('title', 'place', 'kind', 'status', 'started_at', '_deleted')"
    )
    args: tuple[str, ...] = ()
    if incidents is not None:
        sql += f" AND id IN (SELECT value FROM {db.sql.each()})"
        args = (_ids(incidents),)
    out: dict[str, dict[str, Any]] = {}
    for rid, fld, value in await db.select(sql, args):
        out.setdefault(rid, {"id": rid})[fld] = json.loads(value)
    rows = [r for r in out.values() if r.pop("_deleted", None) is not True]
    return sorted(rows, key=lambda r: str(r.get("started_at") or ""), reverse=True)[:2000]


def _as_of_in(conn: Any, coll: str, ids: Sequence[str], until: str) -> dict[str, dict[str, Any]]:
    """The records ``ids`` of ``coll`` as they stood at ``until``."""
    if not ids:
        return {}
    last: dict[tuple[str, str], tuple[str, str, str, str]] = {}
    rows = conn.execute(
        "SELECT id, field, value, hlc FROM history WHERE coll = ? AND id IN "
        f"(SELECT value FROM {conn.dialect.each()}) AND hlc < ? ORDER BY hlc",
        (coll, _ids(ids), until),
    )
    for rid, fld, value, hlc in rows:
        last[(rid, fld)] = (rid, fld, value, hlc)  # by stamp: the last one wins
    return fold_rows(coll, last.values())


async def inputs_until(
    db: AnyDatabase, incident: str, now: IncidentInputs, until: str
) -> IncidentInputs:
    """What progress needs as it stood at ``until`` (ISO time, ``...Z``): for the records
    of ``now``, each field's last write stamped before it, set fields folded. A past
    day's brief counts with it (#22 D17); records made later are absent."""

    def run(conn: Any) -> IncidentInputs:
        def as_of(coll: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
            return _as_of_in(conn, coll, ids, until)

        return IncidentInputs(
            seq=now.seq,
            incident=as_of("incidents", [incident]).get(incident, {}),
            households=as_of("households", list(now.households)),
            visits=as_of("visits", list(now.visits)),
            deliveries=as_of("deliveries", list(now.deliveries)),
            statuses=as_of("household_status", list(now.statuses)),
            updates=as_of("updates", list(now.updates)),
        )

    return await db.read_tx(run)
