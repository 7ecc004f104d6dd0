"""The live tailer on PostgreSQL (issue 14): woken by LISTEN/NOTIFY, not only by polling.

Every append notifies ``doorstep_log`` at its commit; each server's ``Broker`` listens
(``server.db.postgresql.listen.follow``) and reads the log when it hears one. The brokers here
poll every 60 s, so only a notification — or the one read after the listener
reconnects — can explain a broker reaching a change within the test's wait.
"""

import asyncio
from functools import partial

import pytest
from conftest import run_async

from server.db import changes
from server.db.postgresql.core import PgDatabase
from server.db.postgresql.listen import follow
from server.live import broker as live
from server.live.broker import Broker

NODE = "0123456789abcdef"
SLOW = 60.0  # seconds between polls: longer than any wait below


def _change(n: int) -> tuple:
    stamp = f"{1_700_000_000_000 + n:013d}-0000-{NODE}"
    return (stamp, "visits", f"r{n}", "note", f'"{n}"', NODE, None, "2026-11-30T00:00:00.000Z")


async def _until(check, what: str, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    """Until ``check()`` holds (an event the test watches for, not a guessed time)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        await asyncio.sleep(0.02)


async def _broker(db: PgDatabase) -> Broker:
    broker = Broker(db, poll=SLOW, slow_poll=SLOW)
    broker.follow = partial(follow, db)
    await broker.start()
    await _until(lambda: broker.listening, "the broker listens")
    return broker


def test_a_write_on_another_server_wakes_the_tailer_at_once(pg_url: str) -> None:
    async def main() -> tuple[int, list[int]]:
        async with PgDatabase(pg_url) as here, PgDatabase(pg_url) as there:
            broker = await _broker(here)
            try:
                reached = []
                for n in range(1, 6):
                    _, top = await there.write_tx(
                        lambda conn, n=n: changes.apply_in(conn, [_change(n)]), appends=True
                    )
                    await _until(lambda top=top: broker.last >= top, f"the tailer reaches {top}")
                    reached.append(broker.last)
                return broker.listens, reached
            finally:
                await broker.stop()

    listens, reached = run_async(main())
    assert listens == 1
    assert reached == [1, 2, 3, 4, 5]


def test_a_dropped_listener_reconnects_and_reads_what_it_missed(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Long enough to write while nobody listens, and to see the poll did not do it.
    monkeypatch.setattr(live, "RELISTEN_AFTER", 2.0)

    async def main() -> tuple[int, int, int]:
        async with PgDatabase(pg_url) as here, PgDatabase(pg_url) as there:
            broker = await _broker(here)
            try:
                await there.write_tx(
                    lambda conn: changes.apply_in(conn, [_change(1)]), appends=True
                )
                await _until(lambda: broker.last >= 1, "the first change")
                # The database ends the listener's session (a restart, a failover, an
                # operator's pg_terminate_backend): every session listening on the channel.
                await there.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND (query LIKE 'LISTEN%' OR query = 'SELECT 1')"
                )
                await _until(lambda: not broker.listening, "the broker sees the drop")
                # Written while no one listens: no notification will ever announce it.
                _, top = await there.write_tx(
                    lambda conn: changes.apply_in(conn, [_change(2), _change(3)]), appends=True
                )
                assert broker.last == 1
                await _until(lambda: broker.listens == 2, "the broker listens again")
                await _until(lambda: broker.last >= top, "the read after reconnecting")
                # And it hears the next appends again.
                _, again = await there.write_tx(
                    lambda conn: changes.apply_in(conn, [_change(4)]), appends=True
                )
                await _until(lambda: broker.last >= again, "the next notification")
                return broker.listens, top, broker.last
            finally:
                await broker.stop()

    listens, top, last = run_async(main())
    assert (listens, top, last) == (2, 3, 4)


def test_the_database_says_whether_its_tailer_can_listen(pg_url: str, tmp_path) -> None:
    """``BaseDatabase.follow``, as the app wires it: PostgreSQL listens; SQLite says at
    once that it cannot, and its tailer polls."""
    from server.db.sqlite.engine import Database

    async def main() -> tuple[bool, bool, int, bool]:
        async with PgDatabase(pg_url) as pg, Database(str(tmp_path / "f.db")) as lite:
            heard, polls = Broker(pg, poll=SLOW, slow_poll=SLOW), Broker(lite, poll=0.05)
            heard.follow, polls.follow = pg.follow, lite.follow
            await heard.start()
            await polls.start()
            try:
                await _until(lambda: heard.listening, "PostgreSQL listens")
                await _until(lambda: polls._ear is not None and polls._ear.done(), "SQLite")
                _, top = await lite.write_tx(
                    lambda conn: changes.apply_in(conn, [_change(1)]), appends=True
                )
                await _until(lambda: polls.last >= top, "SQLite's tailer polls")
                return heard.listening, polls.listening, polls.listens, polls.last == top
            finally:
                await heard.stop()
                await polls.stop()

    assert run_async(main()) == (True, False, 0, True)
