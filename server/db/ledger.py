"""What a ledger import compares the file with: a community's buildings and households.

Ids are compared in their quoted JSON form, as ``winners.value`` holds them, so the
``winners_ref`` index answers "every building of this community" and "every household
of these buildings".
"""

from typing import Any

import msgspec

from server.db import AnyDatabase
from server.db.log import fold_rows

__all__ = ["buildings_of", "communities", "households_of"]

_quote = msgspec.json.encode


def _live(recs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in recs.items() if v.get("_deleted") is not True}


async def communities(db: AnyDatabase) -> dict[str, dict[str, Any]]:
    """Every community: id → record."""
    rows = await db.select("SELECT id, field, value, hlc FROM winners WHERE coll = 'communities'")
    return _live(fold_rows("communities", rows))


async def buildings_of(db: AnyDatabase, community: str) -> dict[str, dict[str, Any]]:
    """The community's buildings: id → record."""
    rows = await db.select(
        "SELECT id, field, value, hlc FROM winners WHERE coll = 'buildings' "
        "AND id IN (SELECT id FROM winners WHERE coll = 'buildings' AND field = 'community' "
        f"AND value = ? AND {db.sql.ref_sized('value')})",
        (_quote(community).decode(),),
    )
    return _live(fold_rows("buildings", rows))


async def households_of(db: AnyDatabase, buildings: list[str]) -> dict[str, dict[str, Any]]:
    """The households of these buildings: id → record (``vulnerable`` folded)."""
    if not buildings:
        return {}
    d = db.sql
    rows = await db.select(
        "SELECT id, field, value, hlc FROM winners WHERE coll = 'households' "
        "AND id IN (SELECT id FROM winners WHERE coll = 'households' AND field = 'building' "
        f"AND value IN (SELECT value FROM {d.each()}) AND {d.ref_sized('value')})",
        (_quote([_quote(b).decode() for b in buildings]).decode(),),
    )
    return _live(fold_rows("households", rows))
