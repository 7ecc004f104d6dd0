"""The one database interface the rest of the server talks to (docs/database.md).

``BaseDatabase`` is what both engines offer: ``read_tx`` / ``write_tx`` run a blocking
function of a ``server.db.dialect.Conn`` on a worker thread in one transaction;
``select`` / ``execute`` are one statement each. The engines live in
``server.db.sqlite`` and ``server.db.postgresql``, which import this module and
``server.db.dialect`` and never each other; ``server.db.open_database`` picks one.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from server.db.dialect import Dialect

__all__ = ["STORAGE_FULL", "BaseDatabase"]

T = TypeVar("T")


#: What a client is told when the database cannot grow (507), on either backend.
STORAGE_FULL = (
    "the server's storage is full: nothing was saved; your changes stay "
    "on this device and are sent again later. Tell the coordinator."
)
#: Its former name, still imported by code written before the rename.
_FULL = STORAGE_FULL


class BaseDatabase:
    """What every backend's database offers the rest of the server (``server.db``'s
    ``AnyDatabase``): SQLite's ``Database`` here, PostgreSQL's ``pg.core.PgDatabase``."""

    #: "sqlite" or "postgresql" (transitional: modules still ported branch on it).
    dialect = ""
    #: The engine's ``server.db.dialect.Dialect``: what differs in its SQL.
    sql: Dialect
    #: Changes when the database is restored from a backup (docs/protocol.md, "Epochs").
    epoch: str
    #: (person, role) → (scope stamp, Scope): see ``scopes.scope_in``.
    scope_cache: dict[tuple[str, str], tuple[str, Any]]

    # What both backends offer with the same meaning; the connection ``fn`` receives is
    # the backend's own (modules branch on ``dialect`` before they use it).
    async def open(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def read(self, sql: str, args: Sequence[Any] = (), *, live: bool = False) -> list[Any]:
        """Rows of one read query, as tuples (SQL in the backend's dialect)."""
        raise NotImplementedError

    async def read_fn(self, fn: Callable[[Any], Awaitable[T]], *, live: bool = False) -> T:
        """Run ``fn(conn)`` in one read transaction: one snapshot for several queries."""
        raise NotImplementedError

    async def write_fn(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``fn(conn)`` in one write transaction; the only way anything is written."""
        raise NotImplementedError

    async def write(self, sql: str, args: Sequence[Any] = ()) -> int:
        """One write statement in its own transaction; the number of rows it changed."""
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
