"""All SQL of the server, behind named async functions, one module per topic.

``Database`` opens the connections (``connect_sync``: the settings in one place) and owns
the one write path (``write_tx``). Everything else calls functions such as
``devices.revoke(db, node, at)`` or ``changes.write_records(db, records)``; no other module
touches a connection, a cursor or a lock (``tests/test_db_boundary.py`` checks).
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from server.db.sqlite.engine import BaseDatabase, Database, connect_sync

__all__ = [
    "AnyDatabase",
    "Database",
    "applied",
    "connect_sync",
    "engine_of",
    "migrate",
    "open_database",
    "run",
]

T = TypeVar("T")

#: Either backend: modules write their SQL once; where it differs they ask
#: ``conn.dialect`` (docs/postgresql.md, "How a module is ported").
AnyDatabase = BaseDatabase


def open_database(url: str) -> AnyDatabase:
    """The database named by ``--db``: a SQLite file, or ``postgresql://…`` (not opened:
    ``await db.open()`` or ``async with``). The one place the backend is chosen."""
    from server.db import postgresql as pg

    if pg.is_url(url):
        from server.db.postgresql.core import PgDatabase

        return PgDatabase(url)
    return Database(url)


def migrate(db: str) -> list[str]:
    """Create or upgrade the database named by ``--db`` (``server.db.migrations``, as at
    every start); the steps applied now. Blocking.

    Raises:
        MigrationError: the schema cannot be brought up to date (a newer Doorstep's, or
            on PostgreSQL no server there), with one line that says why.
    """
    from server.db import postgresql as pg

    if pg.is_url(db):
        from server.db.postgresql.core import migrate as migrate_pg

        return migrate_pg(db)
    from server.db.sqlite.engine import migrate as migrate_sqlite

    return migrate_sqlite(db)


def engine_of(db: str) -> str:
    """The name of the engine ``--db`` names ("sqlite" or "postgresql"), for messages."""
    from server.db import postgresql as pg

    return "postgresql" if pg.is_url(db) else "sqlite"


def applied(db: str) -> list[str]:
    """The steps applied to the database named by ``--db``, in order. Blocking."""
    from server.db import postgresql as pg

    if pg.is_url(db):
        from server.db.postgresql.core import applied as applied_pg

        return applied_pg(db)
    from server.db.sqlite.engine import applied as applied_sqlite

    return applied_sqlite(db)


def run(path: str, fn: Callable[[AnyDatabase], Awaitable[T]]) -> T:
    """Open the database at ``path``, await ``fn(db)``, close it: for the command line."""

    async def main() -> T:
        async with open_database(path) as db:
            return await fn(db)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    # Called from inside an event loop (a test driving Playwright): run in a thread.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()
