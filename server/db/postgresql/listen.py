"""The live tailer's ear on PostgreSQL: one connection LISTENing on the log's channel.

Every append notifies ``doorstep_log`` with the log's new top at its commit
(``server.db.changes.apply_in`` → ``PgDialect.notify_top``); ``follow`` hears it on a
dedicated psycopg connection (outside the pool) and returns when that connection is
lost, so the caller (``server.live.broker.Broker``) reconnects. A notification is only a hint:
the tailer still reads ``seq > last``, so one lost with the connection costs one poll,
and the caller reads once after reconnecting.

A connection the server closes (a restart, ``pg_terminate_backend``, a failover) ends
the wait for notifications with an error; a connection cut by the network sends
nothing, so the connection is probed every ``check_every`` seconds too.
"""

import asyncio
import contextlib
from collections.abc import Callable

import psycopg

from server.db.postgresql.core import PgDatabase, options
from server.db.postgresql.dialect import LOG_CHANNEL

__all__ = ["follow"]


async def follow(
    db: PgDatabase,
    on_top: Callable[[int], object],
    on_ready: Callable[[], object],
    stop: asyncio.Event | None = None,
    *,
    check_every: float = 5.0,
) -> None:
    """Listen until the connection is lost or ``stop`` is set, then return. ``on_ready()``
    is called once the listener is in place (the caller reads the log then: anything
    committed before it was not announced to it); ``on_top(seq)`` for every append. A
    failed connect raises (``OSError``, ``psycopg.Error``).

    ``stop`` ends it at once, even if a cancellation was lost on the way."""
    stop = stop or asyncio.Event()
    conn = await psycopg.AsyncConnection.connect(db.url, autocommit=True, options=options())
    try:
        await conn.execute(f"LISTEN {LOG_CHANNEL}")
        on_ready()
        while not stop.is_set():
            heard = asyncio.ensure_future(_hear(conn, on_top, check_every))
            halt = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({heard, halt}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                # Also when this task is cancelled: the wait must be over before the
                # connection closes (psycopg unregisters its socket when it ends).
                halt.cancel()
                if not heard.done():
                    heard.cancel()
                    with contextlib.suppress(asyncio.CancelledError, psycopg.Error):
                        await heard
            if stop.is_set() or heard.cancelled() or not heard.result():
                return  # stopped, or the connection was lost
    finally:
        await conn.close()


async def _hear(
    conn: psycopg.AsyncConnection, on_top: Callable[[int], object], wait: float
) -> bool:
    """Pass on the notifications of ``wait`` seconds, then probe the connection. False
    when it is lost."""
    try:
        async for note in conn.notifies(timeout=wait):
            with contextlib.suppress(ValueError):
                on_top(int(note.payload))
        await asyncio.wait_for(conn.execute("SELECT 1"), wait)
    except (OSError, TimeoutError, psycopg.Error):
        return False
    return True
