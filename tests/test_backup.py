"""``doorstep backup`` and ``doorstep restore``: verified copies, rotation, a new epoch,
and server-side decisions taken after the backup that hold after the restore."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, LiveServer, Stamper, put_record, run_cli

from server.db.backup import BackupError, backup, backups, restore
from server.ops.demo import HEATING

pytestmark = pytest.mark.sqlite_only(
    reason="backups are SQLite file copies (sqlite3.backup); pg_dump backups: test_pg_backup"
)

PASSWORD = "sheng-ji-2026"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "server.ops.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_backup_is_a_verified_copy_and_keeps_the_newest_n(tmp_path: Path) -> None:
    db = str(tmp_path / "d.db")
    run_cli("demo", "--db", db)
    t0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    made = [backup(db, tmp_path / "b", keep=2, now=t0 + timedelta(minutes=i)) for i in range(3)]
    assert backups(tmp_path / "b") == made[1:]
    assert not list((tmp_path / "b").glob("*.partial"))
    with sqlite3.connect(made[-1]) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        src = sqlite3.connect(db)
        assert (
            conn.execute("SELECT count(*) FROM winners").fetchone()
            == src.execute("SELECT count(*) FROM winners").fetchone()
        )
        src.close()


def test_a_damaged_backup_is_refused_and_the_database_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    run_cli("demo", "--db", str(db))
    bad = tmp_path / "doorstep-bad.db"
    good = backup(db, tmp_path / "b")
    data = bytearray(good.read_bytes())
    data[4096 * 3 : 4096 * 3 + 512] = b"\xff" * 512  # a page of the winners, scribbled over
    bad.write_bytes(bytes(data))
    before = db.read_bytes()
    with pytest.raises(BackupError, match=r"integrity check"):
        restore(bad, db)
    assert db.read_bytes() == before
    r = cli("restore", "--db", str(db), str(tmp_path / "missing.db"))
    assert r.returncode == 1 and "no backup at" in r.stderr


def test_decisions_after_the_backup_hold_after_a_restore(tmp_path: Path) -> None:
    db = str(tmp_path / "live.db")
    run_cli("demo", "--db", db)
    run_cli_stdin = subprocess.run(
        [sys.executable, "-m", "server.ops.cli", "coordinator", "add", "--db", db,
         "--login", "office", "--name", "李书记", "--password-stdin"],
        cwd=ROOT, input=PASSWORD, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert run_cli_stdin.returncode == 0
    server = LiveServer(db).start()
    try:
        coordinator = server.enroll(role="coordinator", name="街道值班")
        volunteer = server.enroll(name="志愿者甲")
        lost = server.enroll(name="丢失的手机")
        stamp = Stamper(coordinator.node)
        assignment = f"{volunteer.person}~{HEATING}"
        put_record(
            coordinator, stamp, "assignments", assignment,
            person=volunteer.person, incident=HEATING, active=True,
        )  # fmt: skip
        browser = httpx.Client(base_url=server.url)
        session = browser.post("/api/v1/login", json={"login": "office", "password": PASSWORD})
        assert session.status_code == 200
        csrf = session.json()["csrf"]
        epoch = coordinator.sync().json()["epoch"]
        copy = json.loads(run_cli("backup", "--db", db, "--out", str(tmp_path / "b")))["backup"]

        # After the backup: a revocation, a logout, an ended assignment, a new phone.
        r = coordinator.client.post(
            f"/api/v1/devices/{lost.node}/revoke", headers=coordinator.headers
        )
        assert r.status_code == 200, r.text
        assert browser.post("/api/v1/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
        put_record(coordinator, stamp, "assignments", assignment, active=False)
        newcomer = server.enroll(name="新来的志愿者")

        server.stop()
        r = cli("restore", "--db", db, copy)
        assert r.returncode == 0, r.stderr
        report = json.loads(r.stdout)
        assert report["epoch"] != epoch
        assert {"revoke", "device", "assignment"} <= set(report["replayed"])
        assert report["cannot_know"]
        server.start()

        assert coordinator.sync().json()["epoch"] == report["epoch"]
        r = lost.sync()
        assert r.status_code == 401 and r.json()["error"] == "revoked", r.text
        assert browser.get("/api/v1/session").status_code == 401
        assert newcomer.sync().status_code == 200
        (active,) = server.query(
            "SELECT value FROM winners WHERE coll = 'assignments' AND id = ? AND field = 'active'",
            (assignment,),
        )[0]
        assert json.loads(active) is False
        # The volunteer holds nothing personal any more: no household pulled.
        pulled = volunteer.sync(cursor=0, limit=5000).json()["changes"]
        assert not [c for c in pulled if c["coll"] == "households"]
    finally:
        server.stop()


def test_restore_without_a_journal_says_what_to_redo(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    run_cli("demo", "--db", str(db))
    copy = backup(db, tmp_path / "b")
    Path(f"{db}-decisions").unlink(missing_ok=True)
    r = cli("restore", "--db", str(db), str(copy))
    assert r.returncode == 0
    assert json.loads(r.stdout)["journal"] is None
    assert "redo by hand" in r.stderr
    assert list(tmp_path.glob("d.db.replaced-*"))


def test_restore_is_refused_while_a_server_has_the_database_open(tmp_path: Path) -> None:
    db = tmp_path / "open.db"
    server = LiveServer(str(db)).start()
    try:
        phone = server.enroll(role="coordinator", name="街道值班")
        stamp = Stamper(phone.node)
        copy = backup(db, tmp_path / "b")
        files = sorted(p.name for p in tmp_path.iterdir())
        r = cli("restore", "--db", str(db), str(copy))
        assert r.returncode == 1, r.stdout
        assert "has" in r.stderr and "open" in r.stderr and "stop every server" in r.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == files  # nothing moved aside
        # The server still writes into the file the command line reads.
        rid = put_record(phone, stamp, "buildings", label="还在这个文件里")
        assert server.query("SELECT 1 FROM winners WHERE id = ?", (rid,))
    finally:
        server.stop()
    r = cli("restore", "--db", str(db), str(copy))  # stopped: the restore goes ahead
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["replaced"]
