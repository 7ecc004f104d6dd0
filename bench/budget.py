"""One token that writes without limit (issue #22 M1), with and without write budgets.

One coordinator token rewrites one visit's note (4,000 characters, 12 kB) in requests of
300 changes, as fast as the server answers, for ``--seconds``; meanwhile another phone
syncs (one small change and its pull) in a loop. Printed per run: the changes the flood
got accepted, how much the database file grew (SQLite file + WAL), and the other phone's
sync latency, and the bytes an open coordinator stream (``/api/v1/events``) received.
Baseline, same run, same setup on a fresh file: the same flood with the
budgets off (``DOORSTEP_WRITE_BUDGETS=off``); then the default budgets
(docs/protocol.md, "Limits"). Bounded: two runs of ``--seconds`` each.

Run: .venv/bin/python bench/budget.py [--seconds 30]
"""

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from conftest import LiveServer  # noqa: E402

from sync import clock  # noqa: E402

NOTE = "漏" * 4000
PER_REQUEST = 300


class Stamper:
    """A device's clock at full speed: the counter restarts each millisecond."""

    def __init__(self, node: str) -> None:
        self.ts = clock.initial(node)

    def __call__(self) -> str:
        self.ts = clock.send(self.ts, int(time.time() * 1000))
        return clock.format_stamp(self.ts)


def _size(db: Path) -> int:
    return sum(p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists())


def run(budgets: str, seconds: float) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="doorstep-budget-"))
    db = folder / "budget.db"
    os.environ["DOORSTEP_WRITE_BUDGETS"] = budgets
    server = LiveServer(str(db)).start()
    try:
        flood = server.enroll("coordinator", "flood")
        other = server.enroll("coordinator", "other")
        other.client.post("/api/v1/sync", json={"node": other.node, "cursor": 0, "changes": []})
        start_size = _size(db)
        stop = time.monotonic() + seconds
        accepted = refused = 0
        latencies: list[float] = []

        def flooding() -> None:
            nonlocal accepted, refused
            stamp = Stamper(flood.node)
            while time.monotonic() < stop:
                changes = [
                    {"coll": "visits", "id": "v-flood", "field": "note", "value": NOTE,
                     "hlc": stamp()}
                    for _ in range(PER_REQUEST)
                ]  # fmt: skip
                body = flood.sync(changes).json()
                accepted += body["accepted"]
                refused += len(body["rejected"])

        def syncing() -> None:
            stamp, cursor, n = Stamper(other.node), 0, 0
            while time.monotonic() < stop:
                n += 1
                change = {"coll": "visits", "id": f"v-other-{n}", "field": "note",
                          "value": "正常走访", "hlc": stamp()}  # fmt: skip
                t0 = time.perf_counter()
                body = other.sync([change], cursor=cursor).json()
                latencies.append((time.perf_counter() - t0) * 1000)
                cursor = body["cursor"]
                time.sleep(0.05)  # a phone's pace, not a second flood

        streamed = 0
        watcher = server.enroll("coordinator", "console")

        def watching() -> None:
            nonlocal streamed
            timeout = httpx.Timeout(5.0, read=2.0)
            with (
                httpx.Client(base_url=server.url, timeout=timeout) as client,
                client.stream("GET", "/api/v1/events", headers=watcher.headers) as r,
            ):
                try:
                    for chunk in r.iter_raw():
                        streamed += len(chunk)
                        if time.monotonic() >= stop:
                            return
                except httpx.ReadTimeout:
                    return

        threads = [
            threading.Thread(target=flooding),
            threading.Thread(target=syncing),
            threading.Thread(target=watching),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        grown = (_size(db) - start_size) / 2**20
    finally:
        server.stop()
    return {
        "accepted": accepted,
        "refused": refused,
        "grown_mib": grown,
        "p50_ms": statistics.median(latencies),
        "p95_ms": statistics.quantiles(latencies, n=20)[-1],
        "syncs": len(latencies),
        "streamed_mib": streamed / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    base = run("off", args.seconds)
    mine = run("", args.seconds)
    for name, r in (("no budgets (baseline)", base), ("default budgets", mine)):
        print(
            f"{name:>22}: flood accepted {r['accepted']:>6} refused {r['refused']:>6}; "
            f"database +{r['grown_mib']:7.1f} MiB; other phone p50 {r['p50_ms']:6.1f} ms, "
            f"p95 {r['p95_ms']:6.1f} ms over {r['syncs']} syncs; "
            f"an open console received {r['streamed_mib']:.1f} MiB"
        )
    print(
        f"ratio budgets/baseline: database growth {mine['grown_mib'] / base['grown_mib']:.3f}, "
        f"other phone p50 {mine['p50_ms'] / base['p50_ms']:.2f}"
    )


if __name__ == "__main__":
    main()
