"""Small named values the server keeps: its HLC node, its push key, demo markers.

One set of statements for both engines; the ``*_in`` functions run inside the caller's
transaction (``changes.write_records_in``).
"""

import secrets

from server.db.dialect import Conn
from server.db.interface import BaseDatabase

__all__ = ["claim", "claim_in", "get", "get_in", "server_node", "server_node_in", "set", "set_in"]

_GET = "SELECT value FROM meta WHERE key = ?"
_SET = (
    "INSERT INTO meta (key, value) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
_CLAIM = "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"


def get_in(conn: Conn, key: str) -> str | None:
    """``get`` inside the caller's transaction."""
    row = conn.execute(_GET, (key,)).fetchone()
    return None if row is None else row[0]


def set_in(conn: Conn, key: str, value: str) -> None:
    """``set`` inside the caller's write transaction."""
    conn.execute(_SET, (key, value))


def claim_in(conn: Conn, key: str, value: str) -> str:
    """``claim`` inside the caller's write transaction."""
    conn.execute(_CLAIM, (key, value))
    won = get_in(conn, key)
    assert won is not None
    return won


def server_node_in(conn: Conn) -> str:
    """The HLC node id the server stamps its own changes with (created once).

    Two processes on PostgreSQL may create it at once (SQLite lets one writer in at a
    time): the second's insert does nothing and it reads the first's.
    """
    return get_in(conn, "server_node") or claim_in(conn, "server_node", secrets.token_hex(8))


async def get(db: BaseDatabase, key: str) -> str | None:
    return await db.read_tx(lambda conn: get_in(conn, key), live=True)


async def set(db: BaseDatabase, key: str, value: str) -> None:
    await db.write_tx(lambda conn: set_in(conn, key, value))


async def claim(db: BaseDatabase, key: str, value: str) -> str:
    """Set ``key`` unless another process did first; returns the value that won."""
    return await db.write_tx(lambda conn: claim_in(conn, key, value))


async def server_node(db: BaseDatabase) -> str:
    return await db.write_tx(server_node_in)
