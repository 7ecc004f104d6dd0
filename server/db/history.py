"""The history of one record: every accepted write, including those that lost."""

from server.db.interface import BaseDatabase

__all__ = ["of_record"]

# ``CAST(... AS INTEGER)``: a comparison is a boolean on PostgreSQL, 1/0 on SQLite; the
# same integer (NULL with no winner) on both.
_SQL = (
    "SELECT h.seq, h.field, h.value, h.hlc, h.node, h.person, p.name, h.received_at,"
    " CAST(w.hlc = h.hlc AS INTEGER) FROM history h LEFT JOIN people p ON p.id = h.person"
    " LEFT JOIN winners w ON w.coll = h.coll AND w.id = h.id AND w.field = h.field"
    " WHERE h.coll = ? AND h.id = ? ORDER BY h.field, h.hlc DESC LIMIT ?"
)


async def of_record(db: BaseDatabase, coll: str, rid: str, limit: int) -> list[tuple]:
    """Every accepted change of one record, newest stamp first, with the winner marked."""
    return await db.select(_SQL, (coll, rid, limit), live=True)
