"""``server.db.meta`` inside a caller's PostgreSQL transaction: the twins of its ``*_in``
functions, for the write paths ported to PostgreSQL (``changes.write_records``)."""

import secrets

from server.db.meta import _SQL
from server.db.postgresql.core import PgConn

__all__ = ["get_in", "server_node_in", "set_in"]


async def get_in(conn: PgConn, key: str) -> str | None:
    """``meta.get`` inside the caller's transaction."""
    return await conn.fetchval(_SQL["get"]["postgresql"], key)  # type: ignore[no-any-return]


async def set_in(conn: PgConn, key: str, value: str) -> None:
    """``meta.set`` inside the caller's transaction."""
    await conn.execute(_SQL["set"]["postgresql"], key, value)


async def server_node_in(conn: PgConn) -> str:
    """The HLC node id the server stamps its own changes with (created once).

    Two processes may create it at once (SQLite lets one writer in at a time): the
    second's insert does nothing and it reads the first's.
    """
    node = await get_in(conn, "server_node")
    if node is not None:
        return node
    await conn.execute(_SQL["claim"]["postgresql"], "server_node", secrets.token_hex(8))
    won = await get_in(conn, "server_node")
    assert won is not None
    return won
