"""A phone's sync during a flood of wrong logins vs. quiet, same server, same run (#9).

One real server process; a coordinator login exists; one enrolled phone syncs (a small
batch of visit changes each time) and its round-trip times are measured in three
conditions, interleaved over rounds:

* quiet: nothing else happens;
* flood, one address: a burst of ``--flood`` wrong logins sent at the same moment, every
  second (the issue's attack: 100 concurrent wrong logins from one address); the rate
  limit counts attempts when they start, so 5 reach the password check, the rest get 429;
* flood, many addresses: the same bursts, each login from a fresh loopback address, so
  every one would reach the password check (a distributed guesser: argon2 runs in
  bounded worker threads and beyond the queue the server answers 503).

During each flood the real coordinator also logs in ``--logins`` times, from its own
address and from the browser it logged in with before the flood (#22: 3 of 5 such
logins got 503 during a flood from many addresses).

Prints the p50/p90 of each condition, the ratio to quiet, what the flood got back, and
the coordinator's answers.
Run: .venv/bin/python bench/login_flood.py [--syncs 40] [--rounds 3] [--flood 100]
"""

import argparse
import asyncio
import collections
import itertools
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

from conftest import LiveServer, Stamper  # noqa: E402

from server.ops.access_commands import add_coordinator  # noqa: E402
from sync.ids import uuid7  # noqa: E402

WRONG = b'{"login": "office", "password": "not the password"}'


def _addresses(many: bool):
    if not many:
        return itertools.repeat("127.0.0.1")
    # 127.1.0.1, 127.1.0.2, ...: loopback answers the whole 127/8 on Linux.
    return (f"127.{1 + n // 62500}.{n // 250 % 250}.{1 + n % 250}" for n in itertools.count())


async def _one_login(port: int, source: str) -> str:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    except OSError as exc:
        return type(exc).__name__
    head = (
        f"POST /api/v1/login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(WRONG)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    try:
        writer.write(head + WRONG)
        await writer.drain()
        line = await reader.readline()
        return line.split(b" ")[1].decode() if line else "closed"
    except OSError as exc:
        return type(exc).__name__
    finally:
        writer.close()


class Flood:
    """A burst of ``width`` wrong logins every ``every`` seconds, in a thread of its own
    (a burst is skipped while three bursts' worth are still unanswered)."""

    def __init__(self, port: int, width: int, many: bool, every: float = 1.0) -> None:
        self.port, self.width, self.every = port, width, every
        self.sources = _addresses(many)
        self.answers: collections.Counter[str] = collections.Counter()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _login(self) -> None:
        self.answers[await _one_login(self.port, next(self.sources))] += 1

    async def _run(self) -> None:
        pending: set[asyncio.Task[None]] = set()
        while not self.stop.is_set():
            if len(pending) < 3 * self.width:
                for _ in range(self.width):
                    task = asyncio.create_task(self._login())
                    pending.add(task)
                    task.add_done_callback(pending.discard)
            else:
                self.answers["burst skipped"] += 1
            await asyncio.sleep(self.every)
        if pending:
            await asyncio.wait(pending, timeout=60)

    def __enter__(self) -> "Flood":
        self.thread.start()
        time.sleep(0.2)  # the first burst is on its way
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(60)


#: A sync that takes longer counts as this long (and as timed out).
GIVE_UP = 30.0


def sync_times(server: LiveServer, phone, stamp: Stamper, n: int) -> list[float]:
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    times = []
    with httpx.Client(base_url=server.url, transport=transport, timeout=GIVE_UP) as client:
        for _ in range(n):
            vid = uuid7()
            changes = [
                {"coll": "visits", "id": vid, "field": f, "value": v, "hlc": stamp()}
                for f, v in (("outcome", "reached"), ("note", "已送电暖气"))
            ]
            body = {"node": phone.node, "cursor": phone.cursor, "changes": changes}
            t = time.perf_counter()
            try:
                r = client.post("/api/v1/sync", json=body, headers=phone.headers)
            except httpx.TimeoutException:
                times.append(GIVE_UP)
                continue
            times.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
            phone.cursor = r.json()["cursor"]
    return times


RIGHT = {"login": "office", "password": "correct horse battery"}


def coordinator_logins(browser: httpx.Client, n: int) -> collections.Counter[str]:
    """``n`` logins with the right password from the coordinator's usual browser."""
    got: collections.Counter[str] = collections.Counter()
    for _ in range(n):
        try:
            got[str(browser.post("/api/v1/login", json=RIGHT).status_code)] += 1
        except httpx.TimeoutException:
            got["timeout"] += 1
    return got


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--syncs", type=int, default=40, help="syncs measured per condition")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--flood", type=int, default=100, help="wrong logins in flight")
    ap.add_argument("--logins", type=int, default=5, help="coordinator logins per flood")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "flood.db")
        server = LiveServer(db).start()
        try:
            add_coordinator(db, "office", "correct horse battery", name="街道办")
            phone = server.enroll()
            stamp = Stamper(phone.node)
            sync_times(server, phone, stamp, 10)  # warm up
            transport = httpx.HTTPTransport(local_address="127.0.0.3")
            browser = httpx.Client(base_url=server.url, transport=transport, timeout=GIVE_UP)
            assert browser.post("/api/v1/login", json=RIGHT).status_code == 200
            times: dict[str, list[float]] = {"quiet": [], "one address": [], "many": []}
            answers: dict[str, collections.Counter[str]] = {k: collections.Counter() for k in times}
            logins: dict[str, collections.Counter[str]] = {k: collections.Counter() for k in times}
            for _ in range(args.rounds):
                times["quiet"] += sync_times(server, phone, stamp, args.syncs)
                for name, many in (("one address", False), ("many", True)):
                    with Flood(server.port, args.flood, many) as flood:
                        times[name] += sync_times(server, phone, stamp, args.syncs)
                        logins[name] += coordinator_logins(browser, args.logins)
                    answers[name] += flood.answers
            browser.close()
        finally:
            server.stop()
    quiet = statistics.median(times["quiet"])
    print(f"phone sync round trip, {args.rounds} rounds x {args.syncs} syncs per condition")
    for name, ts in times.items():
        p50 = statistics.median(ts)
        p90 = statistics.quantiles(ts, n=10)[-1]
        label = "quiet" if name == "quiet" else f"flood of {args.flood} wrong logins, {name}"
        print(
            f"  {label:48s} p50 {p50 * 1000:7.1f} ms  p90 {p90 * 1000:7.1f} ms  "
            f"p50 ratio to quiet {p50 / quiet:5.2f}"
        )
        if GIVE_UP in ts:
            print(f"    {ts.count(GIVE_UP)} of {len(ts)} syncs gave up after {GIVE_UP:.0f} s")
        if answers[name]:
            print(f"    login answers during it: {dict(sorted(answers[name].items()))}")
        if logins[name]:
            print(f"    the coordinator's own logins: {dict(sorted(logins[name].items()))}")


if __name__ == "__main__":
    main()
