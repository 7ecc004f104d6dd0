"""Sequence order = commit order on PostgreSQL (issue 14).

A reader that tails ``seq > cursor`` (a device's pull, the SSE tailer after
``Last-Event-ID``) must never skip or repeat a change, with writers on several
connections of several processes. The negative control shows, without any timing, that
a plain sequence does skip; the ordering lock (``Dialect.order_in``, taken by
``write_tx(..., appends=True)``) makes the same
interleaving wait instead, and many concurrent writers never make a tailer skip.
"""

import asyncio
import random
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from conftest import run_async

from server.db import changes, log
from server.db.postgresql.core import LOG_LOCK, PgDatabase, options
from server.db.postgresql.dialect import POSTGRESQL, PgConn
from server.db.postgresql.listen import follow
from server.db.sqlite.engine import Database

NODE = "0123456789abcdef"


def _change(n: int, coll: str = "visits", rid: str = "", field: str = "note") -> tuple:
    """History row n: a distinct field of a distinct record unless told otherwise."""
    stamp = f"{1_700_000_000_000 + n:013d}-0000-{NODE}"
    return (stamp, coll, rid or f"r{n}", field, f'"{n}"', NODE, None, "2026-11-30T00:00:00.000Z")


def _append(db: Any, rows: list[tuple], *, ordered: bool = True) -> Any:
    """``rows`` appended through the one write path: with the ordering lock (what every
    append does), or without it (the unordered baseline)."""
    return db.write_tx(lambda conn: changes.apply_in(conn, rows), appends=ordered)


async def _pull(db: Any, cursor: int, limit: int) -> tuple[list[tuple], int, bool]:
    """A page of winners after ``cursor`` and the cursor to resume from, read in one
    statement (one snapshot), as a device's pull reads them."""
    both = await db.select(
        "SELECT p.*, t.top FROM (SELECT coalesce(max(seq), 0) AS top FROM history) AS t "
        "LEFT JOIN (SELECT seq, coll, id, field, value, hlc FROM winners WHERE seq > ? "
        "ORDER BY seq LIMIT ?) AS p ON 1 = 1 ORDER BY p.seq",
        (cursor, limit + 1),
    )
    rows, new_cursor, more = changes.cut_page([r[:6] for r in both if r[0] is not None], limit)
    return rows, max(cursor, both[0][6]) if new_cursor is None else new_cursor, more


class _Slow:
    """A transaction held open on a connection of its own (blocking calls on a thread),
    to interleave with the server's."""

    def __init__(self, url: str) -> None:
        self.raw = psycopg.connect(url, autocommit=True, options=options())
        self.raw.execute("BEGIN")
        self.conn = PgConn(self.raw)

    async def run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(fn, self.conn, *args)

    async def commit(self) -> None:
        await asyncio.to_thread(self.raw.execute, "COMMIT")

    async def close(self) -> None:
        await asyncio.to_thread(self.raw.close)


async def _waiting_for_the_log_lock(db: PgDatabase) -> None:
    """Until some backend waits for ``LOG_LOCK`` (an event PostgreSQL reports, not a
    time this test guesses)."""
    while not await db.select(
        "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = ?",
        (LOG_LOCK,),
    ):
        await asyncio.sleep(0.01)


def test_a_plain_sequence_lets_a_tailer_skip_a_change(pg_url: str) -> None:
    # The negative control: the hazard is real, step by step, no timing involved.
    async def main() -> tuple[list[int], list[int], int]:
        async with PgDatabase(pg_url) as db:
            slow = await asyncio.to_thread(_Slow, pg_url)
            try:
                await slow.run(changes.apply_in, [_change(1)])  # takes seq 1, no lock
                await _append(db, [_change(2)], ordered=False)  # seq 2, commits first
                page, cursor, _ = await _pull(db, 0, 100)
                await slow.commit()  # seq 1 commits after a reader passed it
            finally:
                await slow.close()
            later, _, _ = await _pull(db, cursor, 100)
            return [r[0] for r in page], [r[0] for r in later], await changes.max_seq(db)

    first, later, top = run_async(main())
    assert first == [2] and later == [] and top == 2  # seq 1 was never delivered


