"""What the operator's metrics read from the database (server/http/metrics.py)."""

from server.db import AnyDatabase

__all__ = ["database_bytes", "health"]


async def health(db: AnyDatabase) -> tuple[int, str | None, int]:
    """(open quarantine entries, time of the last backup or None, top sequence)."""
    rows = await db.select(
        "SELECT (SELECT count(*) FROM quarantine WHERE resolved_at IS NULL), "
        "(SELECT value FROM meta WHERE key = 'last_backup_at'), "
        "(SELECT coalesce(max(seq), 0) FROM history)"
    )
    open_q, backup_at, top = rows[0]
    return int(open_q), backup_at, int(top)


async def database_bytes(db: AnyDatabase) -> int:
    """The database's size on PostgreSQL's disk (SQLite's is its file: server/http/metrics.py)."""
    rows = await db.select("SELECT pg_database_size(current_database())")
    return int(rows[0][0])
