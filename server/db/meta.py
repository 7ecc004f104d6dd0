"""Small named values the server keeps: its HLC node, its push key, demo markers."""

import secrets

from server.db.core import Conn, Database

__all__ = ["claim", "get", "get_in", "server_node", "server_node_in", "set", "set_in"]


async def get(db: Database, key: str) -> str | None:
    rows = await db.read("SELECT value FROM meta WHERE key = ?", (key,), live=True)
    return rows[0][0] if rows else None


async def set(db: Database, key: str, value: str) -> None:
    await db.write(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


async def claim(db: Database, key: str, value: str) -> str:
    """Set ``key`` unless another process did first; returns the value that won."""
    await db.write("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value))
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


async def server_node(db: Database) -> str:
    return await db.write_fn(server_node_in)
