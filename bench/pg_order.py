"""The cost per change of PostgreSQL's ordering design (issue 14), with SQLite beside it.

Every transaction that appends to the change log takes one advisory lock
(``server/db/postgresql/core.py``), so sequence values commit in order. This measures what that
costs: the same writes — W concurrent writers, each committing T transactions of B
changes through ``server.db.changes.apply_in`` in ``write_tx`` — with the lock
(``appends=True``) and without it (the unordered baseline that can make a tailer skip),
on the same cluster in the same run, and the same writes on SQLite (one process; its
write lock and BEGIN IMMEDIATE serialise them). Rounds interleave the modes on fresh
databases; medians are compared.

The cluster is a throwaway one (tests/pg.py) with fsync ON, as SQLite's
synchronous=FULL is: the lock's main cost is that commits (and their WAL flushes) run one
at a time instead of being grouped. Pass --url to measure an existing database instead.
Run: .venv/bin/python bench/pg_order.py [--writers 4] [--transactions 100]
     [--batch 1,20] [--rounds 3]
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from pg import Cluster, find_bindir  # noqa: E402

from server.db import changes  # noqa: E402
from server.db.postgresql.core import PgDatabase, connect  # noqa: E402
from server.db.sqlite.engine import Database  # noqa: E402

NODE = "0123456789abcdef"


def workload(writers: int, transactions: int, batch: int) -> list[list[list[tuple]]]:
    """Per writer, its transactions; each change a distinct field, stamped in order."""
    out, n = [], 0
    for _ in range(writers):
        mine = []
        for _ in range(transactions):
            rows = []
            for _ in range(batch):
                stamp = f"{1_700_000_000_000 + n:013d}-0000-{NODE}"
                rows.append((stamp, "visits", f"r{n}", "note", f'"{n}"', NODE, None, "2026-11-30"))
                n += 1
            mine.append(rows)
        out.append(mine)
    return out


async def timed(work: list[list[list[tuple]]], apply: Callable[[list[tuple]], Awaitable]) -> float:
    async def writer(mine: list[list[tuple]]) -> None:
        for rows in mine:
            await apply(rows)

    t0 = time.perf_counter()
    await asyncio.gather(*(writer(mine) for mine in work))
    return time.perf_counter() - t0


async def pg_run(url: str, work: list, *, ordered: bool) -> float:
    async with PgDatabase(url, min_size=len(work), max_size=len(work)) as db:
        seconds = await timed(
            work,
            lambda rows: db.write_tx(lambda c: changes.apply_in(c, rows), appends=ordered),
        )
        assert await changes.max_seq(db) >= sum(len(t) for mine in work for t in mine)
    return seconds


async def sqlite_run(path: str, work: list) -> float:
    async with Database(path) as db:
        return await timed(
            work, lambda rows: db.write_tx(lambda c: changes.apply_in(c, rows), appends=True)
        )


async def create_database(maintenance: str) -> str:
    """A fresh database beside ``maintenance``'s; its URL."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    await asyncio.to_thread(_run, maintenance, f"CREATE DATABASE {name}")
    parts = urlsplit(maintenance)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def drop_database(maintenance: str, url: str) -> None:
    name = urlsplit(url).path[1:]
    await asyncio.to_thread(_run, maintenance, f"DROP DATABASE {name} WITH (FORCE)")


def _run(url: str, sql: str) -> None:
    """One statement outside a transaction (CREATE / DROP DATABASE)."""
    with connect(url) as raw:
        raw.execute(sql)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--transactions", type=int, default=100, help="per writer")
    ap.add_argument("--batch", default="1,20", help="changes per transaction (list)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--url", help="an existing PostgreSQL server's maintenance database URL")
    args = ap.parse_args()

    cluster = None
    if args.url is None:
        bindir = find_bindir()
        if bindir is None:
            sys.exit("PostgreSQL's initdb/pg_ctl not found: bash .ci/setup --test")
        cluster = Cluster(bindir, durable=True).start()
    maintenance = cluster.url() if cluster else args.url
    try:
        print(
            f"{args.writers} concurrent writers x {args.transactions} transactions; "
            f"median of {args.rounds} rounds; µs per change (lower is better)"
        )
        print(
            f"{'batch':>5} {'pg+lock':>9} {'pg plain':>9} {'sqlite':>9} "
            f"{'lock/plain':>10} {'lock/sqlite':>11}"
        )
        for batch in (int(b) for b in args.batch.split(",")):
            work = workload(args.writers, args.transactions, batch)
            total = args.writers * args.transactions * batch
            times: dict[str, list[float]] = {"lock": [], "plain": [], "sqlite": []}
            for _ in range(args.rounds):
                for mode in times:
                    if mode == "sqlite":
                        with tempfile.TemporaryDirectory() as tmp:
                            s = asyncio.run(sqlite_run(f"{tmp}/d.db", work))
                    else:
                        url = asyncio.run(create_database(maintenance))
                        try:
                            s = asyncio.run(pg_run(url, work, ordered=mode == "lock"))
                        finally:
                            asyncio.run(drop_database(maintenance, url))
                    times[mode].append(s / total * 1e6)
            lock, plain, lite = (statistics.median(times[m]) for m in ("lock", "plain", "sqlite"))
            print(
                f"{batch:>5} {lock:>9.0f} {plain:>9.0f} {lite:>9.0f} "
                f"{lock / plain:>9.2f}x {lock / lite:>10.2f}x"
            )
    finally:
        if cluster:
            cluster.stop()


if __name__ == "__main__":
    main()
