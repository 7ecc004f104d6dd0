"""Slow request bodies on the residents' push endpoint vs. phones and /healthz (#22 H1).

The issue's way, scaled to this box: one real server under a small open-file limit
(``--open-files``, 256 by default: a cap of 128 connections, where the issue had 1,024 and
832); ``--slow`` connections (more than the cap) each send the header of
``POST /api/v1/public/<token>/push`` and then one body byte every ``--every`` seconds,
reopening when the server closes them. Meanwhile ``--checks`` rounds each ask ``/healthz``
once and make one phone sync, each on a fresh connection, and the answers are counted; a
quiet round of the same checks before the attack is the baseline.

Loopback only, bounded loops. Run: .venv/bin/python bench/slow_bodies.py
"""

import argparse
import collections
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from conftest import LiveServer, load_demo  # noqa: E402

from server.ops.demo import HEATING  # noqa: E402


class SlowBodies:
    """``n`` connections sending a push body one byte every ``every`` seconds."""

    def __init__(self, port: int, token: str, n: int, every: float) -> None:
        self.port, self.n, self.every = port, n, every
        self.head = (
            f"POST /api/v1/public/{token}/push HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        ).encode()
        self.stop = threading.Event()
        self.opened = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _open(self) -> socket.socket | None:
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            s.sendall(self.head + b"{")
            s.setblocking(False)
            self.opened += 1
            return s
        except OSError:
            return None

    def _run(self) -> None:
        socks: list[socket.socket | None] = [self._open() for _ in range(self.n)]
        while not self.stop.wait(self.every):
            for i, s in enumerate(socks):
                try:
                    if s is None:
                        raise OSError
                    s.send(b" ")
                except OSError:  # closed by the server: come back, as an attacker would
                    if s is not None:
                        s.close()
                    socks[i] = self._open()
        for s in socks:
            if s is not None:
                s.close()

    def __enter__(self) -> "SlowBodies":
        self.thread.start()
        time.sleep(2 * self.every)  # every connection is inside its body
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(60)


def checks(server: LiveServer, phone, n: int, pause: float) -> collections.Counter[str]:
    got: collections.Counter[str] = collections.Counter()
    for _ in range(n):
        try:
            code = httpx.get(f"{server.url}/healthz", timeout=10).status_code
            got[f"healthz {code}"] += 1
        except httpx.HTTPError as exc:
            got[f"healthz {type(exc).__name__}"] += 1
        body = {"node": phone.node, "cursor": 0, "changes": []}
        try:
            url, auth = f"{server.url}/api/v1/sync", phone.headers
            r = httpx.post(url, json=body, headers=auth, timeout=10)
            got[f"sync {r.status_code}"] += 1
        except httpx.HTTPError as exc:
            got[f"sync {type(exc).__name__}"] += 1
        time.sleep(pause)
    return got


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--open-files", type=int, default=256)
    ap.add_argument("--slow", type=int, default=180, help="slow-body connections")
    ap.add_argument("--every", type=float, default=5.0, help="seconds between body bytes")
    ap.add_argument("--checks", type=int, default=30)
    ap.add_argument("--pause", type=float, default=0.5, help="seconds between check rounds")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "slow.db")
        load_demo(db)
        server = LiveServer(db, open_files=args.open_files).start()
        try:
            coord = server.enroll("coordinator", "主任")
            phone = server.enroll()
            r = httpx.post(f"{server.url}/api/v1/incidents/{HEATING}/share", headers=coord.headers)
            token = r.json()["token"]
            quiet = checks(server, phone, args.checks, args.pause)
            with SlowBodies(server.port, token, args.slow, args.every) as slow:
                attacked = checks(server, phone, args.checks, args.pause)
            opened = slow.opened
        finally:
            server.stop()
    print(
        f"{args.slow} slow push bodies (1 byte / {args.every:g} s) under {args.open_files} "
        f"open files; {args.checks} rounds of /healthz + one phone sync"
    )
    print(f"  quiet:  {dict(sorted(quiet.items()))}")
    print(f"  attack: {dict(sorted(attacked.items()))}  (slow connections opened: {opened})")
    ok = attacked["healthz 200"], attacked["sync 200"]
    print(f"  during the attack: /healthz 200 {ok[0]}/{args.checks}, syncs {ok[1]}/{args.checks}")


if __name__ == "__main__":
    main()
