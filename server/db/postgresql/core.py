"""The one way to open PostgreSQL, and the lock that keeps sequence order = commit order.

Every connection — the server's pool, the migrations', a command's — is opened with
the settings below (``options``), by psycopg, as ``server.db.sqlite.engine`` does for
SQLite; ``read_tx`` / ``write_tx`` run blocking functions on worker threads.

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
import concurrent.futures
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool

from server.db.interface import STORAGE_FULL, BaseDatabase, epoch_in, transaction
from server.db.postgresql import redact
from server.db.postgresql.dialect import LOG_CHANNEL, LOG_LOCK, POSTGRESQL, PgConn
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
    "redact",
]

T = TypeVar("T")

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
    # psycopg prepares a statement from its 5th execution, and PostgreSQL then plans a
    # prepared statement once for every parameter: the pull page's generic plan took
    # 72 ms where a plan for the actual cursor and scope takes 3 (bench/storm_profile.py).
    "plan_cache_mode": "force_custom_plan",
}


#: What the driver raises when no server answers, a login fails or a statement fails:
#: the command line says it in one line (``describe``), never with a traceback.
DRIVER_ERRORS: tuple[type[BaseException], ...] = (OSError, psycopg.Error)


def describe(exc: BaseException, url: str) -> str:
    """One line for the command line about a failure of the database at ``url``."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    # No SQLSTATE: the connection, not a statement, failed (an OSError without a file
    # name is the network's, not a file's).
    if (isinstance(exc, psycopg.OperationalError) and exc.sqlstate is None) or (
        isinstance(exc, OSError) and exc.filename is None
    ):
        return f"cannot reach the database {redact(url)}: {first}"
    return first


def connect(url: str) -> psycopg.Connection:
    """One blocking connection in autocommit mode with the database's settings
    (commands, tests); ``PgConn(connect(url))`` speaks SQLite's spelling."""
    return psycopg.connect(url, autocommit=True, options=options())


class PgDatabase(BaseDatabase):
    """The PostgreSQL database of one process: a pool of psycopg connections and the
    worker threads that use them.

    The counterpart of ``server.db.sqlite.engine.Database``. Several processes share the
    database; the ordering lock, not a lock in this process, orders their appends to
    the log.
    """

    sql = POSTGRESQL

    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 10) -> None:
        super().__init__()
        self.url = url
        self._threads: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool: ConnectionPool | None = None
        self._sizes = (min_size, max_size)

    async def open(self) -> None:
        await asyncio.to_thread(migrate, self.url)
        self._threads = concurrent.futures.ThreadPoolExecutor(
            self._sizes[1], thread_name_prefix="doorstep-pg"
        )
        self._pool = ConnectionPool(
            self.url,
            min_size=self._sizes[0],
            max_size=self._sizes[1],
            kwargs={"autocommit": True, "options": options()},
            open=False,
            name="doorstep",
        )
        try:
            await self._run(lambda: self._pool.open(wait=True, timeout=30))  # type: ignore[union-attr]
            self.epoch = await self.write_tx(epoch_in)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await self._run(lambda: pool.close(10))
        if self._threads is not None:
            threads, self._threads = self._threads, None
            threads.shutdown(wait=False)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._threads is not None, "PgDatabase.open() first"
        return await asyncio.get_running_loop().run_in_executor(self._threads, fn, *args)

    async def read_tx(self, fn: Callable[[Any], T], *, live: bool = False) -> T:
        assert self._pool is not None, "PgDatabase.open() first"
        return await self._run(_read_tx, self._pool, fn)

    async def select(self, sql: str, args: Sequence[Any] = (), *, live: bool = False) -> list[Any]:
        """One statement is its own snapshot: run without ``BEGIN`` / ``COMMIT``, one
        round trip instead of three (``devices.for_token`` answers every request)."""
        assert self._pool is not None, "PgDatabase.open() first"
        return await self._run(_select, self._pool, sql, args)

    async def write_tx(self, fn: Callable[[Any], T], *, appends: bool = False) -> T:
        """See ``BaseDatabase.write_tx``. ``appends`` takes the ordering lock as the
        transaction's first statement. First, because the log's triggers update
        ``meta.scope_seq``: a transaction that locked that row (a change to ``people``)
        and only then waited for the log lock would deadlock with an append waiting for
        the row. ``changes.apply_in`` takes the lock again (a no-op when held) so an
        append can never run without it."""
        assert self._pool is not None, "PgDatabase.open() first"
        return await self._run(_write_tx, self._pool, fn, appends)

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
    try:
        raw = connect(url)
    except (psycopg.OperationalError, psycopg.ProgrammingError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise error(f"cannot reach the database {redact(url)}: {first}") from None
    try:
        # No lock_timeout here: a server starting beside one that migrates (a long index
        # build) waits for it rather than failing to start.
        raw.execute("SET lock_timeout = 0")
        raw.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
        try:
            return fn(PgConn(raw))
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
        return transaction(PgConn(raw), "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", fn)


def _select(pool: Any, sql: str, args: Sequence[Any]) -> list[Any]:
    """On a worker thread: the rows of one statement, in autocommit."""
    with pool.connection() as raw:
        return [tuple(r) for r in PgConn(raw).execute(sql, args)]


def _write_tx(pool: Any, fn: Callable[[Any], T], appends: bool) -> T:
    """On a worker thread: ``fn`` in one READ COMMITTED write transaction; the ordering
    lock first when it may append to the log (see the module docstring)."""

    def run(conn: PgConn) -> T:
        if appends:
            POSTGRESQL.order_in(conn)
        return fn(conn)

    try:
        with pool.connection() as raw:
            return transaction(PgConn(raw), "BEGIN ISOLATION LEVEL READ COMMITTED", run)
    except psycopg.errors.DiskFull:
        raise StorageFullError(STORAGE_FULL) from None
