"""Small named values the server keeps: its HLC node, its push key, demo markers.

Both backends: the statements differ only in placeholders and ``INSERT OR IGNORE``
(PostgreSQL: ``ON CONFLICT (key) DO NOTHING``). The ``*_in`` functions take the caller's
connection; their PostgreSQL twins are in ``server.db.postgresql.meta``.
"""

import secrets

from server.db import AnyDatabase
from server.db.postgresql.adapt import dialects
from server.db.sqlite.engine import Conn

__all__ = ["claim", "get", "get_in", "server_node", "server_node_in", "set", "set_in"]


_SQL = {
    "get": dialects("SELECT value FROM meta WHERE key = ?"),
    "set": dialects(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    ),
    "claim": {
        "sqlite": "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
        "postgresql": "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
    },
}


async def get(db: AnyDatabase, key: str) -> str | None:
    rows = await db.read(_SQL["get"][db.dialect], (key,), live=True)
    return rows[0][0] if rows else None


async def set(db: AnyDatabase, key: str, value: str) -> None:
    await db.write(_SQL["set"][db.dialect], (key, value))


async def claim(db: AnyDatabase, key: str, value: str) -> str:
    """Set ``key`` unless another process did first; returns the value that won."""
    await db.write(_SQL["claim"][db.dialect], (key, value))
    won = await get(db, key)
    assert won is not None
    return won


async def get_in(conn: Conn, key: str) -> str | None:
    """``get`` inside the caller's write transaction."""
    rows = list(await conn.execute_fetchall("SELECT value FROM meta WHERE key = ?", (key,)))
    return rows[0][0] if rows else None


async def set_in(conn: Conn, key: str, value: str) -> None:
    """``set`` inside the caller's write transaction."""
    await conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


async def server_node_in(conn: Conn) -> str:
    """The HLC node id the server stamps its own changes with (created once)."""
    rows = await conn.execute_fetchall("SELECT value FROM meta WHERE key = 'server_node'")
    if rows:
        return str(next(iter(rows))[0])
    node = secrets.token_hex(8)
    await conn.execute("INSERT INTO meta (key, value) VALUES ('server_node', ?)", (node,))
    return node


async def server_node(db: AnyDatabase) -> str:
    if db.dialect == "postgresql":
        from server.db.postgresql import meta as pg_meta

        return await db.write_fn(pg_meta.server_node_in)
    return await db.write_fn(server_node_in)