def test_the_ordering_lock_makes_the_later_writer_wait(pg_url: str) -> None:
    # The same interleaving with the lock: the second writer waits for the first to
    # commit, so the reader sees nothing, then both changes in order.
    async def main() -> tuple[list[int], int, list[int]]:
        async with PgDatabase(pg_url) as db:
            slow = await asyncio.to_thread(_Slow, pg_url)
            try:
                await slow.run(POSTGRESQL.order_in)  # what write_tx(appends=True) does
                await slow.run(changes.apply_in, [_change(1)])
                second = asyncio.create_task(_append(db, [_change(2)]))
                await asyncio.wait_for(_waiting_for_the_log_lock(db), 60)
                early, cursor, _ = await _pull(db, 0, 100)
                await slow.commit()
            finally:
                await slow.close()
            await second
            rows, _, _ = await _pull(db, cursor, 100)
            return [r[0] for r in early], cursor, [r[0] for r in rows]

    early, cursor, rows = run_async(main())
    assert early == [] and cursor == 0
    assert rows == [1, 2]


WRITERS_PER_SERVER = 3
SERVERS = 2
TRANSACTIONS = 40


def _batches() -> Iterator[list[tuple]]:
    n = 0
    for t in range(SERVERS * WRITERS_PER_SERVER * TRANSACTIONS):
        size = 1 + t % 3
        yield [_change(n + i) for i in range(size)]
        n += size


def test_concurrent_writers_on_two_servers_never_make_a_tailer_skip_or_repeat(
    pg_url: str,
) -> None:
    batches = list(_batches())
    written = {(c[1], c[2], c[3]) for batch in batches for c in batch}

    async def main() -> tuple[list[int], list[tuple], list[int], set[tuple], int]:
        servers = [PgDatabase(pg_url, max_size=WRITERS_PER_SERVER) for _ in range(SERVERS)]
        reader = PgDatabase(pg_url, min_size=1, max_size=2)
        for db in [*servers, reader]:
            await db.open()
        try:
            queue = list(batches)

            async def writer(db: PgDatabase) -> None:
                while queue:
                    await _append(db, queue.pop())

            writers = asyncio.gather(
                *(writer(db) for db in servers for _ in range(WRITERS_PER_SERVER))
            )
            pulled: list[int] = []
            pulled_keys: list[tuple] = []
            tailed: list[int] = []
            cursor = last = 0
            done = False
            while True:
                # A device's pull (winners) and the live tailer (history), side by side.
                rows, new_cursor, more = await _pull(reader, cursor, 5)
                assert new_cursor >= cursor
                pulled += [r[0] for r in rows]
                pulled_keys += [(r[1], r[2], r[3]) for r in rows]
                cursor = new_cursor
                for row in await log.tail(reader, last, 7):
                    tailed.append(row[0])
                    last = row[0]
                if done and not more and cursor == last == await changes.max_seq(reader):
                    break
                done = writers.done()
                await asyncio.sleep(0)
            await writers
            everything = [r[0] for r in await reader.select("SELECT seq FROM history ORDER BY seq")]
            return pulled, pulled_keys, tailed, set(everything), len(everything)
        finally:
            for db in [*servers, reader]:
                await db.close()

    pulled, pulled_keys, tailed, everything, count = run_async(main())
    assert count == len(written)
    # Never repeat: strictly increasing. Never skip: everything committed was delivered.
    assert pulled == sorted(set(pulled)) and set(pulled) == everything
    assert set(pulled_keys) == written
    assert tailed == sorted(set(tailed)) and set(tailed) == everything


def test_the_merge_picks_the_same_winners_as_sqlite(pg_url: str, tmp_path: Path) -> None:
    # Out-of-order stamps, two changes to one field in one batch (PostgreSQL refuses an
    # upsert that touches a row twice; SQLite does not), and a batch sent twice.
    batches = [
        [_change(5, rid="a"), _change(3, rid="a"), _change(4, rid="b")],
        [_change(2, rid="a"), _change(9, rid="b"), _change(8, rid="b")],
        [_change(9, rid="b"), _change(10, rid="c")],
        [_change(11, rid="c", field="note", coll="households")],
    ]
    # A long note that does not compress: an index on values (winners_ref) that took it
    # whole would exceed PostgreSQL's B-tree entry limit (~2.7 kB) and refuse the write.
    note = "".join(random.Random(14).choices(string.ascii_letters + "街道志愿者", k=12_000))
    batches.append([(*_change(12, rid="d")[:4], f'"{note}"', *_change(12)[5:])])

    async def on(db: Any) -> list[tuple]:
        async with db:
            for batch in batches:
                await _append(db, batch)
            rows, _, _ = await _pull(db, 0, 1000)
        return rows

    sqlite_rows = run_async(on(Database(str(tmp_path / "d.db"))))
    pg_rows = run_async(on(PgDatabase(pg_url)))
    assert [r[1:] for r in pg_rows] == [r[1:] for r in sqlite_rows]
    assert {(r[2], r[4]) for r in sqlite_rows} >= {("a", '"5"'), ("b", '"9"')}


