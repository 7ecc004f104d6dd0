"""The coordinator's console (#12): the roster and what a day's brief reads."""

import json
from typing import Any

from server.db.core import Conn, Database

__all__ = ["brief_rows", "incident_names", "roster"]

# The pending count a phone reports is stored by the sync's own transaction
# (``server.db.syncs``).


async def roster(db: Database, community: str | None) -> list[tuple[Any, ...]]:
    """(person, name, devices, last_seen, pending, pending_at) of every volunteer a
    coordinator works with (their community's and unattached ones; everyone without a
    community), over the volunteer's active devices."""
    sql = (
        "SELECT p.id, p.name, count(d.node), max(d.last_seen), sum(d.pending), "
        "max(d.pending_at) FROM people p JOIN devices d ON d.person = p.id "
        "AND d.revoked_at IS NULL WHERE p.role = 'volunteer' "
    )
    args: tuple[Any, ...] = ()
    if community is not None:
        sql += "AND (p.community = ? OR p.community IS NULL) "
        args = (community,)
    return await db.read(sql + "GROUP BY p.id ORDER BY p.name, p.id LIMIT 5000", args)


async def _records(conn: Conn, coll: str, incident: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    rows = await conn.execute_fetchall(
        "SELECT id, field, value FROM winners WHERE coll = ? AND id IN "
        "(SELECT id FROM winners WHERE coll = ? AND field = 'incident' AND value = ?)",
        (coll, coll, json.dumps(incident)),
    )
    for rid, fld, value in rows:
        out.setdefault(rid, {})[fld] = json.loads(value)
    return {k: v for k, v in out.items() if v.get("_deleted") is not True}


async def brief_rows(db: Database, incident: str) -> dict[str, Any]:
    """What a day's brief needs, in one snapshot: the incident's repairs, updates,
    deliveries and visits (winners), the history of its status, ETA and restored
    buildings (whole-list writes and ``restored_buildings.<id>`` element writes), and
    building labels."""

    async def run(conn: Conn) -> dict[str, Any]:
        out: dict[str, Any] = {
            coll: await _records(conn, coll, incident)
            for coll in ("repairs", "updates", "deliveries", "visits")
        }
        rows = await conn.execute_fetchall(
            "SELECT field, value, hlc FROM history WHERE coll = 'incidents' AND id = ? "
            "AND (field IN ('status', 'eta', 'restored_buildings') "
            "OR substr(field, 1, 19) = 'restored_buildings.') ORDER BY hlc",
            (incident,),
        )
        out["history"] = [(fld, json.loads(value), hlc) for fld, value, hlc in rows]
        rows = await conn.execute_fetchall(
            "SELECT id, value FROM winners WHERE coll = 'buildings' AND field = 'label'"
        )
        out["labels"] = {rid: json.loads(value) for rid, value in rows}
        return out

    return await db.read_fn(run)


async def incident_names(db: Database, incidents: frozenset[str] | None) -> list[dict[str, Any]]:
    """Title, place, kind, status and start of the incidents ``incidents`` names (every
    one for None), newest first, deleted ones left out: what an export form lists."""
    sql = (
        "SELECT id, field, value FROM winners WHERE coll = 'incidents' AND field IN "
        "('title', 'place', 'kind', 'status', 'started_at', '_deleted')"
    )
    args: tuple[Any, ...] = ()
    if incidents is not None:
        sql += " AND id IN (SELECT value FROM json_each(?))"
        args = (json.dumps(sorted(incidents)),)
    out: dict[str, dict[str, Any]] = {}
    for rid, fld, value in await db.read(sql, args):
        out.setdefault(rid, {"id": rid})[fld] = json.loads(value)
    rows = [r for r in out.values() if r.pop("_deleted", None) is not True]
    return sorted(rows, key=lambda r: str(r.get("started_at") or ""), reverse=True)[:2000]
