"""The field's moments side by side, in one run (issue #10), each against its baseline
measured in the same run on the same machine:

* reconnect storm: N scoped volunteer phones pushing at once vs. one device pushing the
  same changes in series (``bench/storm.py``);
* convergence: after the storm every phone pulls to the end; time and bytes, and nothing
  lost or duplicated;
* ingest: one device pushing over HTTP vs. raw sqlite3 doing the least durable work a
  sync server needs (``bench/sync_push.py``, ``raw_baseline``);
* memory per open resident stream vs. a raw asyncio SSE server (``bench/fanout.py``).

Run: .venv/bin/python bench/field.py [--phones 240] [--per 300] [--inflight 80]
     [--changes 100000] [--rounds 3] [--streams 3000]
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fanout
import storm
import sync_push


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--phones", type=int, default=240)
    ap.add_argument("--per", type=int, default=300)
    ap.add_argument("--inflight", type=int, default=80)
    ap.add_argument("--changes", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--streams", type=int, default=3000)
    args = ap.parse_args()

    s = storm.measure(args.phones, args.per, args.inflight)
    i = sync_push.measure(args.changes, 1000, args.rounds)
    fanout._raise_nofile()
    d, b = fanout.doorstep(args.streams), fanout.baseline(args.streams)

    total = s["total"]
    rows = [
        (
            f"storm ({args.phones} phones x {args.per}, {args.inflight} in flight)",
            f"{total / s['storm_s']:,.0f} changes/s",
            f"{total / s['one_s']:,.0f} changes/s (one device)",
            f"{s['one_s'] / s['storm_s']:.2f}x",
            ">= 0.80x",
        ),
        (
            "  storm request latency",
            f"p50 {s['p50_s']:.2f} s, p99 {s['p99_s']:.2f} s",
            "",
            "",
            "",
        ),
        (
            "convergence (every phone to the end)",
            f"{s['conv_s']:.1f} s, {s['conv_bytes']:,} B",
            f"first pull {s['head_s']:.1f} s, {s['head_bytes']:,} B",
            "",
            "",
        ),
        (
            "  lost / duplicated",
            f"{s['lost']} / {s['duplicated']}",
            f"of {total:,} ({s['retries']} resent)",
            "",
            "0 / 0",
        ),
        (
            f"ingest ({i['changes']:,} changes, median of {i['rounds']})",
            f"{i['http_rate']:,.0f} changes/s (HTTP)",
            f"{i['raw_rate']:,.0f} changes/s (raw sqlite3)",
            f"{i['http_rate'] / i['raw_rate']:.2f}x",
            ">= 0.60x",
        ),
        (
            f"memory per resident stream (N={args.streams})",
            f"{d['kib_per_subscriber']:.1f} KiB",
            f"{b['kib_per_subscriber']:.1f} KiB (raw asyncio SSE)",
            f"{d['kib_per_subscriber'] / max(b['kib_per_subscriber'], 0.01):.1f}x",
            "<= 2x",
        ),
        (
            "  resident fan-out p50 / p99",
            f"{d['p50_ms']:.0f} / {d['p99_ms']:.0f} ms",
            f"{b['p50_ms']:.0f} / {b['p99_ms']:.0f} ms",
            "",
            "",
        ),
    ]
    head = ("", "doorstep", "baseline (same run)", "ratio", "target")
    widths = [max(len(r[k]) for r in [head, *rows]) for k in range(5)]
    for r in [head, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
