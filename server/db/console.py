"""The coordinator's console (#12): the roster and what a day's brief reads.

Both backends: the SQL side by side by ``db.dialect``. PostgreSQL's ``sum`` of a bigint
is a numeric (``Decimal``): cast back to bigint, an int as on SQLite; it sorts NULL last
where SQLite sorts it first, so the order says ``NULLS FIRST``.
"""

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from server.access import Scope
from server.db import AnyDatabase
from server.db.log import IncidentInputs, fold_rows

__all__ = ["brief_rows", "incident_names", "inputs_until", "roster"]

# The pending count a phone reports is stored by the sync's own transaction
# (``server.db.syncs``).


async def roster(db: AnyDatabase, scope: Scope) -> list[tuple[Any, ...]]:
    """(person, name, devices, last_seen, pending, pending_at) of every volunteer a
    coordinator works with, over the volunteer's active devices: the people
    ``scopes.people_filter`` keeps (their community's, the volunteers assigned inside it
    and the unattached ones; everyone without a community), as ``/api/v1/people``."""
    from server.db.scopes import people_filter

    within, args = people_filter(scope, "p.id", dialect=db.dialect)
    if db.dialect == "postgresql":
        sql = (
            "SELECT p.id, p.name, count(d.node), max(d.last_seen), sum(d.pending)::bigint, "
            "max(d.pending_at) FROM people p JOIN devices d ON d.person = p.id "
            "AND d.revoked_at IS NULL WHERE p.role = 'volunteer' "
        )
        order = "GROUP BY p.id ORDER BY p.name NULLS FIRST, p.id LIMIT 5000"
    else:
        sql = (
            "SELECT p.id, p.name, count(d.node), max(d.last_seen), sum(d.pending), "
            "max(d.pending_at) FROM people p JOIN devices d ON d.person = p.id "
            "AND d.revoked_at IS NULL WHERE p.role = 'volunteer' "
        )
        order = "GROUP BY p.id ORDER BY p.name, p.id LIMIT 5000"
    return await db.read(f"{sql}AND {within} {order}", args)


Fetch = Callable[[str, Sequence[Any]], Awaitable[Sequence[Any]]]

_SQL = {
    "records": {
        "sqlite": "SELECT id, field, value FROM winners WHERE coll = ? AND id IN "
        "(SELECT id FROM winners WHERE coll = ? AND field = 'incident' AND value = ?)",
        # The incident is an id (at most 100 ASCII characters): ``octet_length`` lets
        # the planner use the partial index ``winners_ref``.
        "postgresql": "SELECT id, field, value FROM winners WHERE coll = $1 AND id IN "
        "(SELECT id FROM winners WHERE coll = $2 AND field = 'incident' AND value = $3 "
        "AND octet_length(value) <= 512)",
    },
    "history": {
        "sqlite": "SELECT field, value, hlc FROM history WHERE coll = 'incidents' AND id = ? "
        "AND (field IN ('status', 'eta', 'restored_buildings') "
        "OR substr(field, 1, 19) = 'restored_buildings.') ORDER BY hlc",
        "postgresql": "SELECT field, value, hlc FROM history WHERE coll = 'incidents' "
        "AND id = $1 AND (field IN ('status', 'eta', 'restored_buildings') "
        "OR substr(field, 1, 19) = 'restored_buildings.') ORDER BY hlc",
    },
    # Every write of some records stamped before a time (a stamp starts with its ISO time).
    "until": {
        "sqlite": "SELECT id, field, value, hlc FROM history WHERE coll = ? AND id IN "
        "(SELECT value FROM json_each(?)) AND hlc < ? ORDER BY hlc",
        "postgresql": "SELECT id, field, value, hlc FROM history WHERE coll = $1 "
        "AND id = ANY($2::text[]) AND hlc < $3 ORDER BY hlc",
    },
    "incident_names": {
        "sqlite": " AND id IN (SELECT value FROM json_each(?))",
        "postgresql": " AND id = ANY($1::text[])",
    },
}


