"""SSE fan-out over several app servers, on SQLite and on PostgreSQL (#14).

N resident streams (``GET /api/v1/public/<token>/events``) spread evenly over
``--servers`` ``doorstep serve`` processes on one database; one public update posted
through ``POST /api/v1/sync`` to the first server; per subscriber, the time from just
before that post until the update's event arrived: p50, p99 and max, over all streams
and split into the server that took the sync and the others (they learn of it from the
change log: polling every 0.1 s on SQLite, LISTEN/NOTIFY on PostgreSQL). The issue's
target: N = 30,000 over 3 servers, p99 under 1 s. Memory per stream: the growth of the
servers' RSS over the open streams, divided by N.

Baseline, same run: ``bench/fanout.py``'s raw asyncio SSE server (no framework, no
database), as many processes as app servers, the subscribers spread the same way and the
update posted to all of them at once (the floor: nothing travels between processes).

Each backend gets a fresh copy of the demo (made once by ``doorstep demo`` on SQLite,
copied as ``bench/multi.py`` does: a file copy, or ``migrate_db.copy`` into a new
database on a throwaway PostgreSQL cluster with fsync on). The clients are
``bench/fanout.py``'s: ``--clients`` processes per server on loopback, each stream with
its own X-Forwarded-For address.

Direct ports, not Caddy: the streams go straight to each server's port, as Caddy's
``least_conn`` would spread them (long-lived streams, so evenly). Through one Caddy on
this machine 30,000 streams cannot be opened: Caddy holds two descriptors a stream (client
side and upstream side), 60,000, and a process here may hold at most RLIMIT_NOFILE's hard
limit (20,000; the container withholds CAP_SYS_RESOURCE, so not even root can raise it);
and one client address reaches one address:port over at most the ephemeral port range
(32768-60999: 28,232 connections). The limits are printed before the run.

Run: .venv/bin/python bench/fanout_multi.py [N ...] [--servers 3] [--clients 2]
     [--backends sqlite,postgresql] [--url postgresql://…]
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import fanout  # noqa: E402
import multi  # noqa: E402

from server.ops.admin import create_invite  # noqa: E402


def limits(n: int, servers: int, workers: int) -> list[str]:
    """What bounds N on this machine, one line each, and whether this run fits."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    free_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemAvailable:")
    )
    per_server = -(-n // servers)
    per_client = -(-n // workers)
    allowed = hard - hard // 8  # doorstep serve's default --max-connections
    return [
        f"open files per process (hard limit): {hard:,} (soft {soft:,}); doorstep serve then "
        f"holds up to {allowed:,} connections; this run: {per_server:,} streams a server, "
        f"{per_client:,} a client process",
        f"ephemeral ports: {high - low + 1:,} connections from one address to one port; "
        f"this run: {per_server:,} to each server's port",
        f"memory available: {free_kib / 1024 / 1024:.1f} GiB; {os.cpu_count()} CPUs "
        f"(load average {os.getloadavg()[0]:.1f} at the start)",
    ]


def spread(name: str, n: int, by_port: dict[int, list[float]], ports: list[int]) -> dict:
    """Figures over all streams, and the origin server's apart from the others'."""
    delays = [d for port in ports for d in by_port[port]]
    out = fanout.summary(name, n, delays, 0.0) if delays else {"delivered": 0}
    for label, group in (("origin", ports[:1]), ("others", ports[1:])):
        ds = sorted(d for port in group for d in by_port[port])
        if len(ds) > 1:
            q = statistics.quantiles(ds, n=100)
            out[label] = (len(ds), q[49] * 1000, q[98] * 1000, ds[-1] * 1000)
    return out


def doorstep(
    backend: "multi.SqliteFiles | multi.PgDatabases",
    template: str,
    code: str,
    n: int,
    servers: int,
    workers: int,
    log_dir: str,
) -> dict:
    """The fan-out over ``servers`` app servers on a fresh copy of the demo."""
    db = backend.fresh(template)
    procs = multi.start(db, servers, log_dir)
    try:
        ports = [s.port for s in procs]
        auth, token = fanout.follow(procs[0].url, code)
        before = sum(fanout.rss_kib(s.proc.pid) for s in procs)
        at_trigger = [0]
        sync_ms = [0.0]
        cpu = [0.0]

        def trigger() -> float:
            at_trigger[0] = sum(fanout.rss_kib(s.proc.pid) for s in procs)
            cpu[0] = sum(fanout.cpu_seconds(s.proc.pid) for s in procs)
            t0, sync_ms[0] = fanout.post_update(procs[0].url, auth)
            return t0

        stats: dict = {}
        by_port = fanout.spread_clients(
            ports, f"/api/v1/public/{token}/events", n, trigger, workers, stats
        )
        stats["server_cpu_s"] = sum(fanout.cpu_seconds(s.proc.pid) for s in procs) - cpu[0]
        out = spread(f"{backend.name} x{servers}", n, by_port, ports)
        out.update(stats, sync_ms=sync_ms[0], kib=(at_trigger[0] - before) / n)
        return out
    finally:
        for s in procs:
            s.stop()
        backend.drop(db)


def raw(n: int, servers: int, workers: int) -> dict:
    stats: dict = {}
    out = fanout.baseline(n, servers, workers, stats)
    out.update(stats, name=f"raw asyncio x{servers}", kib=out["kib_per_subscriber"])
    return out


def report(rows: list[dict], base: dict, n: int) -> None:
    print(
        f"  {'':22}{'delivered':>10}{'p50':>9}{'p99':>9}{'max':>9}{'KiB/stream':>11}"
        f"{'open all':>10}{'clients':>9}{'CPU srv+cli':>14}  p99 vs raw"
    )
    for r in [base, *rows]:
        name = r.get("name") or r.get("server")
        if not r.get("delivered"):
            print(f"  {name:<22}{0:>10}  (nothing delivered)")
            continue
        clients = sum(r["client_kib"]) / 1024
        cpu = f"{r['server_cpu_s']:.1f}+{sum(r['client_cpu_s']):.1f}s"
        print(
            f"  {name:<22}{r['delivered']:>10,}{r['p50_ms']:>7.0f}ms{r['p99_ms']:>7.0f}ms"
            f"{r['max_ms']:>7.0f}ms{r['kib']:>11.1f}{r['connect_s']:>9.0f}s{clients:>6.0f}MiB"
            f"{cpu:>14}  x{r['p99_ms'] / base['p99_ms']:.1f}"
        )
        for label in ("origin", "others"):
            if label in r:
                k, p50, p99, top = r[label]
                print(
                    f"    {'origin server' if label == 'origin' else 'other servers':<20}"
                    f"{k:>10,}{p50:>7.0f}ms{p99:>7.0f}ms{top:>7.0f}ms"
                )
        if "sync_ms" in r:
            print(f"    the sync that posted the update took {r['sync_ms']:.0f} ms")
    print(
        "  CPU srv+cli: CPU seconds the servers and the client processes used from the post "
        f"until every stream had the update; on {os.cpu_count()} cores the delivery cannot "
        "take less than their sum divided by the cores"
    )
    under = [r.get("server") for r in rows if r.get("delivered") == n and r["p99_ms"] < 1000]
    print(f"  p99 < 1 s with every stream served (N = {n:,}): {', '.join(under) or 'none'}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sizes", nargs="*", type=int, default=[30_000])
    ap.add_argument("--servers", type=int, default=3)
    ap.add_argument("--clients", type=int, default=2, help="client processes per server")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--url", help="an existing PostgreSQL server's maintenance database URL")
    args = ap.parse_args()
    fanout._raise_nofile()  # the servers and client processes inherit it
    workers = args.servers * args.clients
    tmp = Path(tempfile.mkdtemp(prefix="doorstep-fanout-"))
    backends: list[multi.SqliteFiles | multi.PgDatabases] = []
    try:
        template = str(tmp / "demo.db")
        subprocess.run(
            [sys.executable, "-m", "server.ops.cli", "demo", "--db", template],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        code, _ = create_invite(template, "coordinator", name="bench")
        for name in filter(None, args.backends.split(",")):
            if name not in ("sqlite", "postgresql"):
                sys.exit(f"--backends: {name!r} is neither sqlite nor postgresql")
            backends.append(
                multi.SqliteFiles(tmp) if name == "sqlite" else multi.PgDatabases(args.url)
            )
        for n in args.sizes:
            print(
                f"fan-out of one update to {n:,} resident streams over {args.servers} "
                f"app servers (direct ports), {workers} client processes, loopback"
            )
            for line in limits(n, args.servers, workers):
                print(f"  {line}")
            base = raw(n, args.servers, workers)
            rows = []
            for b in backends:
                try:
                    rows.append(doorstep(b, template, code, n, args.servers, workers, str(tmp)))
                except Exception as e:  # report what stopped a backend, run the next
                    print(f"  {b.name}: {type(e).__name__}: {e}")
                    rows.append({"server": f"{b.name} x{args.servers}", "delivered": 0})
            report(rows, base, n)
    finally:
        for b in backends:
            b.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
