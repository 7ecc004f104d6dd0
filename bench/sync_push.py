"""Sync write path: 100,000 changes pushed over HTTP vs the same writes in raw sqlite3.

One phone pushes in requests of 1,000, each carrying the cursor of the previous answer,
to a real server process on a real SQLite file; the baseline is raw sqlite3 doing the
least durable work a sync server needs (issue 21): ``winners`` with its key and a
``seq`` index, ``history`` keyed by ``hlc``, WAL, ``synchronous=FULL``, the same
batches, in one process (``raw_baseline``). Rounds interleave the two on fresh files;
medians are compared. Then the time and gzipped bytes of a full pull of 20,000 field
winners, and the gzipped bytes per change of a typical batch of visits.
Run: .venv/bin/python bench/sync_push.py [--changes 100000] [--rounds 3]
"""

import argparse
import gzip
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
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

from conftest import LiveServer  # noqa: E402

from sync import clock  # noqa: E402
from sync.ids import uuid7  # noqa: E402

OUTCOMES = ["reached", "not_home", "refused", "moved"]


def visit_batches(node: str, total: int, per: int) -> list[list[dict]]:
    """Typical field work: each visit is 6 field changes."""
    ts = clock.initial(node)
    start = int(time.time() * 1000) - 60_000
    out, batch, n = [], [], 0
    hh = [uuid7() for _ in range(2000)]
    while n < total:
        vid = uuid7()
        for field, value in (
            ("household", hh[n % len(hh)]),
            ("incident", "0190a000-0000-7000-8000-000000000741"),
            ("at", "2026-11-22T22:05:00.000Z"),
            ("outcome", OUTCOMES[n % 4]),
            ("needs", ["heater"] if n % 3 == 0 else []),
            ("note", "独居老人，已送电暖气" if n % 5 == 0 else ""),
        ):
            ts = clock.send(ts, start + n // 60000)
            batch.append(
                {
                    "coll": "visits",
                    "id": vid,
                    "field": field,
                    "value": value,
                    "hlc": clock.format_stamp(ts),
                }
            )
            n += 1
            if len(batch) == per:
                out.append(batch)
                batch = []
            if n == total:
                break
    if batch:
        out.append(batch)
    return out


def push(server, phones, all_batches, shares=None) -> float:
    """Push batches as devices do (each request carries the cursor of the previous
    answer); with ``shares``, one thread per phone pushes its share at the same time.
    Bodies are encoded before the clock starts: the client's JSON work is not the
    server's cost. Returns the seconds taken."""
    shares = shares or [all_batches]
    encoded = [[json.dumps(b, ensure_ascii=False).encode() for b in share] for share in shares]

    def run(phone, bodies) -> None:
        headers = {**phone.headers, "content-type": "application/json"}
        head = b'{"node":"' + phone.node.encode() + b'","changes":'
        cursor = 0
        with httpx.Client(base_url=server.url, timeout=120) as c:
            for changes in bodies:
                # limit 1: this measures the push; pulling is measured on its own below.
                body = head + changes + b',"limit":1,"cursor":' + str(cursor).encode() + b"}"
                r = c.post("/api/v1/sync", content=body, headers=headers)
                d = r.json()
                assert r.status_code == 200 and not d["rejected"], r.text[:300]
                cursor = d["cursor"]

    threads = [
        threading.Thread(target=run, args=(p, e)) for p, e in zip(phones, encoded, strict=True)
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


#: The least a sync server must store (issue 21): the log keyed by its stamps, the
#: winners by their key with the index a pull reads by.
RAW_SCHEMA = (
    "CREATE TABLE history (seq INTEGER PRIMARY KEY, hlc TEXT NOT NULL UNIQUE, "
    "coll TEXT NOT NULL, id TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL, "
    "node TEXT NOT NULL, person TEXT, received_at TEXT NOT NULL)",
    "CREATE TABLE winners (coll TEXT NOT NULL, id TEXT NOT NULL, field TEXT NOT NULL, "
    "value TEXT NOT NULL, hlc TEXT NOT NULL, seq INTEGER NOT NULL, "
    "PRIMARY KEY (coll, id, field))",
    "CREATE UNIQUE INDEX winners_seq ON winners (seq)",
)
RAW_HISTORY = (
    "INSERT INTO history (hlc, coll, id, field, value, node, person, received_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (hlc) DO NOTHING"
)
RAW_UPSERT = (
    "INSERT INTO winners (coll, id, field, value, hlc, seq) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (coll, id, field) DO UPDATE SET value = excluded.value, "
    "hlc = excluded.hlc, seq = excluded.seq WHERE excluded.hlc > winners.hlc"
)


def raw_baseline(path: str, batches: list[list[dict]], node: str) -> float:
    """The same batches in raw sqlite3 doing the least durable work a sync server needs:
    ``RAW_SCHEMA``, WAL, synchronous=FULL, one transaction per batch (history insert
    ignoring stamps already stored + guarded winners upsert). Seconds."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    for sql in RAW_SCHEMA:
        conn.execute(sql)
    seq = 0
    t0 = time.perf_counter()
    for batch in batches:
        now = "2026-11-22T22:05:00.000Z"
        hist = [
            (
                c["hlc"],
                c["coll"],
                c["id"],
                c["field"],
                json.dumps(c["value"], ensure_ascii=False),
                node,
                "p",
                now,
            )
            for c in batch
        ]
        win = []
        for c, h in zip(batch, hist, strict=True):
            seq += 1
            win.append((c["coll"], c["id"], c["field"], h[4], c["hlc"], seq))
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(RAW_HISTORY, hist)
        conn.executemany(RAW_UPSERT, win)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed


def measure(changes: int = 100_000, per: int = 1000, rounds: int = 3) -> dict:
    """Ingest over HTTP and in raw sqlite3, rounds interleaved on fresh files; figures."""
    tmp = Path(tempfile.mkdtemp(prefix="doorstep-bench-"))
    # Rounds interleave HTTP and raw runs, each on a fresh file, and the medians are
    # compared: on a shared 2-core machine one run of either can be off by a third.
    http_runs, raw_runs = [], []
    for r in range(rounds):
        server = LiveServer(str(tmp / f"server{r}.db")).start()
        try:
            phone = server.enroll(role="coordinator")
            batches = visit_batches(phone.node, changes, per)
            http_runs.append(push(server, [phone], batches))
            if r == 0:
                got, pull_s, wire = full_pull(server)
        finally:
            server.stop()
        raw_runs.append(raw_baseline(str(tmp / f"raw{r}.db"), batches, phone.node))
    n = sum(len(b) for b in batches)
    visits = batches[0][:600]  # 100 visits of 6 fields
    return {
        "changes": n,
        "rounds": rounds,
        "http_runs": http_runs,
        "raw_runs": raw_runs,
        # Each round's raw run follows its HTTP run: their ratio sees the same load.
        "paired": statistics.median(r / h for h, r in zip(http_runs, raw_runs, strict=True)),
        "http_rate": n / statistics.median(http_runs),
        "raw_rate": n / statistics.median(raw_runs),
        "pulled": got,
        "pull_s": pull_s,
        "pull_wire": wire,
        "visits": len(visits),
        "visits_gz": len(gzip.compress(json.dumps(visits, ensure_ascii=False).encode())),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--changes", type=int, default=100_000)
    ap.add_argument("--per", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    m = measure(args.changes, args.per, args.rounds)
    n, got, wire, gz = m["changes"], m["pulled"], m["pull_wire"], m["visits_gz"]

    def spread(runs: list[float]) -> str:
        return ", ".join(f"{n / t:,.0f}" for t in runs)

    line = "{:<20}{:>7} changes  {:>9,.0f} changes/s  (runs {})"
    print(line.format("push over HTTP", n, m["http_rate"], spread(m["http_runs"])))
    print(line.format("raw sqlite3 (same)", n, m["raw_rate"], spread(m["raw_runs"])))
    ratio = m["http_rate"] / m["raw_rate"]
    print(f"ratio HTTP/raw      {ratio:.2f}   (target ≥ 0.60; medians of {args.rounds} rounds)")
    print(f"  per round         {m['paired']:.2f}   (median of each round's HTTP/raw)")
    print(
        f"full pull           {got:>7} winners in {m['pull_s'] * 1000:6.0f} ms, "
        f"{wire:,} bytes gzipped ({wire / max(got, 1):.1f} B/winner)"
    )
    print(
        f"typical visit batch {gz / m['visits']:.1f} gzipped bytes per change "
        f"({m['visits']} changes, {gz:,} bytes)"
    )


def full_pull(server: LiveServer, want: int = 20_000) -> tuple[int, float, int]:
    """A second device pulls ``want`` field winners, gzip on the wire."""
    reader = server.enroll(role="coordinator")
    cursor, got, wire = 0, 0, 0
    with httpx.Client(base_url=server.url, timeout=60) as c:
        t0 = time.perf_counter()
        while got < want:
            r = c.post(
                "/api/v1/sync",
                headers={**reader.headers, "accept-encoding": "gzip"},
                json={"node": reader.node, "cursor": cursor, "limit": 5000},
            )
            d = r.json()
            got += min(len(d["changes"]), want - got)
            wire += r.num_bytes_downloaded
            cursor = d["cursor"]
            if not d["more"]:
                break
        return got, time.perf_counter() - t0, wire


if __name__ == "__main__":
    main()
