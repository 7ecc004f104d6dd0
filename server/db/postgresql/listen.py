"""The live tailer's ear on PostgreSQL: one connection LISTENing on the log's channel.

Every append notifies ``doorstep_log`` with the log's new top at its commit
(``changes.apply_in``); ``follow`` hears it on a dedicated connection (outside the pool)
and returns when that connection is lost, so the caller (``server.live.broker.Broker``)
reconnects. A notification is only a hint: the tailer still reads ``seq > last``, so one
lost with the connection costs one poll, and the caller reads once after reconnecting.

A connection the server closes (a restart, ``pg_terminate_backend``, a failover) ends
with a termination callback; a connection cut by the network sends nothing, so the
connection is probed every ``check_every`` seconds too.
"""

import asyncio
import contextlib
from collections.abc import Callable

import asyncpg

from server.db.postgresql.core import LOG_CHANNEL, PgDatabase, connect

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
    failed connect raises (``OSError``, ``asyncpg.PostgresError``).

    ``stop`` ends it even if a cancellation was lost on the way (Python 3.11's
    ``asyncio.wait_for``, used by the driver, can swallow one)."""
    stop = stop or asyncio.Event()
    conn = await connect(db.url)
    lost = asyncio.Event()

    def heard(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        with contextlib.suppress(ValueError):
            on_top(int(payload))

    try:
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(LOG_CHANNEL, heard)
        on_ready()
        while not lost.is_set() and not stop.is_set():
            await _either(lost, stop, check_every)
            if lost.is_set() or stop.is_set() or conn.is_closed():
                return
            try:
                await asyncio.wait_for(conn.fetchval("SELECT 1"), check_every)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                return
    finally:
        if not conn.is_closed():
            conn.terminate()


async def _either(a: asyncio.Event, b: asyncio.Event, timeout: float) -> None:
    """Until ``a`` or ``b`` is set, at most ``timeout`` seconds."""
    waits = {asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())}
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
