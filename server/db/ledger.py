"""What a ledger import compares the file with: a community's buildings and households.

Both backends (``_SQL``, chosen by ``db.dialect``). Ids are compared in their quoted JSON
form, as ``winners.value`` holds them, so the ``winners_ref`` index answers "every
building of this community" and "every household of these buildings".
"""

import json
from typing import Any

from server.db import AnyDatabase
from server.db.log import fold_rows
from server.db.postgresql.adapt import quoted

__all__ = ["buildings_of", "communities", "households_of"]

_SQL = {
    "communities": {
        "sqlite": "SELECT id, field, value, hlc FROM winners WHERE coll = 'communities'",
        "postgresql": "SELECT id, field, value, hlc FROM winners WHERE coll = 'communities'",
    },
    "buildings": {
        "sqlite": "SELECT id, field, value, hlc FROM winners WHERE coll = 'buildings' "
        "AND id IN (SELECT id FROM winners WHERE coll = 'buildings' AND field = 'community' "
        "AND value = ?)",
        "postgresql": "SELECT id, field, value, hlc FROM winners WHERE coll = 'buildings' "
        "AND id IN (SELECT id FROM winners WHERE coll = 'buildings' AND field = 'community' "
        "AND value = $1 AND octet_length(value) <= 512)",
    },
    "households": {
        "sqlite": "SELECT id, field, value, hlc FROM winners WHERE coll = 'households' "
        "AND id IN (SELECT id FROM winners WHERE coll = 'households' AND field = 'building' "
        "AND value IN (SELECT json_quote(value) FROM json_each(?)))",
        "postgresql": "SELECT id, field, value, hlc FROM winners WHERE coll = 'households' "
        "AND id IN (SELECT id FROM winners WHERE coll = 'households' AND field = 'building' "
        "AND value = ANY($1::text[]) AND octet_length(value) <= 512)",
    },
}


def _live(recs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in recs.items() if v.get("_deleted") is not True}


async def communities(db: AnyDatabase) -> dict[str, dict[str, Any]]:
    """Every community: id → record."""
    return _live(fold_rows("communities", await db.read(_SQL["communities"][db.dialect])))


async def buildings_of(db: AnyDatabase, community: str) -> dict[str, dict[str, Any]]:
    """The community's buildings: id → record."""
    rows = await db.read(_SQL["buildings"][db.dialect], (json.dumps(community),))
    return _live(fold_rows("buildings", rows))


async def households_of(db: AnyDatabase, buildings: list[str]) -> dict[str, dict[str, Any]]:
    """The households of these buildings: id → record (``vulnerable`` folded)."""
    if not buildings:
        return {}
    ids: Any = json.dumps(buildings) if db.dialect == "sqlite" else quoted(buildings)
    rows = await db.read(_SQL["households"][db.dialect], (ids,))
    return _live(fold_rows("households", rows))
