"""Importing a community's 住户台账: compare the file with the records, then write the
difference through the server's one write path (``changes.write_records``), in one batch.

A household is known by community + 院 + 楼号 + 单元 + 门牌号, so importing the same file
again writes nothing, an edited row updates the household it always was (same id), and a
household the file no longer lists is reported, never deleted. Only the fields the file
has are compared and written: a ledger without a 人口 column leaves 人口 as it is.
"""

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, Any

from server.db import AnyDatabase, changes
from server.db import ledger as store
from server.ledger.address import fold, number
from server.ledger.reader import MAX_FILE, sheets
from server.ledger.table import Entry, Parsed, parse_sheets
from sync.ids import uuid7

__all__ = ["MAX_MISSING", "building_label", "import_ledger", "read_ledger"]

#: Missing households listed by address in a summary (the count is always whole).
MAX_MISSING = 500

Rec = tuple[str, str, dict[str, Any]]


def read_ledger(
    data: IO[bytes], mapping: Mapping[str, str] | None = None, *, max_bytes: int = MAX_FILE
) -> Parsed:
    """Read and check a whole ledger file (nothing is written).

    Raises:
        LedgerError: the file cannot be imported at all.
    """
    size = data.seek(0, os.SEEK_END)
    data.seek(0)
    return parse_sheets(sheets(data, size, max_bytes=max_bytes), mapping)


def building_label(compound: str, building: str) -> str:
    """A building's label as the demo and the console show it: 丽源路55号院3号楼."""
    return f"{compound}{building}号楼" if building.isdigit() else f"{compound}{building}楼"


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _same(field: str, old: Any, new: Any) -> bool:
    if _empty(old) and _empty(new):  # a new household is written without empty fields
        return True
    if field == "vulnerable":
        return set(old or []) == set(new or [])
    return old == new


async def import_ledger(
    db: AnyDatabase,
    parsed: Parsed,
    *,
    community: str | None = None,
    community_id: str | None = None,
    street: str | None = None,
    dry_run: bool = False,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Import the households of a read ledger into a community (created if new).

    Args:
        community: the community's name (the command line).
        community_id: the community itself (the console, for a coordinator's own).
        dry_run: compare and count, write nothing.

    Returns:
        The summary: added, updated, unchanged, buildings (created), rejected rows, and
        the addresses of the community's households missing from the file.
    """
    at = at or datetime.now(UTC)
    ms = int(at.timestamp() * 1000)
    records: list[Rec] = []
    if community_id is None:
        wanted = fold(community or "")
        known = await store.communities(db)
        community_id = next(
            (k for k, v in known.items() if fold(v.get("name") or "") == wanted), None
        )
        if community_id is None:
            community_id = uuid7(ms)
            fields = {"name": (community or "").strip()}
            if street:
                fields["street"] = street.strip()
            records.append(("communities", community_id, fields))
    buildings = await store.buildings_of(db, community_id)
    by_label = {
        (fold(b.get("compound") or ""), fold(b.get("label") or "")): bid
        for bid, b in buildings.items()
    }
    households = await store.households_of(db, list(buildings))
    by_key = {
        (h.get("building"), number(str(h.get("unit") or "")), number(str(h.get("room") or ""))): hid
        for hid, h in households.items()
    }
    new_buildings: dict[str, list[Entry]] = {}
    seen: set[str] = set()
    added = updated = unchanged = 0
    for entry in parsed.entries.values():
        compound, building, unit, room = entry.key
        label = building_label(compound, building)
        bid = by_label.get((fold(compound), fold(label)))
        if bid is None:
            bid = uuid7(ms)
            by_label[(fold(compound), fold(label))] = bid
            new_buildings[bid] = []
            records.append(
                (
                    "buildings",
                    bid,
                    {"community": community_id, "compound": compound, "label": label},
                )
            )
        if bid in new_buildings:
            new_buildings[bid].append(entry)
        hid = by_key.get((bid, unit, room))
        if hid is None:
            hid = uuid7(ms)
            by_key[(bid, unit, room)] = hid
            fields = {f: v for f, v in entry.fields.items() if not _empty(v)}
            records.append(
                ("households", hid, {"building": bid, "unit": unit, "room": room, **fields})
            )
            added += 1
        elif hid in seen:
            continue
        else:
            old = households[hid]
            changed = {f: v for f, v in entry.fields.items() if not _same(f, old.get(f), v)}
            if changed:
                records.append(("households", hid, changed))
                updated += 1
            else:
                unchanged += 1
        seen.add(hid)
    for bid, entries in new_buildings.items():
        records.append(("buildings", bid, _size(entries)))
    missing = [_where(h, buildings) for hid, h in households.items() if hid not in seen]
    if records and not dry_run:
        await changes.write_records(db, records, at=at)
    summary: dict[str, Any] = {
        "added": added,
        "updated": updated,
        "unchanged": unchanged,
        "buildings": len(new_buildings),
    }
    if missing:
        summary["missing"] = len(missing)
        summary["missing_addresses"] = sorted(missing)[:MAX_MISSING]
    if parsed.skipped:
        summary["sheets_skipped"] = parsed.skipped
    summary["rejected"] = parsed.rejected
    summary["community_id"] = community_id
    return summary


def _where(household: dict[str, Any], buildings: dict[str, dict[str, Any]]) -> str:
    label = (buildings.get(household.get("building") or "") or {}).get("label") or ""
    unit = household.get("unit")
    return f"{label}{f'{unit}单元' if unit else ''}{household.get('room') or ''}"


def _size(entries: list[Entry]) -> dict[str, int]:
    """A new building's units and floors, from its doors (401 is on the 4th floor)."""
    out: dict[str, int] = {}
    units = [int(e.key[2]) for e in entries if e.key[2].isdigit()]
    floors = [int(e.key[3]) // 100 for e in entries if e.key[3].isdigit() and len(e.key[3]) >= 3]
    if units and 1 <= max(units) <= 100:
        out["units"] = max(units)
    if floors and 1 <= max(floors) <= 200:
        out["floors"] = max(floors)
    return out
