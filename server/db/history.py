"""The history of one record: every accepted write, including those that lost."""

from server.db import AnyDatabase

__all__ = ["of_record"]

_SQL = {
    "sqlite": "SELECT h.seq, h.field, h.value, h.hlc, h.node, h.person, p.name, h.received_at,"
    " w.hlc = h.hlc FROM history h LEFT JOIN people p ON p.id = h.person"
    " LEFT JOIN winners w ON w.coll = h.coll AND w.id = h.id AND w.field = h.field"
    " WHERE h.coll = ? AND h.id = ? ORDER BY h.field, h.hlc DESC LIMIT ?",
    # A comparison is a boolean in PostgreSQL, 1/0 in SQLite: the same integer on both.
    "postgresql": "SELECT h.seq, h.field, h.value, h.hlc, h.node, h.person, p.name,"
    " h.received_at, (w.hlc = h.hlc)::int FROM history h LEFT JOIN people p ON p.id = h.person"
    " LEFT JOIN winners w ON w.coll = h.coll AND w.id = h.id AND w.field = h.field"
    " WHERE h.coll = $1 AND h.id = $2 ORDER BY h.field, h.hlc DESC LIMIT $3",
}


async def of_record(db: AnyDatabase, coll: str, rid: str, limit: int) -> list[tuple]:
    """Every accepted change of one record, newest stamp first, with the winner marked."""
    return await db.read(_SQL[db.dialect], (coll, rid, limit), live=True)
