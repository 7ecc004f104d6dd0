"""The one way to open the database, and the one write path of a process.

Every connection — the server's, the command line's, the migrations' — is opened by
``connect_sync`` with the same PRAGMAs. Inside a process, writes go through
``Database.write_tx`` only: one writer connection on one thread (datasette's
``execute_write_fn``), ``BEGIN IMMEDIATE`` so several processes can share the file. Reads
use a reader connection (sync requests) or a live one (the tailer and public pages), which
WAL never blocks. Each connection lives on a single-thread executor of its own and runs
blocking functions of it there: plain ``sqlite3``, no asyncio driver (aiosqlite offers no
public way to run a blocking function in its thread). Nothing outside ``server.db`` sees a
connection, a cursor or a lock.
"""

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from server.db.interface import STORAGE_FULL, BaseDatabase, epoch_in, transaction
from server.db.sqlite.dialect import SQLITE, SqliteConn
from server.errors import StorageFullError

__all__ = [
    "PRAGMAS",
    "STORAGE_FULL",
    "BaseDatabase",
    "Database",
    "applied",
    "connect_readonly",
    "connect_sync",
    "exclusive",
    "migrate",
]

T = TypeVar("T")

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # FULL: a change the server has answered for survives power loss, because the device
    # drops it from its outbox on that answer.
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
)


def _pragmas() -> list[str]:
    out = list(PRAGMAS)
    # DOORSTEP_MAX_DB_MB: a cap on the database file, so a flood of writes meets a clear
    # 507 before the disk itself is full (4 KiB pages: SQLite's default page size).
    cap = os.environ.get("DOORSTEP_MAX_DB_MB", "").strip()
    if cap:
        out.append(f"PRAGMA max_page_count={max(1, int(float(cap) * 256))}")
    return out


def connect_sync(path: str) -> sqlite3.Connection:
    """A blocking connection with the database's settings (migrations, tests)."""
    conn = sqlite3.connect(path, isolation_level=None, factory=SqliteConn)
    for pragma in _pragmas():
        conn.execute(pragma)
    return conn


def connect_readonly(path: str | Path) -> sqlite3.Connection:
    """A read-only blocking connection that changes nothing in the file (backups)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def migrate(path: str) -> list[str]:
    """Create or upgrade the database file at ``path`` (``server.db.migrations``); the
    steps applied now. Each step's ``BEGIN IMMEDIATE`` makes processes starting at once
    wait for each other."""
    from server.db.migrations import migrate_in

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = connect_sync(path)
    try:
        return migrate_in(conn)
    finally:
        conn.close()


def applied(path: str) -> list[str]:
    """The steps applied to the database file at ``path``, in order."""
    from server.db.migrations import applied_in

    conn = connect_sync(path)
    try:
        return applied_in(conn)
    finally:
        conn.close()


def lock_path(path: str | Path) -> str:
    """The file every process that has the database open holds a shared lock on."""
    return f"{path}-lock"


def _hold(path: str | Path, how: int) -> int | None:
    """A descriptor of ``lock_path(path)`` holding an ``flock`` of kind ``how``; None
    when another process holds a lock that conflicts."""
    fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, how | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@contextlib.contextmanager
def exclusive(path: str | Path) -> Any:
    """Hold the database ``path`` for a process that replaces its file (``restore``):
    yields True, or False while a server or command has it open (``Database.open`` holds
    a shared lock on the same file until ``close``). The file is moved, not its lock."""
    fd = _hold(path, fcntl.LOCK_EX)
    try:
        yield fd is not None
    finally:
        if fd is not None:
            os.close(fd)


class _Worker:
    """One connection and the one thread that ever uses it (sqlite3 connections belong
    to the thread that opened them): a single-thread executor, and a lock so callers
    queue here in arrival order rather than in the executor."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.conn: sqlite3.Connection | None = None
        self.lock = asyncio.Lock()
        self.thread: ThreadPoolExecutor | None = None

    async def open(self, path: str) -> None:
        self.thread = ThreadPoolExecutor(1, thread_name_prefix=f"doorstep-{self.name}")
        self.conn = await self.run(lambda _: connect_sync(path))

    async def run(self, fn: Callable[[Any], T]) -> T:
        """``fn(conn)`` on this connection's thread: one trip to the database."""
        assert self.thread is not None, "Database.open() first"
        async with self.lock:
            return await asyncio.get_running_loop().run_in_executor(self.thread, fn, self.conn)

    async def close(self) -> None:
        if self.thread is None:
            return
        if self.conn is not None:
            await self.run(lambda conn: conn.close())
            self.conn = None
        self.thread.shutdown(wait=True)
        self.thread = None


class Database(BaseDatabase):
    """The database of one process: a writer, a reader and a live reader connection,
    each on a thread of its own; ``read_tx`` / ``write_tx`` run blocking functions there."""

    sql = SQLITE
    path: str

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = str(path)
        self._writer = _Worker("writer")
        self._reader = _Worker("reader")
        self._live = _Worker("live")
        #: The shared lock on ``lock_path``: a restore is refused while it is held.
        self._held: int | None = None

    async def open(self) -> None:
        if self.path.startswith(("postgresql://", "postgres://")):
            # This class is SQLite's: ``server.db.open_database`` picks PgDatabase for a URL.
            raise ValueError("a postgresql:// URL is opened by server.db.open_database")
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._held = _hold(self.path, fcntl.LOCK_SH)
        if self._held is None:
            raise RuntimeError(
                f"{self.path} is being restored from a backup (doorstep restore): start "
                "the server again when the restore has finished"
            )
        try:
            migrate(self.path)
            await self._writer.open(self.path)
            # Server-side decisions are journaled beside the database (server/db/decisions.py).
            await self._writer.run(lambda conn: _attach_journal(conn, self.path))
            self.epoch = await self.write_tx(epoch_in)
            await self._reader.open(self.path)
            await self._live.open(self.path)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        for worker in (self._writer, self._reader, self._live):
            await worker.close()
        if self._held is not None:
            os.close(self._held)
            self._held = None

    async def read_tx(self, fn: Callable[[Any], T], *, live: bool = False) -> T:
        worker = self._live if live else self._reader
        return await worker.run(lambda conn: transaction(conn, "BEGIN", fn))

    async def write_tx(self, fn: Callable[[Any], T], *, appends: bool = False) -> T:
        # ``appends`` needs nothing here: BEGIN IMMEDIATE already lets one writer in.
        try:
            return await self._writer.run(lambda conn: transaction(conn, "BEGIN IMMEDIATE", fn))
        except sqlite3.OperationalError as exc:
            if self.sql.is_full(exc):
                raise StorageFullError(STORAGE_FULL) from None
            raise


def _attach_journal(conn: sqlite3.Connection, path: str) -> None:
    from server.db.sqlite.journal import attach_sql

    for sql, args in attach_sql(path):
        conn.execute(sql, args)
