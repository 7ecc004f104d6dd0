"""The change log as the live streams read it, on PostgreSQL: what cannot share its code
with ``server.db.log`` (functions that run inside a caller's transaction)."""

from server.db.log import _INCIDENT_BUILDINGS, _scopes
from server.db.pg.core import PgConn

__all__ = ["incident_scopes_in"]


async def incident_scopes_in(conn: PgConn) -> dict[str, list[str]]:
    """``server.db.log.incident_scopes`` inside the caller's transaction (the twin of
    ``log.incident_scopes_in``, which runs in SQLite's database thread)."""
    return _scopes(await conn.fetch(_INCIDENT_BUILDINGS))
