"""The reconnect storm: hundreds of scoped volunteer phones sync at once (issue #10).

When the signal comes back, every phone in the outage pushes what it recorded offline.
Each phone here is a volunteer scoped to its own building (24 households), its cursor at
the head, pushing 300 visit field changes (50 visits) in one request; ``--inflight``
requests run at once. Baseline, same run, same setup on a fresh file: one coordinator
device pushing the same number of changes in requests of 300, one after another.
Then convergence: every phone pulls from its cursor to the end (total time and bytes),
and the server is checked for loss and duplicates.

Run: .venv/bin/python bench/storm.py [--phones 240] [--per 300] [--inflight 80]
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

# DOORSTEP_BENCH_ROOT: the checkout whose server is measured (bench/db_before_after.py
# runs these workloads against an older checkout too).
ROOT = Path(os.environ.get("DOORSTEP_BENCH_ROOT") or Path(__file__).resolve().parent.parent)
# One device pushes far more than a phone's write budget here (docs/protocol.md,
# "Limits"): this measures ingest, not the budgets (bench/budget.py does).
os.environ.setdefault("DOORSTEP_WRITE_BUDGETS", "off")
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from conftest import LiveServer, Phone  # noqa: E402

from sync import clock  # noqa: E402
from sync.ids import uuid7  # noqa: E402

HOUSEHOLDS_PER_BUILDING = 24
OUTCOMES = ["reached", "not_home", "refused", "moved"]
NOW_MS = int(time.time() * 1000) - 120_000


class Stamps:
    """One device's HLC, for the bench: strictly increasing stamps."""

    def __init__(self, node: str) -> None:
        self.ts = clock.initial(node)
        self.n = 0

    def __call__(self) -> str:
        # One millisecond per 10,000 stamps: the counter holds 65,536 a millisecond.
        self.n += 1
        self.ts = clock.send(self.ts, NOW_MS + self.n // 10_000)
        return clock.format_stamp(self.ts)


def changes_of(stamp: Stamps, records: list[tuple[str, str, dict]]) -> list[dict]:
    return [
        {"coll": coll, "id": rid, "field": f, "value": v, "hlc": stamp()}
        for coll, rid, fields in records
        for f, v in fields.items()
    ]


def visits(stamp: Stamps, households: list[str], n_changes: int) -> list[dict]:
    """``n_changes`` field changes of visits to ``households`` (6 fields a visit)."""
    out: list[dict] = []
    i = 0
    while len(out) < n_changes:
        fields = {
            "household": households[i % len(households)],
            "at": "2026-11-22T22:05:00.000Z",
            "outcome": OUTCOMES[i % 4],
            "needs": ["heater"] if i % 3 == 0 else [],
            "note": "独居老人，已送电暖气" if i % 5 == 0 else "",
        }
        out += changes_of(stamp, [("visits", uuid7(), fields)])
        i += 1
    return out[:n_changes]


def world(n_buildings: int) -> tuple[list[tuple[str, str, dict]], dict[str, list[str]]]:
    """A community of ``n_buildings`` buildings with 24 households each."""
    community = uuid7()
    recs: list[tuple[str, str, dict]] = [
        (
            "communities",
            community,
            {"name": "压测社区", "street": "太平桥街道", "district": "丰台区"},
        )
    ]
    homes: dict[str, list[str]] = {}
    for b in range(n_buildings):
        bid = uuid7()
        recs.append(
            (
                "buildings",
                bid,
                {"community": community, "compound": "压测院", "label": f"{b + 1}号楼", "units": 2},
            )
        )
        homes[bid] = []
        for h in range(HOUSEHOLDS_PER_BUILDING):
            hid = uuid7()
            homes[bid].append(hid)
            recs.append(
                (
                    "households",
                    hid,
                    {
                        "building": bid,
                        "unit": str(h % 2 + 1),
                        "room": f"{h // 2 + 1}0{h % 2 + 1}",
                        "contact": f"1390000{b:04d}",
                    },
                )
            )
    return recs, homes


def sync_all(phone: Phone, changes: list[dict], per: int = 2000) -> None:
    for i in range(0, len(changes), per):
        r = phone.sync(changes[i : i + per], limit=1)
        assert r.status_code == 200 and not r.json()["rejected"], r.text[:300]


#: Requests sent again after a dropped connection (a phone does the same; a sync is
#: idempotent). Reported beside the figures.
RETRIES = 0


async def post(c: httpx.AsyncClient, **kw: object) -> httpx.Response:
    """``POST /api/v1/sync``, sent again if the server closed the kept-alive connection
    just as it was reused (uvicorn closes idle ones after 5 s; on a loaded box it races)."""
    global RETRIES
    for attempt in range(3):
        try:
            return await c.post("/api/v1/sync", **kw)  # type: ignore[arg-type]
        except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError):
            if attempt == 2:
                raise
            RETRIES += 1
    raise AssertionError("unreachable")


