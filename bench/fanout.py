"""Fan-out of one residents' update to N concurrent SSE subscribers, on one server process.

For N in (1,000, 10,000) by default:

* start ``doorstep serve`` on a fresh database with the demo loaded, open N streams of
  ``GET /api/v1/public/<token>/events`` from several client processes (loopback only),
  post one public update through ``POST /api/v1/sync`` and time, per subscriber, from just
  before the post until the update's event arrives: p50, p99 and max (max = the time
  until every subscriber has it); memory per subscriber = growth of the server's RSS
  divided by N;
* the same fan-out from a minimal raw asyncio SSE server (no framework, no database, a
  list of writers and one write per subscriber) as the baseline, in the same run.

Usage: ``.venv/bin/python bench/fanout.py [N ...]``. Needs ~2N file descriptors across
processes; the soft RLIMIT_NOFILE is raised to the hard limit.
"""

import asyncio
import json
import multiprocessing as mp
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.ops.admin import create_invite  # noqa: E402
from server.ops.demo import HEATING  # noqa: E402
from sync.clock import Timestamp, format_stamp  # noqa: E402
from sync.ids import uuid7  # noqa: E402

MARK = "BENCH-MARK"
WORKERS = 4
CONNECT_AT_ONCE = 100
DEADLINE = 120.0
#: Seconds a client process has to open its streams (thousands on a loaded box).
CONNECT_DEADLINE = 600.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used so far (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# -- clients -------------------------------------------------------------------------------


def _resident_address(i: int) -> str:
    """A distinct address per subscriber, as residents' phones have behind the proxy.

    Only a header (uvicorn trusts X-Forwarded-For from 127.0.0.1): per-address rate limits
    then apply per resident as in production. 198.18.0.0/15 is the benchmarking range."""
    k = (os.getpid() * 100_003 + i) % (1 << 17)
    return f"198.{18 + (k >> 16)}.{(k >> 8) & 255}.{k & 255}"


async def _subscriber(
    port: int, path: str, ready: list, got: list, failed: list, i: int = 0
) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as e:
        failed.append(f"connect: {e}")
        return
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        f"X-Forwarded-For: {_resident_address(i)}\r\n\r\n".encode()
    )
    buf = b""
    connected = False
    try:
        await writer.drain()
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                if not connected:
                    failed.append(f"closed: {buf[:80]!r}")
                return
            buf += chunk
            # Ready once the first event (the current view, or a comment) is in.
            if not connected and b"\r\n\r\n" in buf and b"\n\n" in buf.split(b"\r\n\r\n", 1)[1]:
                connected = True
                ready.append(1)
            if MARK.encode() in buf:
                got.append(time.monotonic())
                # Stay connected, as a resident's page does: closing now would add the
                # connection's teardown to the work of the delivery being measured.
                await asyncio.Future()
            buf = buf[-4096:]
    except OSError as e:
        if not connected:
            failed.append(f"read: {e}")
    finally:
        writer.close()


async def _client_main(port: int, path: str, n: int, conn) -> None:
    ready: list = []
    got: list = []
    failed: list = []
    tasks = []
    for i in range(0, n, CONNECT_AT_ONCE):
        for _ in range(min(CONNECT_AT_ONCE, n - i)):
            tasks.append(
                asyncio.create_task(_subscriber(port, path, ready, got, failed, len(tasks)))
            )
        while len(ready) + len(failed) < min(n, i + CONNECT_AT_ONCE):
            await asyncio.sleep(0.01)
    conn.send(("ready", len(ready), failed[:3]))
    deadline = time.monotonic() + DEADLINE
    while len(got) < len(ready) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    conn.send(("got", got, rss_kib(os.getpid())))
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _client(port: int, path: str, n: int, conn) -> None:
    _raise_nofile()
    asyncio.run(_client_main(port, path, n, conn))


