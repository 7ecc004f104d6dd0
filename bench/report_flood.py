"""One volunteer token writing 20,000 field records (#22 M1), on one server process.

The attack of the issue: a volunteer's token sends 20,000 incidents in a few seconds, and
every phone in every community pulls them. This script starts ``doorstep serve`` on a
fresh database (two communities, a building each; a volunteer of the first community
floods, a volunteer and a coordinator of the second one watch), then:

* measures what each watcher pulls from cursor 0 before the flood (the baseline);
* sends 20,000 incidents, then 20,000 field reports, 1,000 records a request, and counts
  what the server accepted and how long it took;
* measures the watchers' pulls from 0 again: bytes, and the ratio to the baseline.

Usage: ``.venv/bin/python bench/report_flood.py [N]`` (default 20,000). Runs on SQLite in a
temporary directory; ``DOORSTEP_DB=postgresql://…`` runs it on PostgreSQL.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.ops.access_commands import add_coordinator, assign  # noqa: E402
from server.ops.admin import create_invite, write_records  # noqa: E402
from sync.clock import Timestamp, format_stamp  # noqa: E402
from sync.ids import uuid7  # noqa: E402

PER_REQUEST = 1_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Phone:
    def __init__(self, url: str, db: str, role: str, person: str | None = None) -> None:
        code, _ = create_invite(db, role, name="压测", person=person)
        self.http = httpx.Client(base_url=url, timeout=300)
        d = self.http.post("/api/v1/enroll", json={"code": code, "device": "bench"}).json()
        self.token, self.node, self.person = d["token"], d["node"], d["person"]
        self.counter = 0

    def stamp(self) -> str:
        self.counter += 1
        return format_stamp(Timestamp(int(time.time() * 1000), self.counter % 65536, self.node))

    def sync(self, changes: list[dict], cursor: int = 0) -> dict:
        r = self.http.post(
            "/api/v1/sync",
            json={"node": self.node, "cursor": cursor, "changes": changes, "limit": 5000},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        r.raise_for_status()
        return r.json() | {"_bytes": len(r.content)}

    def pull_bytes(self) -> int:
        """Bytes of a whole pull from cursor 0, page after page."""
        cursor, total = 0, 0
        while True:
            got = self.sync([], cursor)
            total += got["_bytes"]
            cursor = got["cursor"]
            if not got["more"]:
                return total


def flood(phone: Phone, coll: str, n: int, fields: dict) -> tuple[int, int, float]:
    """(records sent, changes accepted, seconds)."""
    accepted, start = 0, time.perf_counter()
    for first in range(0, n, PER_REQUEST):
        batch = [
            {"coll": coll, "id": rid, "field": f, "value": v, "hlc": phone.stamp()}
            for rid in (uuid7() for _ in range(min(PER_REQUEST, n - first)))
            for f, v in fields.items()
        ]
        accepted += phone.sync(batch)["accepted"]
    return n, accepted, time.perf_counter() - start


def main(n: int) -> None:
    tmp = tempfile.mkdtemp(prefix="report-flood-")
    db = os.environ.get("DOORSTEP_DB") or str(Path(tmp) / "flood.db")
    c1, c2, b1, b2 = uuid7(), uuid7(), uuid7(), uuid7()
    write_records(
        db,
        [
            ("communities", c1, {"name": "净土社区"}),
            ("communities", c2, {"name": "扇子市社区"}),
            ("buildings", b1, {"community": c1, "label": "1号楼"}),
            ("buildings", b2, {"community": c2, "label": "2号楼"}),
        ],
    )
    port = free_port()
    log = open(Path(tmp) / "server.log", "ab")  # noqa: SIM115
    server = subprocess.Popen(
        [sys.executable, "-m", "server.ops.cli", "serve", "--db", db, "--port", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        attacker = Phone(url, db, "volunteer")
        assign(db, attacker.person, building=b1)
        bystander = Phone(url, db, "volunteer")
        assign(db, bystander.person, building=b2)
        coord2 = Phone(url, db, "coordinator", add_coordinator(db, "c2", "x" * 12, community=c2))
        watchers = {
            "volunteer of the other community": bystander,
            "coordinator of the other community": coord2,
        }
        base = {name: p.pull_bytes() for name, p in watchers.items()}
        incident = {"community": c1, "kind": "other", "title": "刷屏", "status": "reported"}
        report = {"community": c1, "text": "刷屏", "reporter": attacker.person}
        for coll, fields in (("incidents", incident), ("reports", report)):
            sent, ok, secs = flood(attacker, coll, n, fields)
            print(
                f"{coll}: {sent:,} records ({sent * len(fields):,} changes) in {secs:.1f} s; "
                f"accepted {ok:,} changes ({ok // len(fields):,} records)"
            )
        for name, p in watchers.items():
            after = p.pull_bytes()
            print(
                f"pull from 0 by the {name}: {base[name] / 1024:.1f} KiB before the flood, "
                f"{after / 1024:.1f} KiB after ({after / base[name]:.2f}x)"
            )
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
