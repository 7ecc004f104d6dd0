"""The one way to open PostgreSQL, and the lock that keeps sequence order = commit order.

Every connection — the server's pool, the migrations', a command's — is opened by
``connect`` or ``PgDatabase.open`` with the settings below, as ``server.db.sqlite.engine`` does
for SQLite.

Sequence order = commit order (docs/postgresql.md, "Ordering"). On SQLite ``BEGIN
IMMEDIATE`` lets one writer in at a time, so a change with a larger ``seq`` never commits
before one with a smaller ``seq``, and a reader tailing ``seq > last`` never skips. On
PostgreSQL two transactions on two connections (two app servers) take sequence values
and commit in either order: a reader could see 12, move its cursor past 11 and never
see 11 when it commits. So every transaction that appends to the log first takes the
transaction-scoped advisory lock ``LOG_LOCK`` (``order_in``): it allocates its ``seq``
values only while holding the lock and releases it only at its COMMIT or ROLLBACK, so
appends commit one at a time, in ``seq`` order, whichever process makes them. Writes
that do not touch the log (``last_seen``, sessions) do not wait for it.

The isolation level must stay READ COMMITTED (PostgreSQL's default, set below): each
statement after the lock then sees every append committed before it, so the merge's
``seq > before`` and the pull's top are exact. Under REPEATABLE READ the snapshot would
date from before the wait.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg

from server.db.interface import STORAGE_FULL, BaseDatabase
from server.db.postgresql import redact
from server.db.postgresql.dialect import LOG_CHANNEL, LOG_LOCK, POSTGRESQL
from server.db.postgresql.dialect import PgConn as SqlConn
from server.errors import StorageFullError

__all__ = [
    "DRIVER_ERRORS",
    "LOG_CHANNEL",
    "LOG_LOCK",
    "SETTINGS",
    "PgConn",
    "PgDatabase",
    "applied",
    "connect",
    "describe",
    "migrate",
    "order_in",
    "redact",
]

T = TypeVar("T")
PgConn = asyncpg.Connection

#: The migrations' session lock key ('dmig').
MIGRATE_LOCK = 0x646D6967

#: Server settings of every connection.
SETTINGS = {
    "application_name": "doorstep",
    # Timestamps are stored as ISO text made by the server; keep the session in UTC so
    # anything PostgreSQL formats agrees with them.
    "timezone": "UTC",
    # See the module docstring: the ordering design needs per-statement snapshots.
    "default_transaction_isolation": "read committed",
    # A change the server answered for survives a crash (SQLite: synchronous=FULL).
    "synchronous_commit": "on",
    # A writer waiting for the log lock behind a stuck transaction fails after this
    # instead of holding a request forever; the device retries (its outbox keeps it).
    "lock_timeout": "30s",
    "idle_in_transaction_session_timeout": "60s",
}


#: What the driver raises when no server answers, a login fails or a statement fails:
#: the command line says it in one line (``describe``), never with a traceback.
DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


def describe(exc: BaseException, url: str) -> str:
    """One line for the command line about a failure of the database at ``url``."""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, OSError) and exc.filename is None:  # the driver's, not a file's
        return f"cannot reach the database {redact(url)}: {first}"
    return first


async def connect(url: str) -> asyncpg.Connection:
    """One connection with the database's settings (migrations, commands, tests)."""
    return await asyncpg.connect(url, server_settings=SETTINGS)