def spread_clients(
    ports: list[int], path: str, n: int, trigger, workers: int = WORKERS, stats: dict | None = None
) -> dict[int, list[float]]:
    """Connect n subscribers spread evenly over ``ports`` from ``workers`` client
    processes (worker k on port k mod len(ports)), call ``trigger()`` (returns t0); the
    delays from t0 until each subscriber had the update, by port. ``stats`` gets the
    seconds it took to open every stream, the client processes' memory (KiB) and the CPU
    seconds each used from the trigger until its streams had the update."""
    started = time.monotonic()
    workers = max(workers, len(ports))
    per = [n // workers + (1 if i < n % workers else 0) for i in range(workers)]
    pipes, procs = [], []
    for k, count in enumerate(per):
        a, b = mp.Pipe()
        p = mp.Process(target=_client, args=(ports[k % len(ports)], path, count, b), daemon=True)
        p.start()
        pipes.append(a)
        procs.append(p)
    failures: list[str] = []
    for a in pipes:
        if not a.poll(CONNECT_DEADLINE):
            raise RuntimeError("subscribers did not connect in time")
        kind, _, failed = a.recv()
        assert kind == "ready"
        failures += failed
    if failures:
        raise RuntimeError(f"subscribers could not connect, e.g. {failures}")
    connect_s = time.monotonic() - started
    time.sleep(1.0)  # let the server settle (and its tailer read any backlog)
    cpu0 = [cpu_seconds(p.pid) for p in procs]
    t0 = trigger()
    delays: dict[int, list[float]] = {port: [] for port in ports}
    client_kib, client_cpu = [], []
    for k, a in enumerate(pipes):
        if not a.poll(DEADLINE + 10):
            raise RuntimeError("a client process did not report")
        kind, got, kib = a.recv()
        delays[ports[k % len(ports)]] += [t - t0 for t in got]
        client_kib.append(kib)
        client_cpu.append(cpu_seconds(procs[k].pid) - cpu0[k])
    if stats is not None:
        stats.update(connect_s=connect_s, client_kib=client_kib, client_cpu_s=client_cpu)
    for p in procs:
        p.join(10)
    return delays


def run_clients(port: int, path: str, n: int, trigger) -> tuple[list[float], float]:
    """Connect n subscribers, call ``trigger()`` (returns t0), collect the delays."""
    t0 = [0.0]

    def keep() -> float:
        t0[0] = trigger()
        return t0[0]

    return spread_clients([port], path, n, keep)[port], t0[0]


def _raise_nofile() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# -- doorstep --------------------------------------------------------------------------------


def follow(base: str, code: str) -> tuple[dict, str]:
    """Enrol a coordinator with the invite ``code`` and share the heating incident;
    (the device's enrolment answer, the residents' link token)."""
    auth = httpx.post(f"{base}/api/v1/enroll", json={"code": code, "device": "bench"}).json()
    headers = {"Authorization": f"Bearer {auth['token']}"}
    r = httpx.post(f"{base}/api/v1/incidents/{HEATING}/share", headers=headers)
    return auth, r.json()["token"]


def post_update(base: str, auth: dict) -> tuple[float, float]:
    """Post one public update (carrying MARK) through ``POST /api/v1/sync``; (the
    monotonic time just before the request, the milliseconds the request took)."""
    ms = int(time.time() * 1000)
    fields = {
        "incident": HEATING,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "text": f"{MARK} 注水升温",
        "public": True,
    }
    uid = uuid7()
    changes = [
        {
            "coll": "updates",
            "id": uid,
            "field": f,
            "value": v,
            "hlc": format_stamp(Timestamp(ms, k, auth["node"])),
        }
        for k, (f, v) in enumerate(fields.items(), start=1)
    ]
    t0 = time.monotonic()
    r = httpx.post(
        f"{base}/api/v1/sync",
        headers={"Authorization": f"Bearer {auth['token']}"},
        json={"node": auth["node"], "cursor": 0, "changes": changes, "limit": 1},
        timeout=60,
    )
    assert r.status_code == 200 and not r.json()["rejected"], r.text
    return t0, (time.monotonic() - t0) * 1000


def doorstep(n: int) -> dict:
    tmp = tempfile.mkdtemp(prefix="doorstep-bench-")
    db = str(Path(tmp) / "bench.db")
    subprocess.run(
        [sys.executable, "-m", "server.ops.cli", "demo", "--db", db],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.ops.cli", "serve", "--db", db, "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        code, _ = create_invite(db, "coordinator", name="bench")
        auth, token = follow(base, code)
        before = rss_kib(proc.pid)
        rss_connected = [0]
        write_ms = [0.0]

        def trigger() -> float:
            rss_connected[0] = rss_kib(proc.pid)
            t0, write_ms[0] = post_update(base, auth)
            return t0

        delays, _ = run_clients(port, f"/api/v1/public/{token}/events", n, trigger)
        out = summary("doorstep", n, delays, (rss_connected[0] - before) * 1024 / n)
        out["sync_ms"] = write_ms[0]
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(60)  # thousands of streams to close on a loaded box
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- baseline: a minimal raw asyncio SSE server -----------------------------------------------


def _baseline_server(port: int, conn) -> None:
    _raise_nofile()

    async def main() -> None:
        writers: list[asyncio.StreamWriter] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            if head.startswith(b"POST"):
                frame = f"id: 1\nevent: public\ndata: {json.dumps({'text': MARK})}\n\n".encode()
                for w in writers:
                    w.write(frame)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                writer.close()
                return
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Cache-Control: no-cache\r\n\r\n: hello\n\n"
            )
            writers.append(writer)
            await reader.read()  # until the client goes

        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
        conn.send(os.getpid())
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def baseline(n: int, servers: int = 1, workers: int = WORKERS, stats: dict | None = None) -> dict:
    """The raw server's fan-out; with ``servers`` > 1, that many raw server processes,
    the subscribers spread evenly over them and the update posted to all of them at once
    (the floor: no notification between processes)."""
    ports, procs, pids = [], [], []
    for _ in range(servers):
        ports.append(free_port())
        a, b = mp.Pipe()
        proc = mp.Process(target=_baseline_server, args=(ports[-1], b), daemon=True)
        proc.start()
        procs.append(proc)
        pids.append(a.recv())
    before = sum(rss_kib(pid) for pid in pids)
    rss_connected = [0]

    cpu = [0.0]

    def trigger() -> float:
        rss_connected[0] = sum(rss_kib(pid) for pid in pids)
        cpu[0] = sum(cpu_seconds(pid) for pid in pids)
        socks = [socket.create_connection(("127.0.0.1", port)) for port in ports]
        t0 = time.monotonic()
        for s in socks:
            s.sendall(b"POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        for s in socks:
            s.recv(100)
            s.close()
        return t0

    try:
        by_port = spread_clients(ports, "/events", n, trigger, workers, stats)
        if stats is not None:
            stats["server_cpu_s"] = sum(cpu_seconds(pid) for pid in pids) - cpu[0]
        delays = [d for port in ports for d in by_port[port]]
        return summary("raw asyncio", n, delays, (rss_connected[0] - before) * 1024 / n)
    finally:
        for proc in procs:
            proc.terminate()
            proc.join(10)


def summary(name: str, n: int, delays: list[float], bytes_per_sub: float) -> dict:
    delays.sort()
    got = len(delays)
    q = statistics.quantiles(delays, n=100) if got > 1 else delays * 99
    return {
        "server": name,
        "subscribers": n,
        "delivered": got,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "max_ms": delays[-1] * 1000 if got else None,
        "kib_per_subscriber": bytes_per_sub / 1024,
    }


def main() -> None:
    _raise_nofile()
    sizes = [int(a) for a in sys.argv[1:]] or [1000, 10000]
    print(f"fan-out bench: {os.cpu_count()} CPUs, {WORKERS} client processes, loopback")
    for n in sizes:
        d, b = doorstep(n), baseline(n)
        print(
            f"  (doorstep: the sync request that posts the update took {d['sync_ms']:.0f} ms "
            "of that, fsync included)"
        )
        for r in (d, b):
            print(
                f"  {r['server']:>12} N={n:>6}  delivered {r['delivered']:>6}  "
                f"p50 {r['p50_ms']:8.1f} ms  p99 {r['p99_ms']:8.1f} ms  "
                f"max {r['max_ms']:8.1f} ms  {r['kib_per_subscriber']:6.1f} KiB/subscriber"
            )
        print(
            f"  ratio doorstep/raw  N={n:>6}  p50 x{d['p50_ms'] / b['p50_ms']:.1f}  "
            f"p99 x{d['p99_ms'] / b['p99_ms']:.1f}  "
            f"memory x{d['kib_per_subscriber'] / max(b['kib_per_subscriber'], 0.01):.1f}"
        )


if __name__ == "__main__":
    main()
