"""The rows of an incident's export: households, visits, deliveries, and who recorded them.

An id list is one JSON text parameter (``Dialect.each``); the ids that ``winners.value``
is compared with are quoted in Python as it holds them, with ``Dialect.ref_sized`` so
that ``winners_ref`` is used.
"""

import re
from typing import Any

import msgspec

from server.db import AnyDatabase
from server.db.log import fold_rows

__all__ = ["incidents", "tables"]

_encode = msgspec.json.encode


def _ids(ids: list[str]) -> str:
    """An id list as the parameter of ``Dialect.each``."""
    return _encode(ids).decode()


def _quoted_ids(ids: list[str]) -> str:
    """An id list to compare with JSON values, each quoted as ``winners.value`` holds it."""
    return _encode([_encode(i).decode() for i in ids]).decode()


_DIGITS = re.compile(r"(\d+)")


def _natural(parts: tuple) -> tuple:
    """Sort key that puts 2号楼 before 10号楼 and room 402 before 1201."""
    return tuple(
        tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in _DIGITS.split(str(x or "")))
        for x in parts
    )


async def _rows(db: AnyDatabase, sql: str, *args: Any) -> list[Any]:
    """The rows of ``sql``, in which ``{each}`` and ``{ref}`` stand for the dialect's."""
    d = db.sql
    return await db.select(sql.format(each=d.each(), ref=d.ref_sized("value")), args, live=True)


async def _records(db: AnyDatabase, coll: str, ids: list[str] | None = None) -> dict:
    if ids is None:
        rows = await _rows(db, "SELECT id, field, value, hlc FROM winners WHERE coll = ?", coll)
    else:
        rows = await _rows(
            db,
            "SELECT id, field, value, hlc FROM winners WHERE coll = ? "
            "AND id IN (SELECT value FROM {each})",
            coll,
            _ids(ids),
        )
    # Set fields (needs_open, vulnerable, buildings) folded from their elements.
    out = fold_rows(coll, rows)
    return {k: v for k, v in out.items() if v.get("_deleted") is not True}


async def _by_household(db: AnyDatabase, coll: str, households: list[str]) -> dict:
    rows = await _rows(
        db,
        "SELECT id FROM winners WHERE coll = ? AND field = 'household' "
        "AND value IN (SELECT value FROM {each}) AND {ref}",
        coll,
        _quoted_ids(households),
    )
    return await _records(db, coll, [r[0] for r in rows])


async def _authors(db: AnyDatabase, coll: str, ids: list[str]) -> dict[str, tuple]:
    """Who recorded each record: the person and device of its earliest accepted change."""
    rows = await _rows(
        db,
        "SELECT h.id, h.node, p.name FROM history h LEFT JOIN people p "
        "ON p.id = h.person WHERE h.coll = ? AND h.id IN (SELECT value FROM {each}) "
        "ORDER BY h.hlc DESC",
        coll,
        _ids(ids),
    )
    return {rid: (name or "", node) for rid, node, name in rows}


async def tables(
    db: AnyDatabase, incident: str, within: frozenset[str] | None = None
) -> dict[str, list[dict[str, Any]]] | None:
    """The incident's rows per sheet, or None if there is no such incident; only the
    households in ``within`` (and their visits and deliveries) when it is given: a
    community's coordinator exports their own doors of an incident over several
    communities' buildings."""
    inc = (await _records(db, "incidents", [incident])).get(incident)
    if inc is None:
        return None
    buildings = [b for b in inc.get("buildings") or [] if isinstance(b, str)]
    places = {
        k: (v.get("compound") or "", v.get("label") or "")
        for k, v in (await _records(db, "buildings", buildings)).items()
    }
    hh_ids = [
        r[0]
        for r in await _rows(
            db,
            "SELECT id FROM winners WHERE coll = 'households' AND field = 'building' "
            "AND value IN (SELECT value FROM {each}) AND {ref}",
            _quoted_ids(buildings),
        )
    ]
    if within is not None:
        hh_ids = [h for h in hh_ids if h in within]
    households = await _records(db, "households", hh_ids)
    status = await _records(db, "household_status", [f"{incident}~{h}" for h in households])
    where = {
        h: (*places.get(v.get("building"), ("", "")), v.get("unit"), v.get("room"))
        for h, v in households.items()
    }
    out: dict[str, list[dict[str, Any]]] = {"households": [], "visits": [], "deliveries": []}
    for hid, h in sorted(households.items(), key=lambda kv: _natural(where[kv[0]])):
        st = status.get(f"{incident}~{hid}", {})
        out["households"].append(
            {
                **h,
                "compound": where[hid][0],
                "building": where[hid][1],
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
            compound, b, unit, room = where.get(r.get("household"), ("", "", "", ""))
            name, node = authors.get(rid, ("", ""))
            out[coll].append(
                {
                    **r,
                    "compound": compound,
                    "building": b,
                    "unit": unit,
                    "room": room,
                    # The person of the device that sent it; else the name typed on the
                    # phone; a record loaded on the server (demo, import) has neither.
                    "recorded_by": name or r.get("by") or "",
                    "device": node,
                    "id": rid,
                }
            )
    return out


async def incidents(db: AnyDatabase, ids: list[str] | None = None) -> list[dict[str, Any]]:
    """Every incident (or those of ``ids``) with its community's name, newest first.

    Returns:
        Dicts with ``id``, ``title``, ``kind``, ``status``, ``started_at``, ``community``
        (the id) and ``community_name``.
    """
    incs = await _records(db, "incidents", ids)
    named = sorted({str(v["community"]) for v in incs.values() if v.get("community")})
    communities = await _records(db, "communities", named)
    out = [
        {
            "id": k,
            "title": v.get("title") or "",
            "kind": v.get("kind"),
            "status": v.get("status"),
            "started_at": v.get("started_at"),
            "community": v.get("community"),
            "community_name": (communities.get(v.get("community") or "") or {}).get("name") or "",
        }
        for k, v in incs.items()
    ]
    out.sort(key=lambda i: (str(i["started_at"] or ""), i["id"]), reverse=True)
    return out
