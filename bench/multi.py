"""The reconnect storm and ingest on 1 or 3 app servers over one database (#14).

The same storm as ``bench/storm.py`` (every volunteer phone, scoped to its building,
pushes ``--per`` visit changes at once, then every phone pulls to the head), then the
ingest of ``bench/sync_push.py`` spread over three coordinator devices (each pushes its
share in requests of 1,000, one after another, each carrying the cursor of the previous
answer; the three at once). Each run gets a fresh copy of one prepared database: the
world, the enrolled phones and their assignments are made once, on SQLite, and copied
(``copy_database`` for SQLite, ``server.db.move.copy`` for PostgreSQL, which
keeps the seq values, so every run starts at the same cursors).

``--runs`` lists the runs as ``backend:servers``. The default, ``sqlite:1,sqlite:3``, is
one SQLite file with one and with three ``doorstep serve``; the issue's comparison is
``sqlite:1,postgresql:1,postgresql:3``. The first run is the baseline of the ratios. The
phones are spread evenly over a run's servers (phone i talks to server i mod n, as a load
balancer would spread them; no proxy in between, so the figures are the app servers', not
TLS's). PostgreSQL is a throwaway cluster (``tests/pg.py``) with fsync on, as SQLite's
``synchronous=FULL``, or ``--url`` (a maintenance database: each run creates and drops
its own database beside it). Printed: the runs side by side, ratios to the first, and the
check that nothing was lost or duplicated.

Run: .venv/bin/python bench/multi.py [--runs sqlite:1,sqlite:3] [--phones 120] [--per 300]
     [--inflight 60] [--ingest 60000] [--url postgresql://…]
"""

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
# One device pushes far more than a phone's write budget here (docs/protocol.md,
# "Limits"): this measures ingest, not the budgets (bench/budget.py does).
os.environ.setdefault("DOORSTEP_WRITE_BUDGETS", "off")
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import pg_order  # noqa: E402
import storm  # noqa: E402
import sync_push  # noqa: E402
from conftest import LiveServer, Phone, copy_database  # noqa: E402
from pg import Cluster, find_bindir  # noqa: E402

from server.db import move as migrate_db  # noqa: E402
from server.db.postgresql.core import connect  # noqa: E402

#: Coordinator devices that share the ingest.
INGESTERS = 3


@dataclass
class Server(LiveServer):
    """A ``LiveServer`` whose log is in a folder of its own, so ``db_path`` may be a URL."""

    log_dir: str = tempfile.gettempdir()

    @property
    def log_path(self) -> Path:
        return Path(self.log_dir) / f"doorstep.{self.port}.log"


def start(db: str, n: int, log_dir: str = tempfile.gettempdir()) -> list[Server]:
    """``n`` servers on ``db``: the first alone (it migrates), the others at once."""
    servers = [Server(db, log_dir=log_dir).start()]
    servers += [Server(db, log_dir=log_dir) for _ in range(n - 1)]
    threads = [threading.Thread(target=s.start) for s in servers[1:]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return servers


# -- backends: fresh copies of one prepared SQLite file ----------------------------------------


class SqliteFiles:
    """Each run on a copy of the template file."""

    name = "sqlite"

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.n = 0

    def fresh(self, template: str) -> str:
        self.n += 1
        db = str(self.tmp / f"run{self.n}.db")
        copy_database(template, db)
        return db

    def history_counts(self, db: str, nodes: list[str]) -> tuple[int, int]:
        """(rows, distinct stamps) in the log written by ``nodes``."""
        marks = ",".join("?" * len(nodes))
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return conn.execute(
                f"SELECT count(*), count(DISTINCT hlc) FROM history WHERE node IN ({marks})",
                tuple(nodes),
            ).fetchone()
        finally:
            conn.close()

    def drop(self, db: str) -> None:
        for suffix in ("", "-wal", "-shm", "-decisions"):
            Path(db + suffix).unlink(missing_ok=True)

    def close(self) -> None:
        pass


class PgDatabases:
    """Each run in a new database holding a copy of the template (``migrate_db.copy``)."""

    name = "postgresql"

    def __init__(self, url: str | None = None) -> None:
        self.cluster = None
        if url is None:
            bindir = find_bindir()
            if bindir is None:
                sys.exit("PostgreSQL's initdb/pg_ctl not found: bash .ci/setup --test")
            self.cluster = Cluster(bindir, durable=True).start()
            url = self.cluster.url()
        self.maintenance = url

    def fresh(self, template: str) -> str:
        url = asyncio.run(pg_order.create_database(self.maintenance))
        asyncio.run(migrate_db.copy(template, url))
        return url

    def history_counts(self, db: str, nodes: list[str]) -> tuple[int, int]:
        with connect(db) as raw:
            row = raw.execute(
                "SELECT count(*), count(DISTINCT hlc) FROM history WHERE node = ANY(%s)",
                (nodes,),
            ).fetchone()
        return int(row[0]), int(row[1])

    def drop(self, db: str) -> None:
        asyncio.run(pg_order.drop_database(self.maintenance, db))

    def close(self) -> None:
        if self.cluster:
            self.cluster.stop()


# -- the prepared world ---------------------------------------------------------------------


@dataclass
class World:
    template: str
    office: Phone
    stamp: storm.Stamps
    homes: dict[str, list[str]]
    volunteers: list[Phone]
    coordinators: list[Phone]


def prepare(template: str, phones: int) -> World:
    """The world, one volunteer per building assigned to it, and the ingest's devices."""
    server, office, stamp, homes = storm.setup(template, phones)
    try:
        volunteers = [storm.volunteer(server) for _ in homes]
        assigns = [
            ("assignments", f"{p.person}~{b}", {"person": p.person, "building": b, "active": True})
            for p, b in zip(volunteers, homes, strict=True)
        ]
        storm.sync_all(office, storm.changes_of(stamp, assigns))
        coordinators = [server.enroll(role="coordinator", name="录入") for _ in range(INGESTERS)]
    finally:
        server.stop()
    for p in [office, *volunteers, *coordinators]:
        p.client.close()
    return World(template, office, stamp, homes, volunteers, coordinators)


# -- what is measured ------------------------------------------------------------------------


async def pull_to_head(urls: list[str], phones: list[Phone], inflight: int) -> float:
    """Every phone pulls from its cursor to the end, through its own server; seconds."""
    sem = asyncio.Semaphore(inflight)
    limits = httpx.Limits(max_connections=inflight)
    clients = [httpx.AsyncClient(base_url=u, timeout=600, limits=limits) for u in urls]

    async def one(c: httpx.AsyncClient, p: Phone) -> None:
        while True:
            async with sem:
                r = await storm.post(
                    c, headers=p.headers, json={"node": p.node, "cursor": p.cursor, "limit": 5000}
                )
            assert r.status_code == 200, r.text[:300]
            d = r.json()
            p.cursor = d["cursor"]
            if not d["more"]:
                return

    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(one(clients[i % len(urls)], p) for i, p in enumerate(phones)))
        return time.perf_counter() - t0
    finally:
        for c in clients:
            await c.aclose()