def _fetcher(conn: Any, dialect: str) -> Fetch:
    """One way to run a query on the connection ``read_fn`` gives either backend."""
    if dialect == "postgresql":
        return lambda sql, args: conn.fetch(sql, *args)  # type: ignore[no-any-return]
    return lambda sql, args: conn.execute_fetchall(sql, args)  # type: ignore[no-any-return]


async def _records(
    fetch: Fetch, dialect: str, coll: str, incident: str
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    rows = await fetch(_SQL["records"][dialect], (coll, coll, json.dumps(incident)))
    for rid, fld, value in rows:
        out.setdefault(rid, {})[fld] = json.loads(value)
    return {k: v for k, v in out.items() if v.get("_deleted") is not True}


async def brief_rows(db: AnyDatabase, incident: str) -> dict[str, Any]:
    """What a day's brief needs, in one snapshot: the incident's repairs, updates,
    deliveries and visits (winners), the history of its status, ETA and restored
    buildings (whole-list writes and ``restored_buildings.<id>`` element writes), and
    building labels."""

    dialect = db.dialect

    async def run(conn: Any) -> dict[str, Any]:
        fetch = _fetcher(conn, dialect)
        out: dict[str, Any] = {
            coll: await _records(fetch, dialect, coll, incident)
            for coll in ("repairs", "updates", "deliveries", "visits")
        }
        rows = await fetch(_SQL["history"][dialect], (incident,))
        out["history"] = [(fld, json.loads(value), hlc) for fld, value, hlc in rows]
        rows = await fetch(
            "SELECT id, value FROM winners WHERE coll = 'buildings' AND field = 'label'", ()
        )
        out["labels"] = {rid: json.loads(value) for rid, value in rows}
        return out

    return await db.read_fn(run)


async def incident_names(db: AnyDatabase, incidents: frozenset[str] | None) -> list[dict[str, Any]]:
    """Title, place, kind, status and start of the incidents ``incidents`` names (every
    one for None), newest first, deleted ones left out: what an export form lists."""
    sql = (
        "SELECT id, field, value FROM winners WHERE coll = 'incidents' AND field IN "
        "('title', 'place', 'kind', 'status', 'started_at', '_deleted')"
    )
    args: tuple[Any, ...] = ()
    if incidents is not None:
        sql += _SQL["incident_names"][db.dialect]
        ids = sorted(incidents)
        args = (json.dumps(ids) if db.dialect == "sqlite" else ids,)
    out: dict[str, dict[str, Any]] = {}
    for rid, fld, value in await db.read(sql, args):
        out.setdefault(rid, {"id": rid})[fld] = json.loads(value)
    rows = [r for r in out.values() if r.pop("_deleted", None) is not True]
    return sorted(rows, key=lambda r: str(r.get("started_at") or ""), reverse=True)[:2000]


async def inputs_until(
    db: AnyDatabase, incident: str, now: IncidentInputs, until: str
) -> IncidentInputs:
    """What progress needs as it stood at ``until`` (ISO time, ``...Z``): for the records
    of ``now``, each field's last write stamped before it, set fields folded. A past
    day's brief counts with it (#22 D17); records made later are absent."""
    dialect = db.dialect

    async def run(conn: Any) -> IncidentInputs:
        fetch = _fetcher(conn, dialect)

        async def as_of(coll: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
            if not ids:
                return {}
            arg = json.dumps(sorted(ids)) if dialect == "sqlite" else sorted(ids)
            last: dict[tuple[str, str], tuple[str, str, str, str]] = {}
            for rid, fld, value, hlc in await fetch(_SQL["until"][dialect], (coll, arg, until)):
                last[(rid, fld)] = (rid, fld, value, hlc)  # by stamp: the last one wins
            return fold_rows(coll, last.values())

        return IncidentInputs(
            seq=now.seq,
            incident=(await as_of("incidents", [incident])).get(incident, {}),
            households=await as_of("households", list(now.households)),
            visits=await as_of("visits", list(now.visits)),
            deliveries=await as_of("deliveries", list(now.deliveries)),
            statuses=await as_of("household_status", list(now.statuses)),
            updates=await as_of("updates", list(now.updates)),
        )

    return await db.read_fn(run)
