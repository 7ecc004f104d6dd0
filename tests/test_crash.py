"""A server process killed (SIGKILL) in the middle of a large push loses and duplicates
nothing once the device re-sends what was not answered."""

import sqlite3
import threading
import time

import httpx
import pytest
from conftest import LiveServer, eventually

from sync import clock
from sync.merge import merge

BATCHES, PER_BATCH = 12, 1000


def make_batches(node: str) -> list[list[dict]]:
    ts = clock.initial(node)
    start = int(time.time() * 1000) - 120_000
    batches = []
    for b in range(BATCHES):
        batch = []
        for i in range(PER_BATCH):
            ts = clock.send(ts, start + b)
            # Keys repeat across batches, so later batches overwrite earlier ones.
            rid = f"h{(b * PER_BATCH + i) % 3000}~inc"
            batch.append(
                {
                    "coll": "household_status",
                    "id": rid,
                    "field": "satisfaction",
                    "value": 1 + (b + i) % 5,
                    "hlc": clock.format_stamp(ts),
                }
            )
        batches.append(batch)
    return batches


@pytest.mark.sqlite_only(reason="reads the SQLite file, PRAGMA integrity_check")
def test_sigkill_mid_push_then_resend_converges_without_duplicates(
    empty_server: LiveServer,
) -> None:
    phone = empty_server.enroll("coordinator")  # all scopes (#5)
    batches = make_batches(phone.node)
    answered: set[int] = set()

    def push() -> None:
        with httpx.Client(base_url=empty_server.url, timeout=30) as c:
            for n, batch in enumerate(batches):
                try:
                    r = c.post(
                        "/api/v1/sync",
                        headers=phone.headers,
                        json={"node": phone.node, "cursor": 0, "changes": batch, "limit": 1},
                    )
                except httpx.HTTPError:
                    return  # the server died: no answer for this batch
                if r.status_code == 200:
                    answered.add(n)

    t = threading.Thread(target=push)
    t.start()
    eventually(lambda: len(answered) >= 3, "three answered batches", every=0.005)
    empty_server.kill()
    t.join(30)
    assert 3 <= len(answered) < BATCHES, "the kill must land in the middle of the push"

    # Restart on the same file; the device re-sends every batch it has no answer for
    # (and, to be harsh, the answered ones too).
    again = LiveServer(empty_server.db_path).start()
    try:
        with httpx.Client(base_url=again.url, timeout=60) as c:
            for batch in batches:
                r = c.post(
                    "/api/v1/sync",
                    headers=phone.headers,
                    json={"node": phone.node, "cursor": 0, "changes": batch, "limit": 1},
                )
                assert r.status_code == 200 and r.json()["rejected"] == []
    finally:
        again.stop()

    conn = sqlite3.connect(empty_server.db_path)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    total, distinct = conn.execute("SELECT count(*), count(DISTINCT hlc) FROM history").fetchone()
    assert total == distinct == BATCHES * PER_BATCH
    reference = merge({}, [c for b in batches for c in b])
    rows = conn.execute("SELECT coll, id, field, value, hlc FROM winners").fetchall()
    got = {(c, i, f): (v, h) for c, i, f, v, h in rows}
    assert got == {k: (str(ch["value"]), ch["hlc"]) for k, ch in reference.items()}
    seqs = [s for (s,) in conn.execute("SELECT seq FROM winners")]
    assert len(seqs) == len(set(seqs))