async def push(
    urls: list[str], phones: list[Phone], bodies: list[bytes], inflight: int
) -> tuple[float, list[float]]:
    """Every phone pushes its body at once (``inflight`` at a time); (seconds, latencies)."""
    sem = asyncio.Semaphore(inflight)
    limits = httpx.Limits(max_connections=inflight)
    clients = [httpx.AsyncClient(base_url=u, timeout=600, limits=limits) for u in urls]
    latencies: list[float] = []

    async def one(c: httpx.AsyncClient, p: Phone, body: bytes) -> None:
        async with sem:
            t = time.perf_counter()
            r = await storm.post(
                c, content=body, headers={**p.headers, "content-type": "application/json"}
            )
            latencies.append(time.perf_counter() - t)
        assert r.status_code == 200 and not r.json()["rejected"], r.text[:300]

    try:
        t0 = time.perf_counter()
        await asyncio.gather(
            *(
                one(clients[i % len(urls)], p, b)
                for i, (p, b) in enumerate(zip(phones, bodies, strict=True))
            )
        )
        return time.perf_counter() - t0, latencies
    finally:
        for c in clients:
            await c.aclose()


async def ingest(urls: list[str], phones: list[Phone], shares: list[list[bytes]]) -> float:
    """Each phone pushes its share of encoded batches in series, carrying the cursor of
    the previous answer (as ``sync_push.push``); the phones at once, phone i on server
    i mod n. Seconds."""

    async def one(url: str, p: Phone, batches: list[bytes]) -> None:
        headers = {**p.headers, "content-type": "application/json"}
        head = b'{"node":"' + p.node.encode() + b'","changes":'
        async with httpx.AsyncClient(base_url=url, timeout=600) as c:
            for changes in batches:
                body = head + changes + b',"limit":1,"cursor":' + str(p.cursor).encode() + b"}"
                r = await storm.post(c, content=body, headers=headers)
                d = r.json()
                assert r.status_code == 200 and not d["rejected"], r.text[:300]
                p.cursor = d["cursor"]

    t0 = time.perf_counter()
    await asyncio.gather(
        *(
            one(urls[i % len(urls)], p, b)
            for i, (p, b) in enumerate(zip(phones, shares, strict=True))
        )
    )
    return time.perf_counter() - t0


