"""The rows of an incident's export: households, visits, deliveries, and who recorded them."""

import json
from typing import Any

from server.db.core import Database
from server.db.log import fold_rows

__all__ = ["tables"]


async def _records(db: Database, coll: str, ids: list[str] | None = None) -> dict:
    sql = "SELECT id, field, value, hlc FROM winners WHERE coll = ?"
    args: list[Any] = [coll]
    if ids is not None:
        sql += " AND id IN (SELECT value FROM json_each(?))"
        args.append(json.dumps(ids))
    # Set fields (needs_open, vulnerable, buildings) folded from their elements.
    out = fold_rows(coll, await db.read(sql, args, live=True))
    return {k: v for k, v in out.items() if v.get("_deleted") is not True}


async def _by_household(db: Database, coll: str, households: list[str]) -> dict:
    rows = await db.read(
        "SELECT id FROM winners WHERE coll = ? AND field = 'household' "
        "AND value IN (SELECT json_quote(value) FROM json_each(?))",
        (coll, json.dumps(households)),
        live=True,
    )
    return await _records(db, coll, [r[0] for r in rows])


async def _authors(db: Database, coll: str, ids: list[str]) -> dict[str, tuple]:
    """Who recorded each record: the person and device of its earliest accepted change."""
    rows = await db.read(
        "SELECT h.id, h.node, p.name FROM history h LEFT JOIN people p ON p.id = h.person "
        "WHERE h.coll = ? AND h.id IN (SELECT value FROM json_each(?)) ORDER BY h.hlc DESC",
        (coll, json.dumps(ids)),
        live=True,
    )
    return {rid: (name or "", node) for rid, node, name in rows}


async def tables(db: Database, incident: str) -> dict[str, list[dict[str, Any]]] | None:
    """The incident's rows per sheet, or None if there is no such incident."""
    inc = (await _records(db, "incidents", [incident])).get(incident)
    if inc is None:
        return None
    buildings = [b for b in inc.get("buildings") or [] if isinstance(b, str)]
    labels = {
        k: v.get("label") or k for k, v in (await _records(db, "buildings", buildings)).items()
    }
    hh_ids = [
        r[0]
        for r in await db.read(
            "SELECT id FROM winners WHERE coll = 'households' AND field = 'building' "
            "AND value IN (SELECT json_quote(value) FROM json_each(?))",
            (json.dumps(buildings),),
            live=True,
        )
    ]
    households = await _records(db, "households", hh_ids)
    status = await _records(db, "household_status", [f"{incident}~{h}" for h in households])
    where = {
        h: (labels.get(v.get("building"), ""), v.get("unit"), v.get("room"))
        for h, v in households.items()
    }
    out: dict[str, list[dict[str, Any]]] = {"households": [], "visits": [], "deliveries": []}
    for hid, h in sorted(households.items(), key=lambda kv: tuple(map(str, where[kv[0]]))):
        st = status.get(f"{incident}~{hid}", {})
        out["households"].append(
            {
                **h,
                "building": where[hid][0],
                "restored": st.get("restored"),
                "needs_open": st.get("needs_open"),
                "satisfaction": st.get("satisfaction"),
                "id": hid,
            }
        )
    for coll in ("visits", "deliveries"):
        recs = {
            k: v
            for k, v in (await _by_household(db, coll, list(households))).items()
            if v.get("incident") in (None, incident)
        }
        authors = await _authors(db, coll, list(recs))
        for rid, r in sorted(recs.items(), key=lambda kv: str(kv[1].get("at") or "")):
            b, unit, room = where.get(r.get("household"), ("", "", ""))
            name, node = authors.get(rid, ("", ""))
            out[coll].append(
                {
                    **r,
                    "building": b,
                    "unit": unit,
                    "room": room,
                    "recorded_by": name,
                    "device": node,
                    "id": rid,
                }
            )
    return out