async def order_in(conn: asyncpg.Connection) -> None:
    """Take the change log's ordering lock, inside the caller's transaction: call it
    before the transaction allocates any ``seq`` (see the module docstring)."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", LOG_LOCK)


class PgDatabase(BaseDatabase):
    """The PostgreSQL database of one process: a pool of connections.

    The counterpart of ``server.db.sqlite.engine.Database``: ``read`` / ``read_fn`` for reads,
    ``write_fn`` for every write transaction. Several processes share the database; the
    ordering lock, not a lock in this process, orders their appends to the log.
    """

    dialect = "postgresql"
    sql = POSTGRESQL

    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 10) -> None:
        self.url = url
        self._pool: asyncpg.Pool | None = None
        #: psycopg's pool and the worker threads that use it (``read_tx`` / ``write_tx``).
        self._threads: Any = None
        self._sync_pool: Any = None
        self._listener: asyncpg.Connection | None = None
        self._sizes = (min_size, max_size)
        #: Changes when the database is restored from a backup (docs/protocol.md, "Epochs").
        self.epoch = ""
        #: (person, role) → (scope stamp, Scope): see ``scopes.scope_in``.
        self.scope_cache: dict[tuple[str, str], tuple[str, Any]] = {}

    async def open(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, migrate, self.url)
        self._pool = await asyncpg.create_pool(
            self.url,
            min_size=self._sizes[0],
            max_size=self._sizes[1],
            server_settings=SETTINGS,
        )
        import concurrent.futures

        from psycopg_pool import ConnectionPool

        self._threads = concurrent.futures.ThreadPoolExecutor(
            self._sizes[1], thread_name_prefix="doorstep-pg"
        )
        self._sync_pool = ConnectionPool(
            self.url,
            min_size=self._sizes[0],
            max_size=self._sizes[1],
            kwargs={"autocommit": True, "options": options()},
            open=False,
            name="doorstep",
        )
        try:
            await asyncio.get_running_loop().run_in_executor(
                self._threads, lambda: self._sync_pool.open(wait=True, timeout=30)
            )
            self.epoch = await self.write_fn(_epoch)
        except BaseException:
            await self.close()
            raise

    async def listen(self, on_top: Callable[[int], object]) -> None:
        """Call ``on_top(seq)`` whenever any process commits an append to the log, with
        the log's top after it, in commit order: what wakes the tailer (docs/postgresql.md,
        "The tailer"). A hint only — the tailer still reads ``seq > last``, so a
        notification lost with a dropped connection costs one poll interval."""
        if self._listener is None:
            self._listener = await connect(self.url)

        def heard(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            on_top(int(payload))

        await self._listener.add_listener(LOG_CHANNEL, heard)

    async def close(self) -> None:
        if self._listener is not None:
            listener, self._listener = self._listener, None
            await listener.close()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.wait_for(pool.close(), 10)
        if self._sync_pool is not None:
            sync_pool, self._sync_pool = self._sync_pool, None
            threads, self._threads = self._threads, None
            await asyncio.get_running_loop().run_in_executor(threads, sync_pool.close, 10)
            threads.shutdown(wait=False)

    async def __aenter__(self) -> "PgDatabase":
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _get_pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "PgDatabase.open() first"
        return self._pool

    async def read(self, sql: str, args: Sequence[Any] = (), *, live: bool = False) -> list[Any]:
        """Rows of one read query, as tuples (for ``server.db`` modules only)."""
        async with self._get_pool().acquire() as conn:
            return [tuple(r) for r in await conn.fetch(sql, *args)]

    async def read_fn(self, fn: Callable[[PgConn], Awaitable[T]], *, live: bool = False) -> T:
        """Run ``fn`` in one read-only transaction with one snapshot for all its queries."""
        async with (
            self._get_pool().acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            return await fn(conn)

    async def write_fn(self, fn: Callable[[PgConn], Awaitable[T]], *, appends: bool = False) -> T:
        """Run ``fn`` in one READ COMMITTED write transaction; the only way anything is
        written.

        Args:
            appends: ``fn`` may append to the change log: take the ordering lock as the
                transaction's first statement. First, because the log's triggers update
                ``meta.scope_seq``: a transaction that locked that row (a change to
                ``people``) and only then waited for the log lock would deadlock with an
                append waiting for the row. ``changes.apply_in`` takes the lock again
                (a no-op when held) so an append can never run without it.
        """
        try:
            async with (
                self._get_pool().acquire() as conn,
                conn.transaction(isolation="read_committed"),
            ):
                if appends:
                    await order_in(conn)
                return await fn(conn)
        except asyncpg.DiskFullError:
            # SQLSTATE 53100: nothing was saved; the device keeps its outbox (507).
            raise StorageFullError(STORAGE_FULL) from None

    async def write(self, sql: str, args: Sequence[Any] = ()) -> int:
        """One write statement in its own transaction; the number of rows it changed (as
        ``Database.write``: read from PostgreSQL's status, 'UPDATE 1')."""
        from server.db.postgresql.adapt import changed

        async def run(conn: PgConn) -> int:
            return changed(await conn.execute(sql, *args))

        return await self.write_fn(run)

    async def read_tx(self, fn: Callable[[Any], T], *, live: bool = False) -> T:
        assert self._sync_pool is not None, "PgDatabase.open() first"
        return await asyncio.get_running_loop().run_in_executor(
            self._threads, _read_tx, self._sync_pool, fn
        )

    async def select(self, sql: str, args: Sequence[Any] = (), *, live: bool = False) -> list[Any]:
        """One statement is its own snapshot: run without ``BEGIN`` / ``COMMIT``, one
        round trip instead of three (``devices.for_token`` answers every request)."""
        assert self._sync_pool is not None, "PgDatabase.open() first"
        return await asyncio.get_running_loop().run_in_executor(
            self._threads, _select, self._sync_pool, sql, args
        )

    async def write_tx(self, fn: Callable[[Any], T], *, appends: bool = False) -> T:
        assert self._sync_pool is not None, "PgDatabase.open() first"
        return await asyncio.get_running_loop().run_in_executor(
            self._threads, _write_tx, self._sync_pool, fn, appends
        )

    async def follow(
        self,
        on_top: Callable[[int], object],
        on_ready: Callable[[], object],
        stop: asyncio.Event,
    ) -> bool:
        """LISTEN on the log's channel (``server.db.postgresql.listen``)."""
        from server.db.postgresql.listen import follow

        await follow(self, on_top, on_ready, stop)
        return True


def migrate(url: str) -> list[str]:
    """Create or upgrade the database at ``url`` (``server.db.migrations``); the steps
    applied now. The session advisory lock ``MIGRATE_LOCK`` lets three servers start at
    once: one migrates, the others wait and then find nothing to do.

    Raises:
        MigrationError: also for the usual driver failures (no server there, a wrong
            database name or password, a bad URL), with the driver's first line.
    """
    from server.db.migrations import MigrationError, migrate_in

    return _blocking(url, migrate_in, MigrationError)


def applied(url: str) -> list[str]:
    """The steps applied to the database at ``url``, in order."""
    from server.db.migrations import MigrationError, applied_in

    return _blocking(url, applied_in, MigrationError)


def _blocking(url: str, fn: Callable[[Any], T], error: type[Exception]) -> T:
    import psycopg

    try:
        raw = psycopg.connect(url, autocommit=True, options=options())
    except (psycopg.OperationalError, psycopg.ProgrammingError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise error(f"cannot reach the database {redact(url)}: {first}") from None
    try:
        # No lock_timeout here: a server starting beside one that migrates (a long index
        # build) waits for it rather than failing to start.
        raw.execute("SET lock_timeout = 0")
        raw.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
        try:
            return fn(SqlConn(raw))
        finally:
            if not raw.closed:
                raw.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK,))
    finally:
        raw.close()