async def to_head(server: LiveServer, phones: list[Phone], inflight: int) -> tuple[float, int]:
    """Each phone pulls from its cursor until ``more`` is false; (seconds, bytes)."""
    sem = asyncio.Semaphore(inflight)
    total = 0

    async def one(c: httpx.AsyncClient, p: Phone) -> None:
        nonlocal total
        while True:
            async with sem:
                r = await post(
                    c,
                    headers={**p.headers, "accept-encoding": "gzip"},
                    json={"node": p.node, "cursor": p.cursor, "changes": [], "limit": 5000},
                )
            assert r.status_code == 200, r.text[:300]
            total += r.num_bytes_downloaded
            d = r.json()
            p.cursor = d["cursor"]
            if not d["more"]:
                return

    limits = httpx.Limits(max_connections=inflight)
    async with httpx.AsyncClient(base_url=server.url, timeout=300, limits=limits) as c:
        t0 = time.perf_counter()
        await asyncio.gather(*(one(c, p) for p in phones))
        return time.perf_counter() - t0, total


async def storm(
    server: LiveServer, phones: list[Phone], bodies: list[bytes], inflight: int
) -> tuple[float, list[float]]:
    """Every phone pushes its body at once (``inflight`` at a time); (seconds, latencies)."""
    sem = asyncio.Semaphore(inflight)
    latencies: list[float] = []

    async def one(c: httpx.AsyncClient, p: Phone, body: bytes) -> None:
        async with sem:
            t = time.perf_counter()
            r = await post(
                c, content=body, headers={**p.headers, "content-type": "application/json"}
            )
            latencies.append(time.perf_counter() - t)
        d = r.json()
        assert r.status_code == 200 and not d["rejected"], r.text[:300]

    limits = httpx.Limits(max_connections=inflight)
    async with httpx.AsyncClient(base_url=server.url, timeout=600, limits=limits) as c:
        t0 = time.perf_counter()
        await asyncio.gather(*(one(c, p, b) for p, b in zip(phones, bodies, strict=True)))
        return time.perf_counter() - t0, latencies


def volunteer(server: LiveServer) -> Phone:
    """Enrol one volunteer phone (the invite made by the command line's code run
    in-process, ``conftest.cli``: a process each is too slow)."""
    return server.enroll(role="volunteer", name="志愿者")


def body(p: Phone, changes: list[dict]) -> bytes:
    return json.dumps(
        {"node": p.node, "cursor": p.cursor, "changes": changes, "limit": 1}, ensure_ascii=False
    ).encode()


def setup(db: str, n_buildings: int) -> tuple[LiveServer, Phone, Stamps, dict[str, list[str]]]:
    """A server with the world loaded by a coordinator device (and that device's clock)."""
    server = LiveServer(db).start()
    office = server.enroll(role="coordinator", name="指挥部")
    stamp = Stamps(office.node)
    recs, homes = world(n_buildings)
    sync_all(office, changes_of(stamp, recs))
    return server, office, stamp, homes


