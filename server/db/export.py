"""The rows of an incident's export: households, visits, deliveries, and who recorded them.

Both backends (``_SQL``, chosen by ``db.dialect``): SQLite takes an id list as JSON text
for ``json_each``; PostgreSQL takes a ``text[]`` array, and the quoted ids that
``winners.value`` is compared with are quoted in Python (``pg.adapt.quoted``) exactly as
``json_quote`` does, with ``octet_length(value) <= 512`` so that ``winners_ref`` is used.
"""

import json
import re
from typing import Any

from server.db import AnyDatabase
from server.db.log import fold_rows
from server.db.postgresql.adapt import quoted

__all__ = ["incidents", "tables"]


_SQL = {
    "records": {
        "sqlite": "SELECT id, field, value, hlc FROM winners WHERE coll = ?",
        "postgresql": "SELECT id, field, value, hlc FROM winners WHERE coll = $1",
    },
    "records_of": {
        "sqlite": "SELECT id, field, value, hlc FROM winners WHERE coll = ? "
        "AND id IN (SELECT value FROM json_each(?))",
        "postgresql": "SELECT id, field, value, hlc FROM winners WHERE coll = $1 "
        "AND id = ANY($2::text[])",
    },
    "by_household": {
        "sqlite": "SELECT id FROM winners WHERE coll = ? AND field = 'household' "
        "AND value IN (SELECT json_quote(value) FROM json_each(?))",
        "postgresql": "SELECT id FROM winners WHERE coll = $1 AND field = 'household' "
        "AND value = ANY($2::text[]) AND octet_length(value) <= 512",
    },
    "authors": {
        "sqlite": "SELECT h.id, h.node, p.name FROM history h LEFT JOIN people p "
        "ON p.id = h.person WHERE h.coll = ? AND h.id IN (SELECT value FROM json_each(?)) "
        "ORDER BY h.hlc DESC",
        "postgresql": "SELECT h.id, h.node, p.name FROM history h LEFT JOIN people p "
        "ON p.id = h.person WHERE h.coll = $1 AND h.id = ANY($2::text[]) "
        "ORDER BY h.hlc DESC",
    },
    "households": {
        "sqlite": "SELECT id FROM winners WHERE coll = 'households' AND field = 'building' "
        "AND value IN (SELECT json_quote(value) FROM json_each(?))",
        "postgresql": "SELECT id FROM winners WHERE coll = 'households' AND field = 'building' "
        "AND value = ANY($1::text[]) AND octet_length(value) <= 512",
    },
}


_DIGITS = re.compile(r"(\d+)")


def _natural(parts: tuple) -> tuple:
    """Sort key that puts 2号楼 before 10号楼 and room 402 before 1201."""
    return tuple(
        tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in _DIGITS.split(str(x or "")))
        for x in parts
    )


def _ids(db: AnyDatabase, ids: list[str]) -> Any:
    """An id list as the dialect's statements take it."""
    return json.dumps(ids) if db.dialect == "sqlite" else ids


def _quoted_ids(db: AnyDatabase, ids: list[str]) -> Any:
    """An id list to compare with JSON values (SQLite quotes them with ``json_quote``)."""
    return json.dumps(ids) if db.dialect == "sqlite" else quoted(ids)


async def _records(db: AnyDatabase, coll: str, ids: list[str] | None = None) -> dict:
    if ids is None:
        sql, args = _SQL["records"][db.dialect], [coll]
    else:
        sql, args = _SQL["records_of"][db.dialect], [coll, _ids(db, ids)]
    # Set fields (needs_open, vulnerable, buildings) folded from their elements.
    out = fold_rows(coll, await db.read(sql, args, live=True))
    return {k: v for k, v in out.items() if v.get("_deleted") is not True}


async def _by_household(db: AnyDatabase, coll: str, households: list[str]) -> dict:
    rows = await db.read(
        _SQL["by_household"][db.dialect], (coll, _quoted_ids(db, households)), live=True
    )
    return await _records(db, coll, [r[0] for r in rows])


async def _authors(db: AnyDatabase, coll: str, ids: list[str]) -> dict[str, tuple]:
    """Who recorded each record: the person and device of its earliest accepted change."""
    rows = await db.read(_SQL["authors"][db.dialect], (coll, _ids(db, ids)), live=True)
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
        for r in await db.read(
            _SQL["households"][db.dialect], (_quoted_ids(db, buildings),), live=True
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