def ingest_shares(phones: list[Phone], changes: int) -> list[list[bytes]]:
    """Each phone's share of ``changes`` visit changes, in encoded batches of 1,000."""
    return [
        [
            json.dumps(b, ensure_ascii=False).encode()
            for b in sync_push.visit_batches(p.node, changes // len(phones), 1000)
        ]
        for p in phones
    ]


def run(
    backend: "SqliteFiles | PgDatabases",
    world: World,
    n: int,
    per: int,
    inflight: int,
    changes: int,
    log_dir: str,
) -> dict:
    """One storm, then the ingest, on a fresh copy of the world with ``n`` servers."""
    db = backend.fresh(world.template)
    servers = start(db, n, log_dir)
    try:
        urls = [s.url for s in servers]
        for p in [*world.volunteers, *world.coordinators]:
            p.cursor = 0
        asyncio.run(pull_to_head(urls, world.volunteers, inflight))
        bodies = [
            storm.body(p, storm.visits(storm.Stamps(p.node), hs, per))
            for p, hs in zip(world.volunteers, world.homes.values(), strict=True)
        ]
        storm_s, lat = asyncio.run(push(urls, world.volunteers, bodies, inflight))
        conv_s = asyncio.run(pull_to_head(urls, world.volunteers, inflight))
        shares = ingest_shares(world.coordinators, changes) if changes else []
        ingest_s = asyncio.run(ingest(urls, world.coordinators, shares)) if changes else 0.0
        stormed = backend.history_counts(db, [p.node for p in world.volunteers])
        ingested = backend.history_counts(db, [p.node for p in world.coordinators])
    finally:
        for s in servers:
            s.stop()
        backend.drop(db)
    lat.sort()
    total = len(world.volunteers) * per
    fed = changes // INGESTERS * INGESTERS
    return {
        "backend": backend.name,
        "servers": n,
        "total": total,
        "storm_s": storm_s,
        "p50_s": statistics.median(lat),
        "p99_s": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        "conv_s": conv_s,
        "ingested": fed,
        "ingest_s": ingest_s,
        "lost": total - stormed[1] + fed - ingested[1],
        "duplicated": stormed[0] - stormed[1] + ingested[0] - ingested[1],
    }


def parse_runs(text: str) -> list[tuple[str, int]]:
    runs = []
    for item in text.split(","):
        name, _, n = item.partition(":")
        if name not in ("sqlite", "postgresql") or not n.isdigit() or int(n) < 1:
            raise argparse.ArgumentTypeError(f"{item!r}: want sqlite:N or postgresql:N")
        runs.append((name, int(n)))
    return runs


def measure(
    runs: list[tuple[str, int]],
    phones: int,
    per: int,
    inflight: int,
    changes: int,
    url: str | None = None,
) -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="doorstep-multi-"))
    backends: dict[str, SqliteFiles | PgDatabases] = {}
    try:
        world = prepare(str(tmp / "template.db"), phones)
        out = []
        for name, n in runs:
            if name not in backends:
                backends[name] = SqliteFiles(tmp) if name == "sqlite" else PgDatabases(url)
            out.append(run(backends[name], world, n, per, inflight, changes, str(tmp)))
        return out
    finally:
        for b in backends.values():
            b.close()
        shutil.rmtree(tmp, ignore_errors=True)


def report(runs: list[dict], phones: int, per: int, inflight: int) -> None:
    base = runs[0]
    print(
        f"reconnect storm: {phones} volunteer phones x {per} changes, {inflight} in flight "
        f"({base['total']:,} changes); ingest: {INGESTERS} coordinator devices at once, "
        f"requests of 1,000 in series ({base['ingested']:,} changes)"
    )
    print(
        f"  {'':22}{'storm':>12}{'p50':>8}{'p99':>8}{'converge':>10}{'ingest':>12}"
        f"  {'storm':>6}{'conv':>6}{'ingest':>7}  lost dup"
    )
    for m in runs:
        label = f"{m['backend']}, {m['servers']} server{'s' if m['servers'] > 1 else ''}"
        rate = m["ingested"] / m["ingest_s"] if m["ingest_s"] else 0.0
        base_rate = base["ingested"] / base["ingest_s"] if base["ingest_s"] else 0.0
        print(
            f"  {label:<22}{m['total'] / m['storm_s']:>10,.0f}/s{m['p50_s']:>7.2f}s"
            f"{m['p99_s']:>7.2f}s{m['conv_s']:>9.1f}s{rate:>10,.0f}/s"
            f"  {base['storm_s'] / m['storm_s']:>5.2f}x{base['conv_s'] / m['conv_s']:>5.2f}x"
            f"{rate / base_rate if base_rate else 0:>6.2f}x  {m['lost']:>4} {m['duplicated']:>3}"
        )
    print(
        f"  ratios: speed against the first run ({base['backend']}, {base['servers']} "
        f"server{'s' if base['servers'] > 1 else ''}), same process; "
        f"{storm.RETRIES} requests sent again after a dropped connection"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=parse_runs, default=parse_runs("sqlite:1,sqlite:3"))
    ap.add_argument("--phones", type=int, default=120)
    ap.add_argument("--per", type=int, default=300, help="changes each phone pushes")
    ap.add_argument("--inflight", type=int, default=60)
    ap.add_argument("--ingest", type=int, default=60_000, help="changes ingested (0: none)")
    ap.add_argument("--url", help="an existing PostgreSQL server's maintenance database URL")
    args = ap.parse_args()
    report(
        measure(args.runs, args.phones, args.per, args.inflight, args.ingest, args.url),
        args.phones,
        args.per,
        args.inflight,
    )


if __name__ == "__main__":
    main()
