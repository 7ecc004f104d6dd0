"""Before and after the database port (issue 21, item 6), in one run on one machine.

Runs the same workloads against two checkouts, each with its own ``.venv`` (``bash
.ci/setup --test`` there), on both engines:

* ingest: one coordinator device pushes ``--changes`` visit changes over HTTP in
  requests of 1,000, each carrying the cursor of the previous answer
  (``sync_push.push``); beside it, in the same process right after, raw sqlite3 doing
  the least durable work a sync server needs (``sync_push.raw_baseline``);
* the storm: ``--phones`` volunteer phones, each scoped to its building, push ``--per``
  visit changes at once, ``--inflight`` at a time (``bench/storm.py``), one server;
* a volunteer's pull: after the storm, ``--pulls`` volunteers one after another each
  pull a page of up to 1,000 winners of their scope from cursor 0; the median request.

Each checkout's workload runs in a process of that checkout's own Python with its code
first on the path (this file's ``--worker`` mode; the workloads' modules read
``DOORSTEP_BENCH_ROOT``), so its server, schema and command line are its own. Runs
interleave before and after, on fresh databases; PostgreSQL is one throwaway cluster
(tests/pg.py) with fsync on, as SQLite's synchronous=FULL.

Run: .venv/bin/python bench/db_before_after.py --before /work/wt/baseline
     [--after .] [--engines sqlite,postgresql] [--phones 120] [--per 300]
     [--inflight 60] [--changes 30000] [--pulls 20] [--rounds 1] [--ingest-only]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


# -- the worker: runs inside the measured checkout's Python ---------------------------------


def worker(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(args.root).resolve()
    os.environ["DOORSTEP_BENCH_ROOT"] = str(root)
    os.environ.setdefault("DOORSTEP_WRITE_BUDGETS", "off")
    os.chdir(root)
    sys.path.insert(0, str(HERE))
    import asyncio

    import httpx
    import storm
    import sync_push

    out: dict[str, Any] = {}
    # Ingest, then raw sqlite3 on the same batches right after it (the same load).
    server = storm.LiveServer(args.ingest_db).start()
    try:
        phone = server.enroll(role="coordinator")
        batches = sync_push.visit_batches(phone.node, args.changes, 1000)
        out["ingest_s"] = sync_push.push(server, [phone], batches)
        out["changes"] = sum(len(b) for b in batches)
    finally:
        server.stop()
    raw = tempfile.mkdtemp(prefix="doorstep-raw-")
    out["raw_s"] = sync_push.raw_baseline(f"{raw}/raw.db", batches, phone.node)

    if args.ingest_only:
        return out
    # The storm and a volunteer's pull, on one server.
    server, office, ostamp, homes = storm.setup(args.storm_db, args.phones)
    try:
        devices = [storm.volunteer(server) for _ in homes]
        assigns = [
            ("assignments", f"{p.person}~{b}", {"person": p.person, "building": b, "active": True})
            for p, b in zip(devices, homes, strict=True)
        ]
        storm.sync_all(office, storm.changes_of(ostamp, assigns))
        asyncio.run(storm.to_head(server, devices, args.inflight))
        bodies = [
            storm.body(p, storm.visits(storm.Stamps(p.node), hs, args.per))
            for p, hs in zip(devices, homes.values(), strict=True)
        ]
        out["storm_s"], lat = asyncio.run(storm.storm(server, devices, bodies, args.inflight))
        out["storm_p50_s"] = statistics.median(lat)
        out["total"] = len(devices) * args.per
        times, rows = [], 0
        with httpx.Client(base_url=server.url, timeout=120) as c:
            for p in devices[: args.pulls]:
                t = time.perf_counter()
                r = c.post(
                    "/api/v1/sync",
                    headers=p.headers,
                    json={"node": p.node, "cursor": 0, "changes": [], "limit": 1000},
                )
                times.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text[:300]
                rows += len(r.json()["changes"])
        out["pull_ms"] = statistics.median(times) * 1000
        out["pull_rows"] = rows / max(1, len(times))
        nodes = [p.node for p in devices]
        marks = ",".join("?" * len(nodes))
        n, distinct = server.query(
            f"SELECT count(*), count(DISTINCT hlc) FROM history WHERE node IN ({marks})",
            tuple(nodes),
        )[0]
        out["lost"], out["duplicated"] = out["total"] - distinct, n - distinct
    finally:
        server.stop()
    return out


# -- the driver -----------------------------------------------------------------------------


def run_worker(checkout: Path, args: argparse.Namespace, ingest_db: str, storm_db: str) -> dict:
    python = checkout / ".venv" / "bin" / "python"
    if not python.exists():
        sys.exit(f"{checkout}: no .venv; run `bash .ci/setup --test` there first")
    cmd = [
        str(python),
        str(Path(__file__).resolve()),
        "--worker",
        "--root",
        str(checkout),
        "--ingest-db",
        ingest_db,
        "--storm-db",
        storm_db,
        *("--phones", str(args.phones), "--per", str(args.per)),
        *("--inflight", str(args.inflight), "--changes", str(args.changes)),
        *("--pulls", str(args.pulls)),
        *(["--ingest-only"] if args.ingest_only else []),
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    out = subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"{checkout}: the workload failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def driver(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(HERE.parent / "tests"))
    from pg import Cluster, find_bindir

    checkouts = {"before": Path(args.before).resolve(), "after": Path(args.after).resolve()}
    engines = args.engines.split(",")
    cluster = None
    if "postgresql" in engines:
        bindir = find_bindir()
        if bindir is None:
            sys.exit("PostgreSQL's initdb/pg_ctl not found: bash .ci/setup --test")
        cluster = Cluster(bindir, durable=True).start()
    tmp = Path(tempfile.mkdtemp(prefix="doorstep-before-after-"))
    runs: dict[tuple[str, str], list[dict]] = {}
    try:
        for r in range(args.rounds):
            for engine in engines:
                # Alternate which checkout goes first, so neither always meets a warmer box.
                order = ["before", "after"] if r % 2 == 0 else ["after", "before"]
                for which in order:
                    if engine == "postgresql":
                        assert cluster is not None
                        dbs = [cluster.create_database(), cluster.create_database()]
                    else:
                        dbs = [str(tmp / f"{r}-{which}-{k}.db") for k in ("ingest", "storm")]
                    m = run_worker(checkouts[which], args, *dbs)
                    runs.setdefault((which, engine), []).append(m)
                    print(f"  round {r + 1} {engine} {which}: {json.dumps(m)}", file=sys.stderr)
                    if cluster is not None and engine == "postgresql":
                        for db in dbs:
                            cluster.drop_database(db)
    finally:
        if cluster is not None:
            cluster.stop()
    report(args, checkouts, engines, runs)


def report(args: argparse.Namespace, checkouts: dict, engines: list[str], runs: dict) -> None:
    def med(which: str, engine: str, key: str) -> float:
        return statistics.median(m[key] for m in runs[(which, engine)])

    def rev(path: Path) -> str:
        out = subprocess.run(
            ["git", "-C", str(path), "log", "-1", "--format=%h"], capture_output=True, text=True
        )
        return out.stdout.strip() or "?"

    print(
        f"before = {checkouts['before']} ({rev(checkouts['before'])}), after = "
        f"{checkouts['after']} ({rev(checkouts['after'])}); medians of {args.rounds} round(s)"
    )
    head = ("", "engine", "before", "after", "speed after/before")
    rows = []
    for engine in engines:
        changes = runs[("after", engine)][0]["changes"]
        figs = {
            w: {
                "ingest": changes / med(w, engine, "ingest_s"),
                "raw": changes / med(w, engine, "raw_s"),
            }
            for w in ("before", "after")
        }
        b, a = figs["before"], figs["after"]
        # Each run's ratio to the raw sqlite3 run right after it (the same load).
        paired = {
            w: statistics.median(m["raw_s"] / m["ingest_s"] for m in runs[(w, engine)])
            for w in ("before", "after")
        }
        rows += [
            (
                f"ingest over HTTP ({changes:,} changes)",
                engine,
                f"{b['ingest']:,.0f}/s",
                f"{a['ingest']:,.0f}/s",
                f"{a['ingest'] / b['ingest']:.2f}x",
            ),
            (
                "  ingest / raw sqlite3 (target >= 0.60)",
                engine,
                f"{paired['before']:.2f}",
                f"{paired['after']:.2f}",
                "",
            ),
        ]
        if args.ingest_only:
            continue
        total = runs[("after", engine)][0]["total"]
        for w in ("before", "after"):
            figs[w] |= {
                "storm": total / med(w, engine, "storm_s"),
                "p50": med(w, engine, "storm_p50_s"),
                "pull": med(w, engine, "pull_ms"),
                "rows": med(w, engine, "pull_rows"),
                "lost": sum(m["lost"] + m["duplicated"] for m in runs[(w, engine)]),
            }
        rows += [
            (
                f"storm ({args.phones} phones x {args.per}, {args.inflight} in flight)",
                engine,
                f"{b['storm']:,.0f}/s",
                f"{a['storm']:,.0f}/s",
                f"{a['storm'] / b['storm']:.2f}x",
            ),
            ("  storm request p50", engine, f"{b['p50']:.2f} s", f"{a['p50']:.2f} s", ""),
            (
                f"volunteer's pull ({a['rows']:.0f} rows)",
                engine,
                f"{b['pull']:.1f} ms",
                f"{a['pull']:.1f} ms",
                f"{b['pull'] / a['pull']:.2f}x",
            ),
            ("  lost + duplicated", engine, str(b["lost"]), str(a["lost"]), ""),
        ]
    if "sqlite" in engines and "postgresql" in engines and not args.ingest_only:
        for w in ("before", "after"):
            total = runs[(w, "sqlite")][0]["total"]
            s = total / med(w, "sqlite", "storm_s")
            p = total / med(w, "postgresql", "storm_s")
            rows.append(
                (f"PG storm / SQLite storm, {w} (target >= 0.80)", "", f"{p / s:.2f}", "", "")
            )
    widths = [max(len(r[k]) for r in [head, *rows]) for k in range(len(head))]
    for r in [head, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", help="the checkout before the port (e.g. /work/wt/baseline)")
    ap.add_argument("--after", default=str(HERE.parent), help="the checkout after (this one)")
    ap.add_argument("--engines", default="sqlite,postgresql")
    ap.add_argument("--phones", type=int, default=120)
    ap.add_argument("--per", type=int, default=300)
    ap.add_argument("--inflight", type=int, default=60)
    ap.add_argument("--changes", type=int, default=30_000)
    ap.add_argument("--pulls", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--ingest-only", action="store_true", help="skip the storm and the pull")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--root", help=argparse.SUPPRESS)
    ap.add_argument("--ingest-db", help=argparse.SUPPRESS)
    ap.add_argument("--storm-db", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    if not args.before:
        ap.error("--before: the checkout to compare with (git worktree add DIR e3dbee0)")
    driver(args)


if __name__ == "__main__":
    main()
