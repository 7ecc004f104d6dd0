"""How fast one volunteer's door reaches another online phone (#11).

On one ``doorstep serve`` with the demo loaded, two volunteers are assigned the heating
outage; phone A keeps ``GET /api/v1/nudges`` open, a coordinator keeps
``GET /api/v1/events`` open. Per round, phone B syncs one visit, and we time from B's
sync answer to:

* A's ``changed`` nudge, and to A's follow-up sync holding B's visit (what the PWA does
  on a nudge; the grid redraws from that commit);
* the coordinator stream's ``change`` frame with B's visit: the baseline, the existing live
  path, measured in the same run.

Without the nudge a phone saw another phone's visit at its 60-second timer: on average
30 s, at worst 60 s (the issue observed ~40 s).

Usage: ``.venv/bin/python bench/nudge.py [rounds]`` (default 20).
"""

import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from httpx_sse import connect_sse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.ops.access_commands import assign  # noqa: E402
from server.ops.admin import create_invite  # noqa: E402
from server.ops.demo import HEATING  # noqa: E402
from sync.clock import Timestamp, format_stamp  # noqa: E402
from sync.ids import uuid7  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def enroll(base: str, db: str, role: str, name: str) -> dict:
    code, _ = create_invite(db, role, name=name)
    auth = httpx.post(f"{base}/api/v1/enroll", json={"code": code, "device": "bench"}).json()
    return {**auth, "headers": {"Authorization": f"Bearer {auth['token']}"}}


def main(rounds: int) -> None:
    tmp = tempfile.mkdtemp(prefix="doorstep-nudge-")
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
        a = enroll(base, db, "volunteer", "甲")
        b = enroll(base, db, "volunteer", "乙")
        boss = enroll(base, db, "coordinator", "主任")
        for v in (a, b):
            assign(db, v["person"], incident=HEATING)
        households = [
            c["id"]
            for c in httpx.post(
                f"{base}/api/v1/sync",
                headers=b["headers"],
                json={"node": b["node"], "cursor": 0, "changes": [], "limit": 5000},
            ).json()["changes"]
            if c["coll"] == "households" and c["field"] == "building"
        ]
        nudges: list[float] = []
        frames: list[tuple[float, set[str]]] = []
        lock = threading.Condition()

        def read(path: str, headers: dict, sink: list, kind: str) -> None:
            with (
                httpx.Client(base_url=base, timeout=None) as client,
                connect_sse(client, "GET", path, headers=headers) as source,
            ):
                for ev in source.iter_sse():
                    if ev.event != kind:
                        continue
                    with lock:
                        if kind == "changed":
                            sink.append(time.perf_counter())
                        else:
                            ids = {c["id"] for c in json.loads(ev.data)["changes"]}
                            sink.append((time.perf_counter(), ids))
                        lock.notify_all()

        for args in (
            ("/api/v1/nudges", a["headers"], nudges, "changed"),
            ("/api/v1/events", boss["headers"], frames, "change"),
        ):
            threading.Thread(target=read, args=args, daemon=True).start()
        with lock:
            lock.wait_for(lambda: len(nudges) >= 1, timeout=30)  # the one sent on connect
        time.sleep(0.5)
        cursor_a = 0
        # A pulls everything once, as a phone that is up to date.
        while True:
            d = httpx.post(
                f"{base}/api/v1/sync",
                headers=a["headers"],
                json={"node": a["node"], "cursor": cursor_a, "changes": [], "limit": 5000},
            ).json()
            cursor_a = d["cursor"]
            if not d["more"]:
                break
        nudge_ms, pull_ms, coord_ms = [], [], []
        for i in range(rounds):
            vid = uuid7()
            hlc = format_stamp(Timestamp(int(time.time() * 1000), i + 1, b["node"]))
            with lock:
                seen_n = len(nudges)
            r = httpx.post(
                f"{base}/api/v1/sync",
                headers=b["headers"],
                json={
                    "node": b["node"],
                    "cursor": 0,
                    "limit": 1,
                    "changes": [
                        {
                            "coll": "visits",
                            "id": vid,
                            "field": "household",
                            "value": households[i % len(households)],
                            "hlc": hlc,
                        }
                    ],
                },
            )
            t0 = time.perf_counter()
            assert r.status_code == 200 and r.json()["rejected"] == [], r.text
            with lock:
                lock.wait_for(lambda n=seen_n: len(nudges) > n, timeout=30)
                nudge_ms.append((nudges[seen_n] - t0) * 1000)
                lock.wait_for(lambda v=vid: any(v in ids for _, ids in frames), timeout=30)
                coord_ms.append((next(t for t, ids in frames if vid in ids) - t0) * 1000)
            d = httpx.post(
                f"{base}/api/v1/sync",
                headers=a["headers"],
                json={"node": a["node"], "cursor": cursor_a, "changes": [], "limit": 5000},
            ).json()
            assert any(c["id"] == vid for c in d["changes"]), "A's pull lacks B's visit"
            pull_ms.append((time.perf_counter() - t0) * 1000)
            cursor_a = d["cursor"]
            time.sleep(0.3)  # one visit at a time, as doors are knocked
        med = statistics.median

        def line(name: str, xs: list[float]) -> None:
            print(f"{name:<34} median {med(xs):7.1f} ms   max {max(xs):7.1f} ms")

        print(f"rounds: {rounds}")
        line("nudge reaches phone A", nudge_ms)
        line("baseline: coordinator change frame", coord_ms)
        line("nudge + A's pull (door on A's grid)", pull_ms)
        print(f"ratio nudge / coordinator frame: {med(nudge_ms) / med(coord_ms):.2f}")
        print(f"old 60 s timer, mean wait 30 000 ms: {30_000 / med(pull_ms):.0f}x later")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:  # open streams keep it busy: stop it for good
            proc.kill()
            proc.wait(10)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
