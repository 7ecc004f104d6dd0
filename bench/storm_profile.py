"""Where a reconnect storm's time goes, on PostgreSQL and on SQLite (issue 21, item 6).

The storm of ``bench/storm.py`` (``--phones`` volunteer phones, each scoped to its
building, push ``--per`` visit changes at once, ``--inflight`` at a time) against one
``doorstep serve`` run under cProfile, on a fresh database of each engine. Printed per
engine: the storm's wall time; the CPU seconds of the server process (all its threads)
and, on PostgreSQL, of the database's backends; the statements and round trips per sync
request and the time PostgreSQL spent executing them (``pg_stat_statements``, loaded
into the throwaway cluster for this run); the top statements by time; the server's top
functions by own time (cProfile sees the event loop's thread only: on PostgreSQL's old
path that is all of a request's database work, on a worker thread it is not). Then
``--pulls`` volunteers pull from cursor 0, one at a time: the median request, and on
PostgreSQL the statements of a pull.

The cluster (tests/pg.py) has fsync on, as SQLite's synchronous=FULL.
Run: .venv/bin/python bench/storm_profile.py [--phones 60] [--per 300] [--inflight 30]
     [--engines postgresql,sqlite] [--top 12] [--pulls 10]
     [--pg-setting plan_cache_mode=force_custom_plan]
"""

import argparse
import asyncio
import contextlib
import io
import os
import pstats
import signal
import stat
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import httpx  # noqa: E402
import psycopg  # noqa: E402
import storm  # noqa: E402
from pg import Cluster, find_bindir  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) of one process, all its threads."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def children_cpu(ppid: int) -> float:
    """CPU seconds of the live children of ``ppid`` (PostgreSQL's backends)."""
    total = 0.0
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                fields = (p / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == ppid:
                total += (int(fields[11]) + int(fields[12])) / TICK
    return total


BOOT = """import cProfile, os, runpy, signal, sys
prof = cProfile.Profile()
real_exit = os._exit


def dump(code=0):
    prof.disable()
    prof.dump_stats({prof!r})
    real_exit(code)


# doorstep serve leaves with os._exit when a thread outlives uvicorn: write first.
os._exit = dump
# uvicorn raises the SIGTERM it handled again once it has shut down: end here then.
signal.signal(signal.SIGTERM, lambda *_: dump(0))
# Profile only between SIGUSR1 and SIGUSR2 (the storm), not the start.
signal.signal(signal.SIGUSR1, lambda *_: prof.enable())
signal.signal(signal.SIGUSR2, lambda *_: prof.disable())
sys.argv = sys.argv[2:]
sys.path.insert(0, os.getcwd())
try:
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
except SystemExit as exc:
    dump(exc.code if isinstance(exc.code, int) else 1)
dump(0)
"""


def profiled_python(tmp: Path, prof: Path) -> str:
    """An executable that runs ``-m module args`` under cProfile, writing ``prof`` at
    exit, profiling between SIGUSR1 and SIGUSR2 (LiveServer starts ``sys.executable -m
    server.cli serve …``)."""
    boot = tmp / "profile_boot.py"
    boot.write_text(BOOT.format(prof=str(prof)))
    wrapper = tmp / "python-profiled"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} {boot} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return str(wrapper)


