"""The quarantine: rejected changes kept with their reason for a coordinator to review."""

from server.db.core import Database

__all__ = ["listing", "resolve"]


async def listing(db: Database, limit: int, include_resolved: bool) -> list[tuple]:
    sql = (
        "SELECT q.qid, q.hlc, q.node, q.person, p.name, q.coll, q.id, q.field, q.raw, "
        "q.error, q.message, q.received_at, q.resolved_at FROM quarantine q "
        "LEFT JOIN people p ON p.id = q.person"
    )
    if not include_resolved:
        sql += " WHERE q.resolved_at IS NULL"
    sql += " ORDER BY q.qid DESC LIMIT ?"
    return await db.read(sql, (limit,), live=True)


async def resolve(db: Database, qid: int, now: str) -> bool:
    """Mark a rejected change as reviewed; False if there is no such unresolved change."""
    return (
        await db.write(
            "UPDATE quarantine SET resolved_at = ? WHERE qid = ? AND resolved_at IS NULL",
            (now, qid),
        )
        == 1
    )