def options() -> str:
    """``SETTINGS`` as libpq's ``options``: every psycopg connection gets them."""
    escaped = {k: v.replace(" ", "\\ ") for k, v in SETTINGS.items()}
    return " ".join(f"-c {k}={v}" for k, v in escaped.items())


def _read_tx(pool: Any, fn: Callable[[Any], T]) -> T:
    """On a worker thread: ``fn`` in one read-only transaction, one snapshot."""
    with pool.connection() as raw:
        raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            out = fn(SqlConn(raw))
        except BaseException:
            raw.execute("ROLLBACK")
            raise
        raw.execute("COMMIT")
        return out


def _select(pool: Any, sql: str, args: Sequence[Any]) -> list[Any]:
    """On a worker thread: the rows of one statement, in autocommit."""
    with pool.connection() as raw:
        return [tuple(r) for r in SqlConn(raw).execute(sql, args)]


def _write_tx(pool: Any, fn: Callable[[Any], T], appends: bool) -> T:
    """On a worker thread: ``fn`` in one READ COMMITTED write transaction; the ordering
    lock first when it may append to the log (see the module docstring)."""
    import psycopg

    try:
        with pool.connection() as raw:
            raw.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
            try:
                conn = SqlConn(raw)
                if appends:
                    POSTGRESQL.order_in(conn)
                out = fn(conn)
            except BaseException:
                if not raw.closed:
                    raw.execute("ROLLBACK")
                raise
            raw.execute("COMMIT")
            return out
    except psycopg.errors.DiskFull:
        raise StorageFullError(STORAGE_FULL) from None


async def _epoch(conn: PgConn) -> str:
    """The database's epoch, created on first open (as ``server.db.sqlite.engine._epoch``)."""
    import secrets

    await conn.execute(
        "INSERT INTO meta (key, value) VALUES ('epoch', $1) ON CONFLICT (key) DO NOTHING",
        secrets.token_hex(8),
    )
    return str(await conn.fetchval("SELECT value FROM meta WHERE key = 'epoch'"))