def with_statements(cluster: Cluster, settings: list[str]) -> None:
    """Restart the cluster with pg_stat_statements loaded and ``settings`` (name=value)."""
    cluster.psql("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
    for item in settings:
        name, value = item.split("=", 1)
        cluster.psql(f"ALTER SYSTEM SET {name} = '{value}'")
    pg_ctl = str(cluster.bindir / "pg_ctl")
    cluster._run(pg_ctl, "-D", str(cluster.data), "-l", str(cluster.log), "-w", "restart")


def run(engine: str, args: argparse.Namespace, cluster: Cluster | None, tmp: Path) -> None:
    prof = tmp / f"{engine}.prof"
    db = cluster.create_database() if cluster else str(tmp / "storm.db")
    server, office, ostamp, homes = storm.setup(db, args.phones)
    with contextlib.redirect_stderr(io.StringIO()):  # the invites' note about --base-url
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
    # The same database, served again under cProfile: only the storm is profiled.
    server.stop()
    real, sys.executable = sys.executable, profiled_python(tmp, prof)
    try:
        server.start()
    finally:
        sys.executable = real
    pg = psycopg.connect(db, autocommit=True) if cluster else None
    postmaster = 0
    if pg is not None and cluster is not None:
        pg.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    # Warm the server's pool (a first request opens connections) before counting.
    asyncio.run(storm.to_head(server, devices[:1], 1))
    assert server.proc is not None
    cpu0 = cpu_of(server.proc.pid)
    db0 = children_cpu(postmaster) if postmaster else 0.0
    if pg is not None:
        pg.execute("SELECT pg_stat_statements_reset()")
    server.proc.send_signal(signal.SIGUSR1)
    t0 = time.perf_counter()
    storm_s, lat = asyncio.run(storm.storm(server, devices, bodies, args.inflight))
    lat.sort()
    wall = time.perf_counter() - t0
    server.proc.send_signal(signal.SIGUSR2)
    cpu = cpu_of(server.proc.pid) - cpu0
    dbcpu = (children_cpu(postmaster) - db0) if postmaster else 0.0
    requests = len(devices)
    total = requests * args.per
    print(f"\n== {engine}: {requests} syncs of {args.per} changes, {args.inflight} in flight")
    print(
        f"  storm            {total / storm_s:,.0f} changes/s ({wall:.2f} s wall, "
        f"{wall / requests * 1000:.0f} ms a sync; request p50 {lat[len(lat) // 2]:.2f} s)"
    )
    print(f"  server CPU       {cpu:.2f} s ({cpu / requests * 1000:.1f} ms a sync)")
    if pg is not None:
        rows = pg.execute(
            "SELECT calls, total_exec_time, rows, query FROM pg_stat_statements "
            "WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC"
        ).fetchall()
        calls = sum(r[0] for r in rows)
        exec_ms = sum(r[1] for r in rows)
        # Waiting for the log's ordering lock counts as that statement's execution.
        waits = sum(r[1] for r in rows if "pg_advisory_xact_lock" in r[3])
        print(f"  database CPU     {dbcpu:.2f} s (backends, all processes)")
        print(
            f"  statements       {calls / requests:.1f} a sync, {exec_ms / 1000:.2f} s executing "
            f"({exec_ms / requests:.1f} ms a sync), of which waiting for the ordering "
            f"lock {waits / 1000:.2f} s; the rest {(exec_ms - waits) / requests:.1f} ms a sync"
        )
        print("  top statements by time (ms total, calls, ms a call):")
        for c, ms, _rows, q in rows[: args.top]:
            text = " ".join(q.split())[:110]
            print(f"    {ms:9.1f} {c:6d} {ms / max(c, 1):7.2f}  {text}")
    # A volunteer's pull: each of --pulls phones, one after another, from cursor 0.
    if pg is not None:
        pg.execute("SELECT pg_stat_statements_reset()")
    times, got = [], 0
    with httpx.Client(base_url=server.url, timeout=120) as c:
        for p in devices[: args.pulls]:
            t = time.perf_counter()
            r = c.post(
                "/api/v1/sync",
                headers=p.headers,
                json={"node": p.node, "cursor": 0, "changes": [], "limit": 1000},
            )
            times.append(time.perf_counter() - t)
            got += len(r.json()["changes"])
    n = len(times)
    print(
        f"  volunteer pulls  {statistics.median(times) * 1000:.1f} ms median of {n} "
        f"(from cursor 0, {got / n:.0f} rows each, one at a time)"
    )
    if pg is not None:
        rows = pg.execute(
            "SELECT calls, total_exec_time, rows, query FROM pg_stat_statements "
            "WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC"
        ).fetchall()
        calls = sum(r[0] for r in rows)
        exec_ms = sum(r[1] for r in rows)
        print(f"  statements       {calls / n:.1f} a pull, {exec_ms / n:.1f} ms a pull executing")
        for c, ms, _rows, q in rows[:3]:
            text = " ".join(q.split())[:110]
            print(f"    {ms:9.1f} {c:6d} {ms / max(c, 1):7.2f}  {text}")
        pg.close()
    server.stop()
    if prof.exists():
        print("  server's own time by function (event loop thread, cProfile):")
        st = pstats.Stats(str(prof))
        funcs = sorted(st.stats.items(), key=lambda kv: kv[1][2], reverse=True)  # type: ignore[attr-defined]
        for (file, line, name), (_cc, nc, tt, ct, _callers) in funcs[: args.top]:
            where = f"{Path(file).name}:{line}({name})" if line else name
            print(f"    {tt:7.2f} s own {ct:7.2f} s cum {nc:8d} calls  {where[:80]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--phones", type=int, default=60)
    ap.add_argument("--per", type=int, default=300)
    ap.add_argument("--inflight", type=int, default=30)
    ap.add_argument("--engines", default="postgresql,sqlite")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--pulls", type=int, default=10)
    ap.add_argument(
        "--pg-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a PostgreSQL setting for the whole cluster, e.g. plan_cache_mode=force_custom_plan",
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="doorstep-profile-"))
    for engine in args.engines.split(","):
        cluster = None
        if engine == "postgresql":
            bindir = find_bindir()
            if bindir is None:
                sys.exit("PostgreSQL's initdb/pg_ctl not found: bash .ci/setup --test")
            cluster = Cluster(bindir, durable=True).start()
            with_statements(cluster, args.pg_setting)
        try:
            run(engine, args, cluster, tmp)
        finally:
            if cluster is not None:
                cluster.stop()


if __name__ == "__main__":
    main()
