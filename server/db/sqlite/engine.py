"""The one way to open the database, and the one write path of a process.

Every connection — the server's, the command line's, the migrations' — is opened by
``connect`` or ``connect_sync`` with the same PRAGMAs. Inside a process, writes go through
``Database.write_fn`` only: one writer connection behind one lock (datasette's
``execute_write_fn``), ``BEGIN IMMEDIATE`` so several processes can share the file. Reads
use a reader connection (sync requests) or a live one (the tailer and public pages), which
WAL never blocks. Nothing outside ``server.db`` sees a connection, a cursor or a lock.
"""

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from server.db.interface import STORAGE_FULL, BaseDatabase
from server.db.sqlite.dialect import SQLITE, SqliteConn
from server.errors import StorageFullError

__all__ = [
    "PRAGMAS",
    "STORAGE_FULL",
    "BaseDatabase",
    "Database",
    "applied",
    "connect",
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


async def connect(path: str) -> aiosqlite.Connection:
    """An asyncio connection with the database's settings."""
    conn = await aiosqlite.connect(path, isolation_level=None, factory=SqliteConn)
    try:
        for pragma in _pragmas():
            await conn.execute(pragma)
    except BaseException:
        await conn.close()
        raise
    return conn


def migrate(path: str) -> list[str]:
    """Create or upgrade the database file at ``path`` (``server.db.migrations``); the
    steps applied now. Each step's ``BEGIN IMMEDIATE`` makes processes starting at once
    wait for each other."""
    from server.db.migrations import migrate_in

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


Conn = aiosqlite.Connection
#: A blocking connection, as functions run in the database thread receive it.
Sql = sqlite3.Connection


class Database(BaseDatabase):
    """The database of one process: a writer, a reader and a live reader connection."""

    dialect = "sqlite"
    sql = SQLITE

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._live: aiosqlite.Connection | None = None
        #: The shared lock on ``lock_path``: a restore is refused while it is held.
        self._held: int | None = None
        self._write_lock = asyncio.Lock()
        self._read_lock = asyncio.Lock()
        self._live_lock = asyncio.Lock()
        #: Changes when the database is restored from a backup (docs/protocol.md, "Epochs").
        self.epoch = ""
        #: (person, role) → (scope stamp, Scope): see ``scopes.scope_in``.
        self.scope_cache: dict[tuple[str, str], tuple[str, Any]] = {}

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
        except BaseException:
            await self.close()
            raise
        try:
            self._writer = await connect(self.path)
            # Server-side decisions are journaled beside the database (server/db/decisions.py).
            await attach_journal(self._writer, self.path)
            self.epoch = await _epoch(self._writer)
            self._reader = await connect(self.path)
            self._live = await connect(self.path)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        for conn in (self._writer, self._reader, self._live):
            if conn is not None:
                await conn.close()
        self._writer = self._reader = self._live = None
        if self._held is not None:
            os.close(self._held)
            self._held = None

    async def __aenter__(self) -> "Database":
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _conn(self, live: bool) -> tuple[aiosqlite.Connection, asyncio.Lock]:
        conn = self._live if live else self._reader
        assert conn is not None, "Database.open() first"
        return conn, (self._live_lock if live else self._read_lock)

    async def read(self, sql: str, args: Sequence[Any] = (), *, live: bool = False) -> list[Any]:
        """Rows of one read query (for ``server.db`` modules only)."""
        conn, lock = self._conn(live)
        async with lock:
            return [tuple(r) for r in await conn.execute_fetchall(sql, args)]

    async def read_fn(self, fn: Callable[[Conn], Awaitable[T]], *, live: bool = False) -> T:
        """Run ``fn`` in one read transaction: one snapshot for several queries."""
        conn, lock = self._conn(live)
        async with lock:
            await conn.execute("BEGIN")
            try:
                return await fn(conn)
            finally:
                await conn.execute("COMMIT")

    async def write_fn(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        """Run ``fn`` in one write transaction; the only way anything is written."""
        conn = self._writer
        assert conn is not None, "Database.open() first"
        async with self._write_lock:
            try:
                await conn.execute("BEGIN IMMEDIATE")
                try:
                    out = await fn(conn)
                    await conn.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        await conn.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                if _full(exc):
                    raise StorageFullError(STORAGE_FULL) from None
                raise
        return out

    async def read_tx(self, fn: Callable[[Any], T], *, live: bool = False) -> T:
        conn, lock = self._conn(live)
        async with lock:
            return await conn._execute(_read_tx, conn, fn)

    async def write_tx(self, fn: Callable[[Any], T], *, appends: bool = False) -> T:
        return await self.write_call(fn)

    async def call(self, fn: Callable[[sqlite3.Connection], T], *, live: bool = False) -> T:
        """Run the blocking ``fn`` in the reader's thread, in one read transaction: several
        queries, one snapshot, one trip to the database thread."""
        conn, lock = self._conn(live)
        async with lock:
            return await conn._execute(_read_tx, conn, fn)

    async def write_call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run the blocking ``fn`` in the writer's thread, in one write transaction that
        begins and ends there: one trip to the database thread for the whole of it (a
        sync request: scope, authorisation, the batch and the pull page)."""
        conn = self._writer
        assert conn is not None, "Database.open() first"
        async with self._write_lock:
            try:
                return await conn._execute(_write_tx, conn, fn)
            except sqlite3.OperationalError as exc:
                if _full(exc):
                    raise StorageFullError(STORAGE_FULL) from None
                raise

    async def write(self, sql: str, args: Sequence[Any] = ()) -> int:
        """One write statement in its own transaction; the number of rows it changed."""

        async def run(conn: Conn) -> int:
            cur = await conn.execute(sql, args)
            return cur.rowcount

        return await self.write_fn(run)


def _full(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


def _read_tx(conn: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """In the connection's thread: ``fn`` in one read transaction."""
    raw = conn._conn
    raw.execute("BEGIN")
    try:
        return fn(raw)
    finally:
        raw.execute("COMMIT")


def _write_tx(conn: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """In the writer's thread: ``fn`` in one ``BEGIN IMMEDIATE`` transaction."""
    raw = conn._conn
    raw.execute("BEGIN IMMEDIATE")
    try:
        out = fn(raw)
        raw.execute("COMMIT")
    except BaseException:
        if raw.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                raw.execute("ROLLBACK")
        raise
    return out


async def attach_journal(conn: aiosqlite.Connection, path: str) -> None:
    from server.db.sqlite.journal import attach_sql

    for sql, args in attach_sql(path):
        await conn.execute(sql, args)


async def _epoch(conn: aiosqlite.Connection) -> str:
    """The database's epoch, created on first open; ``doorstep restore`` replaces it."""
    import secrets

    await conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?)", (secrets.token_hex(8),)
    )
    rows = await conn.execute_fetchall("SELECT value FROM meta WHERE key = 'epoch'")
    return str(next(iter(rows))[0])
