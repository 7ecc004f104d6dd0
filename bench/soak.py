"""Soak: steady phone syncs, 2,000 resident streams, the coordinator stream, and one restart
of the server in the middle. Prints the server's RSS curve, what was lost, what resumed.

* Phones: ``--phones`` devices each push a few visits every ``--every`` seconds through
  ``POST /api/v1/sync``; a batch without an answer (the restart) is sent again, as the
  PWA's outbox does. At the end every stamp a phone saw accepted must be in the history.
* Residents: ``--streams`` SSE connections to the incident's public stream, from two
  client processes, each with its own forwarded address (per-address limits apply per
  resident, as behind Caddy). After the restart each reconnects with Last-Event-ID; it
  counts as resumed when the new server answers it with 200 (an up-to-date resident gets
  no event until the next public change, only the 15 s comment pings).
* Coordinator: one stream of every change, resumed by Last-Event-ID across the restart;
  at the end the sequence numbers it received must be every number the server wrote
  after it connected, none missing.
* RSS: the server's resident memory sampled every ``--sample`` seconds; the figure is the
  growth from the first sample after warm-up to the last, per process (before and after
  the restart), against the sampled range as the baseline.

Run: .venv/bin/python bench/soak.py [--minutes 20] [--streams 2000] [--phones 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import random
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from conftest import LiveServer, Stamper, run_cli  # noqa: E402

from server.ops.demo import HEATING  # noqa: E402
from sync.ids import uuid7  # noqa: E402


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _raise_nofile() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# -- resident streams (client processes) ---------------------------------------------------


async def _resident(port: int, path: str, addr: str, stats: dict, stop: asyncio.Event) -> None:
    """One resident: stream, and on every loss reconnect with Last-Event-ID."""
    last: str | None = None
    connections = 0
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(1 + random.random() * 2)
            continue
        head = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            f"X-Forwarded-For: {addr}\r\n"
        )
        if last is not None:
            head += f"Last-Event-ID: {last}\r\n"
        writer.write((head + "\r\n").encode())
        try:
            await writer.drain()
            status = await reader.readline()
            if b" 200 " not in status:
                stats["refused"] += 1
                raise ConnectionError(status)
            connections += 1
            stats["connected"] += connections == 1
            stats["resumed"] += connections == 2  # answered again after losing its stream
            while not stop.is_set():
                line = await reader.readline()
                if not line:
                    break
                if line.startswith(b"id: "):
                    last = line[4:].strip().decode()
                elif line.startswith(b"data: "):
                    stats["events"] += 1
        except (OSError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        await asyncio.sleep(1 + random.random() * 2)  # the stream's retry: 2 s


def _residents(port: int, path: str, n: int, worker: int, seconds: float, conn) -> None:
    _raise_nofile()

    async def main() -> None:
        stats = {"connected": 0, "resumed": 0, "events": 0, "refused": 0}
        stop = asyncio.Event()
        tasks = []
        for i in range(n):
            k = worker * 50_000 + i
            addr = f"198.{18 + (k >> 16)}.{(k >> 8) & 255}.{k & 255}"
            tasks.append(asyncio.create_task(_resident(port, path, addr, stats, stop)))
            if i % 100 == 99:
                await asyncio.sleep(0.2)
        await asyncio.sleep(seconds)
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        conn.send(stats)

    asyncio.run(main())


# -- the coordinator stream and phones (main process, threads) ---------------------------


class Coordinator(threading.Thread):
    """Every change event's seq, resumed by Last-Event-ID across the restart."""

    def __init__(self, url: str, token: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url, self.token, self.stop = url, token, stop
        self.seqs: set[int] = set()
        self.connections = 0
        self.first_id: int | None = None

    def run(self) -> None:
        last: str | None = None
        while not self.stop.is_set():
            headers = {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"}
            if last is not None:
                headers["Last-Event-ID"] = last
            try:
                with (
                    httpx.Client(timeout=httpx.Timeout(30, read=40)) as c,
                    c.stream("GET", f"{self.url}/api/v1/events", headers=headers) as r,
                ):
                    if r.status_code != 200:
                        raise httpx.HTTPError(str(r.status_code))
                    self.connections += 1
                    kind = None
                    for line in r.iter_lines():
                        if self.stop.is_set():
                            return
                        if line.startswith("id: "):
                            last = line[4:]
                            if self.first_id is None:
                                self.first_id = int(last)
                        elif line.startswith("event: "):
                            kind = line[7:]
                        elif line.startswith("data: ") and kind == "change":
                            for ch in json.loads(line[6:])["changes"]:
                                self.seqs.add(ch["seq"])
            except (httpx.HTTPError, OSError, ValueError):
                time.sleep(1)


class Phones(threading.Thread):
    """Phones pushing visits; a batch without an answer goes again (the outbox rule)."""

    def __init__(self, url: str, phones: list, every: float, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url, self.phones, self.every, self.stop = url, phones, every, stop
        self.accepted: set[str] = set()
        self.requests = self.failures = 0

    def run(self) -> None:
        stamps = {p["node"]: Stamper(p["node"]) for p in self.phones}
        outbox: dict[str, list] = {p["node"]: [] for p in self.phones}
        with httpx.Client(base_url=self.url, timeout=10) as c:
            while not self.stop.is_set():
                t0 = time.monotonic()
                for p in self.phones:
                    box = outbox[p["node"]]
                    if not box:
                        box.extend(
                            {"coll": "visits", "id": uuid7(), "field": "outcome",
                             "value": "reached", "hlc": stamps[p["node"]]()}
                            for _ in range(5)
                        )  # fmt: skip
                    self.requests += 1
                    try:
                        r = c.post(
                            "/api/v1/sync",
                            json={"node": p["node"], "cursor": 0, "changes": box, "limit": 1},
                            headers={"Authorization": f"Bearer {p['token']}"},
                        )
                    except httpx.HTTPError:
                        self.failures += 1
                        continue
                    if r.status_code != 200:
                        self.failures += 1
                        continue
                    bad = {x["hlc"] for x in r.json()["rejected"]}
                    self.accepted |= {ch["hlc"] for ch in box if ch["hlc"] not in bad}
                    box.clear()
                self.stop.wait(max(0.0, self.every - (time.monotonic() - t0)))


def start_slowly(server: LiveServer, seconds: float = 180.0) -> None:
    """LiveServer.start, waiting longer: 2 shared cores under this load start slowly."""
    try:
        server.start()
        return
    except RuntimeError:
        if server.proc is None or server.proc.poll() is not None:
            raise
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"server did not come back in {seconds:.0f} s")


def enroll(server: LiveServer, role: str, name: str) -> dict:
    phone = server.enroll(role=role, name=name)
    return {"node": phone.node, "token": phone.token}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--streams", type=int, default=2000)
    ap.add_argument("--phones", type=int, default=20)
    ap.add_argument("--every", type=float, default=2.0, help="seconds between a phone's syncs")
    ap.add_argument("--sample", type=float, default=15.0, help="seconds between RSS samples")
    args = ap.parse_args()
    _raise_nofile()
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "soak.db")
        run_cli("demo", "--db", db)
        server = LiveServer(db)
        start_slowly(server)
        coord = enroll(server, "coordinator", "值班")
        token = httpx.post(
            f"{server.url}/api/v1/incidents/{HEATING}/share",
            headers={"Authorization": f"Bearer {coord['token']}"},
        ).json()["token"]
        # Coordinators may write anywhere: the soak is about load, not access rules.
        phones = [enroll(server, "coordinator", f"手机{i}") for i in range(args.phones)]
        stop = threading.Event()
        stop_coordinator = threading.Event()
        coordinator = Coordinator(server.url, coord["token"], stop_coordinator)
        coordinator.start()
        pipes, procs = [], []
        for w in range(2):
            a, b = mp.Pipe()
            n = args.streams // 2 + (args.streams % 2 if w == 0 else 0)
            p = mp.Process(
                target=_residents,
                args=(server.port, f"/api/v1/public/{token}/events", n, w, seconds, b),
                daemon=True,
            )
            p.start()
            pipes.append(a)
            procs.append(p)
        pusher = Phones(server.url, phones, args.every, stop)
        pusher.start()
        curve: list[tuple[float, int, float]] = []
        t0 = time.monotonic()
        restarted = False
        restart_gap = 0.0
        while (now := time.monotonic() - t0) < seconds:
            if not restarted and now >= seconds / 2:
                r0 = time.monotonic()
                server.stop()
                start_slowly(server)
                restart_gap = time.monotonic() - r0
                restarted = True
            assert server.proc is not None
            curve.append((now, server.proc.pid, rss_mib(server.proc.pid)))
            time.sleep(min(args.sample, max(0.1, seconds - now)))
        stats = {"connected": 0, "resumed": 0, "events": 0, "refused": 0}
        for a in pipes:
            if a.poll(120):
                for k, v in a.recv().items():
                    stats[k] += v
        for p in procs:
            p.join(10)
        stop.set()
        pusher.join(15)
        # The coordinator reads until it has what the phones' last round wrote.
        (top,) = server.query("SELECT coalesce(max(seq), 0) FROM history")[0]
        deadline = time.monotonic() + 60
        while max(coordinator.seqs, default=0) < top and time.monotonic() < deadline:
            time.sleep(0.2)
        stop_coordinator.set()
        accepted = pusher.accepted
        have = {
            r[0]
            for r in server.query(
                "SELECT hlc FROM history WHERE coll = 'visits' AND field = 'outcome'"
            )
        }
        first = coordinator.first_id or 0
        written = {r[0] for r in server.query("SELECT seq FROM history WHERE seq > ?", (first,))}
        server.stop()
    lost = len(accepted - have)
    missed = len(written - coordinator.seqs)
    print(f"soak: {args.minutes:g} min, {args.phones} phones every {args.every:g} s, "
          f"{args.streams} resident streams, 1 coordinator stream, 1 restart "
          f"(down {restart_gap:.1f} s)")  # fmt: skip
    print("RSS curve (s, pid, MiB):")
    for t, pid, mib in curve:
        print(f"  {t:7.0f}  {pid}  {mib:7.1f}")
    for label, part in (
        ("before restart", [c for c in curve if c[1] == curve[0][1]]),
        ("after restart", [c for c in curve if c[1] != curve[0][1]]),
    ):
        warm = part[1:] if len(part) > 2 else part  # the first sample is before warm-up
        if len(warm) >= 2:
            lo, hi = min(m for *_, m in warm), max(m for *_, m in warm)
            print(
                f"  {label}: {warm[0][2]:.1f} → {warm[-1][2]:.1f} MiB "
                f"(growth {warm[-1][2] - warm[0][2]:+.1f} MiB; sampled range {lo:.1f}–{hi:.1f})"
            )
    print(
        f"phones: {pusher.requests} sync requests, {pusher.failures} without an answer "
        f"(retried), {len(accepted)} changes accepted, {lost} missing from the server"
    )
    print(
        f"residents: {stats['connected']} of {args.streams} connected, {stats['resumed']} "
        f"resumed after the restart, {stats['refused']} refused, {stats['events']} events"
    )
    print(
        f"coordinator: {coordinator.connections} connections, {len(coordinator.seqs)} "
        f"changes received, {missed} of {len(written)} written after it connected missing"
    )


if __name__ == "__main__":
    main()