def test_taking_the_log_lock_late_can_deadlock_and_taking_it_first_cannot(pg_url: str) -> None:
    deadlock = psycopg.errors.DeadlockDetected

    def late_append(conn: Any, rows: list[tuple]) -> None:
        POSTGRESQL.order_in(conn)  # a no-op when already held
        changes.apply_in(conn, rows)

    async def main(first: bool) -> str:
        async with PgDatabase(pg_url) as db:
            await db.execute(
                "INSERT INTO people (id, role) VALUES ('p1', 'volunteer') "
                "ON CONFLICT (id) DO NOTHING"
            )
            base = 1000 if first else 2000
            slow = await asyncio.to_thread(_Slow, pg_url)
            try:
                if first:
                    await slow.run(POSTGRESQL.order_in)  # what write_tx(appends=True) does
                await slow.run(
                    lambda conn: conn.execute(
                        "UPDATE people SET role = 'coordinator' WHERE id = 'p1'"
                    )
                )
                other = asyncio.create_task(_append(db, [_change(base, coll="assignments")]))
                # The other append waits: for the log lock (first) or, holding the log
                # lock, for the meta row this transaction's trigger locked (late).
                await asyncio.wait_for(_waiting(db), 60)
                try:
                    await slow.run(late_append, [_change(base + 1)])
                    await slow.commit()
                    outcome = "committed"
                except deadlock:
                    outcome = "deadlock"
            finally:
                await slow.close()
            try:
                await other
            except deadlock:
                # PostgreSQL may break the cycle on either side.
                outcome = "deadlock"
            return outcome

    # PostgreSQL breaks the cycle by failing one of the two (after deadlock_timeout).
    assert run_async(main(first=False)) == "deadlock"
    assert run_async(main(first=True)) == "committed"


async def _waiting(db: PgDatabase) -> None:
    while not await db.select("SELECT 1 FROM pg_locks WHERE NOT granted"):
        await asyncio.sleep(0.01)


def test_every_server_hears_each_append_at_commit_in_commit_order(pg_url: str) -> None:
    # LISTEN/NOTIFY wakes the other servers' tailers: a notification is never heard
    # before its rows are visible, and the tops heard only grow.
    async def main() -> tuple[list[int], list[tuple[int, int]], int]:
        writer_server = PgDatabase(pg_url, max_size=4)
        other_server = PgDatabase(pg_url, max_size=2)
        await writer_server.open()
        await other_server.open()
        try:
            heard: list[int] = []
            early: list[tuple[int, int]] = []
            checks: list[asyncio.Task] = []

            async def visible(top: int) -> None:
                seen = await changes.max_seq(other_server)
                if seen < top:
                    early.append((top, seen))

            def on_top(top: int) -> None:
                heard.append(top)
                checks.append(asyncio.create_task(visible(top)))

            ready, stop = asyncio.Event(), asyncio.Event()
            listener = asyncio.create_task(follow(other_server, on_top, ready.set, stop))
            await ready.wait()
            queue = [[_change(n * 3 + i) for i in range(1 + n % 3)] for n in range(60)]
            total = sum(len(b) for b in queue)

            async def writer() -> None:
                while queue:
                    await _append(writer_server, queue.pop())

            await asyncio.gather(*(writer() for _ in range(4)))
            top = await changes.max_seq(writer_server)
            while not heard or heard[-1] < top:
                await asyncio.sleep(0.01)
            await asyncio.gather(*checks)
            stop.set()
            await listener
            assert top == total
            return heard, early, top
        finally:
            await writer_server.close()
            await other_server.close()

    heard, early, top = run_async(asyncio.wait_for(main(), 120))
    assert heard == sorted(set(heard)) and len(heard) == 60 and heard[-1] == top
    assert early == []
