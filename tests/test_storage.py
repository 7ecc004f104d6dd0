"""Disk use is bounded (#9, hole 6): the quarantine keeps at most 1,000 rejected changes
per device and counts the rest where the coordinator sees them; a full database answers
507 ``storage_full`` and pulls keep working. Real server processes."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, Stamper

from server.db.changes import QUARANTINE_PER_DEVICE
from sync.ids import uuid7


def test_quarantine_is_bounded_per_device_and_the_rest_is_counted(
    empty_server: LiveServer,
) -> None:
    phone = empty_server.enroll("volunteer", "坏设备")
    admin = empty_server.enroll("coordinator", "街道办")
    stamp = Stamper(phone.node)
    over = 250
    for n in (QUARANTINE_PER_DEVICE, over):
        bad = [
            {"coll": "nope", "id": uuid7(), "field": "x", "value": "y" * 1000, "hlc": stamp()}
            for _ in range(n)
        ]
        r = phone.sync(bad)
        assert r.status_code == 200 and len(r.json()["rejected"]) == n, r.text
    [(kept,)] = empty_server.query(
        "SELECT count(*) FROM quarantine WHERE node = ? AND error != 'quarantine_full'",
        (phone.node,),
    )
    assert kept == QUARANTINE_PER_DEVICE
    r = httpx.get(f"{empty_server.url}/api/v1/quarantine", headers=admin.headers, timeout=30)
    full = [q for q in r.json() if q["error"] == "quarantine_full" and q["node"] == phone.node]
    assert len(full) == 1 and full[0]["raw"] == str(over)
    assert "quarantine keeps" in full[0]["message"]


@pytest.fixture
def capped_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> Iterator[LiveServer]:
    """A server whose database may not grow past 1 MiB (DOORSTEP_MAX_DB_MB): the disk
    filling up, as SQLite reports it (SQLITE_FULL)."""
    monkeypatch.setenv("DOORSTEP_MAX_DB_MB", "1")
    server = LiveServer(str(tmp_path / "capped.db")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.sqlite_only(reason="caps the SQLite file: max_page_count")
def test_a_full_database_answers_507_and_pulls_keep_working(capped_server: LiveServer) -> None:
    writer = capped_server.enroll("coordinator", "街道办")
    stamp = Stamper(writer.node)
    hid = uuid7()
    r = writer.sync(
        [{"coll": "households", "id": hid, "field": "notes", "value": "早", "hlc": stamp()}]
    )
    assert r.status_code == 200, r.text
    statuses = []
    for _ in range(10):
        notes = [
            {
                "coll": "households",
                "id": uuid7(),
                "field": "notes",
                "value": "满" * 1500,
                "hlc": stamp(),
            }
            for _ in range(200)
        ]
        r = writer.sync(notes)
        statuses.append(r.status_code)
        if r.status_code != 200:
            break
    assert r.status_code == 507, statuses
    body = r.json()
    assert body["error"] == "storage_full" and "storage is full" in body["message"]
    reader = capped_server.enroll("coordinator", "读者")
    pulled = reader.sync([])
    assert pulled.status_code == 200, pulled.text
    assert hid in {c["id"] for c in pulled.json()["changes"]}
