"""The one database interface the rest of the server talks to (docs/database.md).

``BaseDatabase`` is what both engines offer: ``read_tx`` / ``write_tx`` run a blocking
function of a ``server.db.dialect.Conn`` on a worker thread in one transaction;
``select`` / ``execute`` are one statement each. The engines live in
``server.db.sqlite`` and ``server.db.postgresql``, which import this module and
``server.db.dialect`` and never each other; ``server.db.open_database`` picks one.
"""

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any, Self, TypeVar

from server.db.dialect import Dialect

__all__ = ["STORAGE_FULL", "BaseDatabase", "epoch_in", "transaction"]

T = TypeVar("T")


#: What a client is told when the database cannot grow (507), on either backend.
STORAGE_FULL = (
    "the server's storage is full: nothing was saved; your changes stay "
    "on this device and are sent again later. Tell the coordinator."
)


class BaseDatabase:
    """What every engine's database offers the rest of the server (``server.db``'s
    ``AnyDatabase``): ``sqlite.engine.Database`` and ``postgresql.core.PgDatabase``."""

    #: The engine's ``server.db.dialect.Dialect``: what differs in its SQL.
    sql: Dialect
    #: Changes when the database is restored from a backup (docs/protocol.md, "Epochs").
    epoch: str
    #: The database's file on this machine (SQLite); None when a database server holds
    #: it (PostgreSQL), whose disk is watched there, not by this process.
    path: str | None = None
    #: (person, role) → (scope stamp, Scope): see ``scopes.scope_in``.
    scope_cache: dict[tuple[str, str], tuple[str, Any]]

    def __init__(self) -> None:
        self.epoch = ""
        self.scope_cache = {}

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    # The one interface (docs/database.md): blocking functions of a ``Conn``, written
    # once in SQLite's spelling, run on a worker thread in one transaction.
    async def read_tx(self, fn: Callable[[Any], T], *, live: bool = False) -> T:
        """Run ``fn(conn)`` on a worker thread in one read transaction (one snapshot).

        Args:
            live: use the connection kept for the live tailer and the public pages, so
                they never queue behind sync requests' reads.
        """
        raise NotImplementedError

    async def write_tx(self, fn: Callable[[Any], T], *, appends: bool = False) -> T:
        """Run ``fn(conn)`` on a worker thread in one write transaction: the only way
        anything is written.

        Args:
            appends: ``fn`` may append to the change log; the dialect's ordering lock is
                taken as the transaction's first statement (``Dialect.order_in``).

        Raises:
            StorageFullError: the database cannot grow; nothing was saved.
        """
        raise NotImplementedError

    async def follow(
        self,
        on_top: Callable[[int], object],
        on_ready: Callable[[], object],
        stop: asyncio.Event,
    ) -> bool:
        """Hear every process's appends to the change log as they commit (the live
        tailer, ``server.live.broker``): ``on_ready()`` once listening, ``on_top(seq)``
        per append, until the connection is lost or ``stop`` is set.

        Returns:
            False at once when the engine cannot notify (SQLite): the tailer polls.
        """
        return False

    async def select(self, sql: str, args: Sequence[Any] = (), *, live: bool = False) -> list[Any]:
        """The rows of one read query, as tuples."""
        return await self.read_tx(
            lambda conn: [tuple(r) for r in conn.execute(sql, args)], live=live
        )

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """One write statement in its own transaction; the number of rows it changed."""
        return await self.write_tx(lambda conn: conn.execute(sql, args).rowcount)


def epoch_in(conn: Any) -> str:
    """The database's epoch, created on its first open; ``doorstep restore`` replaces it
    (docs/protocol.md, "Epochs"). Both engines' ``open`` run it in a write transaction."""
    import secrets

    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('epoch', ?) ON CONFLICT (key) DO NOTHING",
        (secrets.token_hex(8),),
    )
    return str(conn.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0])


def transaction(conn: Any, begin: str, fn: Callable[[Any], T]) -> T:
    """``fn(conn)`` between ``begin`` and ``COMMIT``, on the worker thread of either
    engine's ``read_tx`` / ``write_tx``; ``ROLLBACK`` when it raises (which may fail in
    turn: SQLite ends the transaction itself on a full disk, a lost PostgreSQL
    connection is closed; the first error is the one that counts)."""
    conn.execute(begin)
    try:
        out = fn(conn)
    except BaseException:
        with contextlib.suppress(Exception):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return out
