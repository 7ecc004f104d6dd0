"""What the server's schema costs the ingest, index by index (issue 21, item 6).

"Every index on the write path needs a reader that uses it." The same raw sqlite3 writes
as ``sync_push.raw_baseline`` (one transaction per batch of 1,000: history insert that
ignores stamps already stored, guarded winners upsert; WAL, synchronous=FULL), on:

* the least durable schema a sync server needs (``sync_push.RAW_SCHEMA``): the floor;
* the server's own schema, as ``open_database`` makes it (its indexes and triggers);
* the server's schema without one of its indexes on ``history`` / ``winners`` beyond the
  floor's, for each such index: what that index costs;
* the server's schema without all of them.

Rounds interleave the variants on fresh files; medians, and each one's time against the
floor's. Run: .venv/bin/python bench/schema_cost.py [--changes 30000] [--rounds 3]
"""

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import sync_push  # noqa: E402

from server.db import open_database  # noqa: E402

#: Indexes the floor has too: the keys and the seq index.
FLOOR = {"winners_seq"}


async def _make(path: str) -> None:
    async with open_database(path):
        pass


def server_schema(path: str, drop: tuple[str, ...] = ()) -> sqlite3.Connection:
    asyncio.run(_make(path))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=FULL")
    for name in drop:
        conn.execute(f"DROP INDEX {name}")
    return conn


def extra_indexes(path: str) -> list[str]:
    """The server's indexes on history and winners that the floor does not have."""
    conn = server_schema(path)
    try:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            "AND tbl_name IN ('history', 'winners') ORDER BY name"
        ).fetchall()
    finally:
        conn.close()
    return [r[0] for r in rows if r[0] not in FLOOR]


def write(conn: sqlite3.Connection, batches: list[list[dict]]) -> float:
    """``raw_baseline``'s writes on an open connection; seconds."""
    seq = 0
    t0 = time.perf_counter()
    for batch in batches:
        hist, win = [], []
        for c in batch:
            value = json.dumps(c["value"], ensure_ascii=False)
            hist.append((c["hlc"], c["coll"], c["id"], c["field"], value, "n", "p", "now"))
            seq += 1
            win.append((c["coll"], c["id"], c["field"], value, c["hlc"], seq))
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sync_push.RAW_HISTORY, hist)
        conn.executemany(sync_push.RAW_UPSERT, win)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--changes", type=int, default=30_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="doorstep-schema-"))
    batches = sync_push.visit_batches("0123456789abcdef", args.changes, 1000)
    extra = extra_indexes(str(tmp / "probe.db"))
    variants: dict[str, tuple[str, ...] | None] = {"floor (RAW_SCHEMA)": None, "server": ()}
    variants |= {f"server without {name}": (name,) for name in extra}
    variants[f"server without all {len(extra)}"] = tuple(extra)
    runs: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(args.rounds):
        for k, (label, drop) in enumerate(variants.items()):
            path = str(tmp / f"{r}-{k}.db")
            if drop is None:
                runs[label].append(sync_push.raw_baseline(path, batches, "n"))
            else:
                runs[label].append(write(server_schema(path, drop), batches))
    floor = statistics.median(runs["floor (RAW_SCHEMA)"])
    n = sum(len(b) for b in batches)
    print(f"raw sqlite3, {n:,} changes in batches of 1,000; medians of {args.rounds} rounds")
    for label, times in runs.items():
        t = statistics.median(times)
        print(f"  {label:<40} {n / t:>9,.0f} changes/s  {t / floor:5.2f}x the floor's time")


if __name__ == "__main__":
    main()