def measure(phones: int = 240, per: int = 300, inflight: int = 80) -> dict:
    """The storm, its one-device baseline and convergence, on fresh files; figures."""
    tmp = Path(tempfile.mkdtemp(prefix="doorstep-storm-"))
    total = phones * per

    # Baseline: one device pushes the same number of changes, requests of ``per``, in series.
    server, office, stamp, homes = setup(str(tmp / "one.db"), phones)
    try:
        batches = [visits(stamp, hs, per) for hs in homes.values()]
        bodies = [body(office, b) for b in batches]
        with httpx.Client(base_url=server.url, timeout=300) as c:
            t0 = time.perf_counter()
            for b in bodies:
                r = c.post(
                    "/api/v1/sync",
                    content=b,
                    headers={**office.headers, "content-type": "application/json"},
                )
                assert r.status_code == 200 and not r.json()["rejected"], r.text[:300]
            one_s = time.perf_counter() - t0
    finally:
        server.stop()

    # The storm: one volunteer per building, scoped to it, cursor at the head.
    server, office, ostamp, homes = setup(str(tmp / "storm.db"), phones)
    try:
        devices = []
        assigns = []
        for b in homes:
            p = volunteer(server)
            devices.append(p)
            assigns.append(
                (
                    "assignments",
                    f"{p.person}~{b}",
                    {"person": p.person, "building": b, "active": True},
                )
            )
        sync_all(office, changes_of(ostamp, assigns))
        head_s, head_bytes = asyncio.run(to_head(server, devices, inflight))
        bodies = [
            body(p, visits(Stamps(p.node), hs, per))
            for p, hs in zip(devices, homes.values(), strict=True)
        ]
        storm_s, lat = asyncio.run(storm(server, devices, bodies, inflight))
        conv_s, conv_bytes = asyncio.run(to_head(server, devices, inflight))
        nodes = [p.node for p in devices]
        marks = ",".join("?" * len(nodes))
        stored = server.query(
            f"SELECT count(*), count(DISTINCT hlc) FROM history WHERE node IN ({marks})",
            tuple(nodes),
        )[0]
    finally:
        server.stop()
    lat.sort()
    return {
        "phones": phones,
        "per": per,
        "inflight": inflight,
        "total": total,
        "storm_s": storm_s,
        "one_s": one_s,
        "p50_s": statistics.median(lat),
        "p99_s": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        "head_s": head_s,
        "head_bytes": head_bytes,
        "conv_s": conv_s,
        "conv_bytes": conv_bytes,
        "lost": total - stored[1],
        "duplicated": stored[0] - stored[1],
        "stored": stored[1],
        "retries": RETRIES,
    }


def report(m: dict) -> None:
    total = m["total"]
    print(
        f"reconnect storm: {m['phones']} volunteer phones x {m['per']} changes, "
        f"{m['inflight']} in flight ({total:,} changes)"
    )
    print(
        f"  storm            {total / m['storm_s']:>9,.0f} changes/s  ({m['storm_s']:.1f} s; "
        f"request p50 {m['p50_s']:.2f} s, p99 {m['p99_s']:.2f} s)"
    )
    print(
        f"  one device       {total / m['one_s']:>9,.0f} changes/s  ({m['one_s']:.1f} s, "
        f"requests of {m['per']} in series)"
    )
    print(f"  ratio storm/one  {m['one_s'] / m['storm_s']:.2f}   (target >= 0.80)")
    print(f"  first pull to head  {m['head_s']:.1f} s, {m['head_bytes']:,} bytes on the wire")
    print(
        f"  convergence after   {m['conv_s']:.1f} s, {m['conv_bytes']:,} bytes on the wire "
        f"(every phone pulled to the end)"
    )
    print(
        f"  stored {m['stored']:,} of {total:,} changes: lost {m['lost']}, "
        f"duplicated {m['duplicated']} ({m['retries']} requests sent again after a "
        "dropped connection)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--phones", type=int, default=240)
    ap.add_argument("--per", type=int, default=300, help="changes each phone pushes")
    ap.add_argument("--inflight", type=int, default=80)
    args = ap.parse_args()
    report(measure(args.phones, args.per, args.inflight))


if __name__ == "__main__":
    main()
