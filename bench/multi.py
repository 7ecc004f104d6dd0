"""The reconnect storm on 1 and on 3 app servers over one SQLite file (#14).

The same storm as ``bench/storm.py`` (every volunteer phone, scoped to its building,
pushes ``--per`` visit changes at once, then every phone pulls to the head), run twice in
the same process on copies of one prepared file: once with one ``doorstep serve``, once
with three, the phones spread evenly over them (phone i talks to server i mod n, as a
load balancer would spread them; no proxy in between, so the figures are the app
servers', not TLS's). Writers serialise on the one file (``BEGIN IMMEDIATE``); decoding,
validation, scoping and encoding run in parallel in the three processes. Printed: both
runs side by side and the ratio, and the check that nothing was lost or duplicated.

Run: .venv/bin/python bench/multi.py [--phones 120] [--per 300] [--inflight 60]
"""

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import storm  # noqa: E402
from conftest import LiveServer, Phone, copy_database  # noqa: E402

from server.admin import create_invite  # noqa: E402


def start(db: str, n: int) -> list[LiveServer]:
    """``n`` servers on ``db``: the first alone (it migrates), the others at once."""
    servers = [LiveServer(db).start()] + [LiveServer(db) for _ in range(n - 1)]
    threads = [threading.Thread(target=s.start) for s in servers[1:]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return servers


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


def run(
    template: str,
    db: str,
    office: Phone,
    stamp: "storm.Stamps",
    homes: dict[str, list[str]],
    n: int,
    per: int,
    inflight: int,
) -> dict:
    """One storm on a copy of ``template`` with ``n`` servers; its figures."""
    copy_database(template, db)
    servers = start(db, n)
    try:
        urls = [s.url for s in servers]
        office.client = httpx.Client(base_url=urls[0], timeout=300)
        devices, assigns = [], []
        for b in homes:
            code, _ = create_invite(db, "volunteer", name="志愿者")
            d = office.client.post("/api/v1/enroll", json={"code": code, "device": "bench"})
            d = d.json()
            p = Phone(office.client, d["token"], d["node"], d["person"], d["role"])
            devices.append(p)
            assigns.append(
                (
                    "assignments",
                    f"{p.person}~{b}",
                    {"person": p.person, "building": b, "active": True},
                )
            )
        storm.sync_all(office, storm.changes_of(stamp, assigns))
        asyncio.run(pull_to_head(urls, devices, inflight))
        bodies = [
            storm.body(p, storm.visits(storm.Stamps(p.node), hs, per))
            for p, hs in zip(devices, homes.values(), strict=True)
        ]
        storm_s, lat = asyncio.run(push(urls, devices, bodies, inflight))
        conv_s = asyncio.run(pull_to_head(urls, devices, inflight))
        nodes = [p.node for p in devices]
        marks = ",".join("?" * len(nodes))
        count, distinct = servers[0].query(
            f"SELECT count(*), count(DISTINCT hlc) FROM history WHERE node IN ({marks})",
            tuple(nodes),
        )[0]
    finally:
        office.client.close()
        for s in servers:
            s.stop()
    lat.sort()
    total = len(devices) * per
    return {
        "servers": n,
        "total": total,
        "storm_s": storm_s,
        "p50_s": statistics.median(lat),
        "p99_s": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        "conv_s": conv_s,
        "lost": total - distinct,
        "duplicated": count - distinct,
    }


def measure(phones: int, per: int, inflight: int) -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="doorstep-multi-"))
    template = str(tmp / "template.db")
    server, office, stamp, homes = storm.setup(template, phones)
    server.stop()
    try:
        return [
            run(template, str(tmp / f"run{n}.db"), office, stamp, homes, n, per, inflight)
            for n in (1, 3)
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(runs: list[dict], phones: int, per: int, inflight: int) -> None:
    one, three = runs
    print(
        f"reconnect storm on one SQLite file: {phones} volunteer phones x {per} changes, "
        f"{inflight} in flight ({one['total']:,} changes)"
    )
    print(f"  {'':14}{'storm':>14}{'p50':>9}{'p99':>9}{'convergence':>14}  lost  dup")
    for m in runs:
        print(
            f"  {m['servers']} app server{'s' if m['servers'] > 1 else ' '}"
            f"{m['total'] / m['storm_s']:>11,.0f}/s{m['p50_s']:>8.2f}s{m['p99_s']:>8.2f}s"
            f"{m['conv_s']:>13.1f}s  {m['lost']:>4}  {m['duplicated']:>3}"
        )
    print(
        f"  ratio 3 servers / 1 server: storm {one['storm_s'] / three['storm_s']:.2f}x, "
        f"convergence {one['conv_s'] / three['conv_s']:.2f}x  "
        f"({storm.RETRIES} requests sent again after a dropped connection)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--phones", type=int, default=120)
    ap.add_argument("--per", type=int, default=300, help="changes each phone pushes")
    ap.add_argument("--inflight", type=int, default=60)
    args = ap.parse_args()
    report(measure(args.phones, args.per, args.inflight), args.phones, args.per, args.inflight)


if __name__ == "__main__":
    main()
