"""``doorstep migrate-db``: a community moves from a SQLite file to PostgreSQL whole —
every row, the log's seq values and the epoch — so phones keep their cursors (#14)."""

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from conftest import LiveServer, Stamper, load_demo, put_record, query, run_async

from server.db import changes
from server.db.changes import Incoming
from server.db.move import TABLES
from server.db.postgresql.core import PgDatabase, connect
from server.ops.demo import HEATING
from sync.ids import uuid7

ROOT = Path(__file__).resolve().parent.parent


def _doorstep(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.ops.cli", *args], capture_output=True, text=True, cwd=ROOT
    )


def _sqlite_rows(path: str, table: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        return sorted(conn.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall(), key=repr)
    finally:
        conn.close()


def _pg_rows(url: str, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    with connect(url) as raw:
        rows = raw.execute(f"SELECT {', '.join(columns)} FROM {table}")
        return sorted((tuple(r) for r in rows), key=repr)


def test_every_row_moves_as_it_is_and_the_log_goes_on_after_it(demo_twins: tuple[str, str]) -> None:
    path, url = demo_twins
    conn = sqlite3.connect(path)
    tables = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    top = conn.execute("SELECT max(seq) FROM history").fetchone()[0]
    conn.close()
    assert top > 7000  # the demo's log
    for table in TABLES:
        if table not in tables:
            continue
        conn = sqlite3.connect(path)
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        conn.close()
        mine, theirs = _sqlite_rows(path, table), _pg_rows(url, table, cols)
        if table == "meta":  # the same keys and values; PostgreSQL adds none
            assert dict(theirs) == dict(mine)
        else:
            assert theirs == mine, table

    async def append() -> list[int]:
        async with PgDatabase(url) as db:
            change: Incoming = ("zz-after-move", "households", "h1", "note", '"x"', "n1", None, "t")
            await db.write_tx(lambda conn: changes.apply_in(conn, [change]), appends=True)
            rows = await db.select("SELECT seq FROM history WHERE hlc = ?", ("zz-after-move",))
            return [r[0] for r in rows]

    # The next change continues the log after the copied seq values (a phone's cursor).
    assert run_async(append()) == [top + 1]


def test_the_command_refuses_a_database_in_use_and_changes_nothing(
    tmp_path: Path, pg_url: str
) -> None:
    path = str(tmp_path / "c.db")
    load_demo(path)
    first = _doorstep("migrate-db", "--from", path, "--to", pg_url)
    assert first.returncode == 0, first.stderr
    again = _doorstep("migrate-db", "--from", path, "--to", pg_url)
    assert again.returncode == 1
    assert "already holds a community" in again.stderr and "Traceback" not in again.stderr
    # A missing file and a file path as the target: one line each, no traceback.
    nowhere = _doorstep("migrate-db", "--from", str(tmp_path / "none.db"), "--to", pg_url)
    assert nowhere.returncode == 1 and "no such database file" in nowhere.stderr
    wrong = _doorstep("migrate-db", "--from", path, "--to", str(tmp_path / "x.db"))
    assert wrong.returncode == 2 and "postgresql://" in wrong.stderr


def _pull_to_the_end(phone: Any) -> dict:
    """Sync until the server has nothing more, keeping the cursor as a phone does."""
    while True:
        r = phone.sync()
        assert r.status_code == 200, r.text
        body = r.json()
        phone.cursor = body["cursor"]
        if not body["more"]:
            return body


def test_a_live_community_moves_and_its_phones_do_not_notice(tmp_path: Path, pg_url: str) -> None:
    """A coordinator's phone synced with the SQLite server, then the servers stop, the
    community moves with ``doorstep migrate-db``, and a server starts on PostgreSQL: the
    same token works, the epoch is the same (no re-send, no pull from 0), its cursor goes
    on exactly where it was, a batch it re-sends (its answer was lost) is stored once, and
    a change another phone made before the move reaches it after."""
    path = str(tmp_path / "move.db")
    load_demo(path)
    old = LiveServer(path).start()
    try:
        boss, other = old.enroll("coordinator", "赵主任"), old.enroll("coordinator", "钱书记")
        stamp, stamp2 = Stamper(boss.node), Stamper(other.node)
        before = _pull_to_the_end(boss)
        rid = uuid7()
        mine = [
            {"coll": "updates", "id": rid, "field": f, "value": v, "hlc": stamp()}
            for f, v in (("incident", HEATING), ("text", "搬迁前的最后一条"), ("public", False))
        ]
        first = boss.sync(mine)
        assert first.status_code == 200 and first.json()["rejected"] == [], first.text
        _pull_to_the_end(boss)
        cursor = boss.cursor
        # Another phone writes just before the move; ours has not pulled it yet.
        theirs = put_record(other, stamp2, "updates", incident=HEATING, text="迁移前", public=False)
    finally:
        old.stop()
    moved = _doorstep("migrate-db", "--from", path, "--to", pg_url)
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout)["epoch"] == before["epoch"]

    new = LiveServer(pg_url).start()
    try:
        boss.client = httpx.Client(base_url=new.url, timeout=30)
        # The batch whose answer the phone never saw, sent again to the new server.
        again = boss.sync(mine)
        assert again.status_code == 200, again.text
        body = again.json()
        assert body["epoch"] == before["epoch"] and body["rejected"] == []
        # From its old cursor it gets exactly the other phone's record, nothing twice.
        got = {(c["coll"], c["id"]) for c in body["changes"]}
        assert got == {("updates", theirs)}
        assert all(c["id"] != mine[0]["id"] for c in body["changes"])
        assert body["cursor"] > cursor
        stored = query(pg_url, "SELECT count(*) FROM history WHERE id = ?", (mine[0]["id"],))
        assert stored == [(3,)]
        # And it goes on writing: the next change continues the log.
        top = query(pg_url, "SELECT max(seq) FROM history")[0][0]
        put_record(boss, stamp, "updates", incident=HEATING, text="搬迁后", public=False)
        assert query(pg_url, "SELECT max(seq) FROM history")[0][0] == top + 3
    finally:
        new.stop()


def test_a_quarantined_nul_byte_moves_as_the_live_path_stores_it(
    tmp_path: Path, pg_url: str
) -> None:
    """SQLite keeps a NUL in a quarantined change's raw text; PostgreSQL's text cannot hold
    one: the move stores U+FFFD, as a server on PostgreSQL does, instead of failing whole."""
    path = str(tmp_path / "nul.db")
    load_demo(path)
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO quarantine (hlc, node, coll, id, field, raw, error, message, received_at)"
        " VALUES (?, 'n1', 'visits', 'v1', 'note', ?, 'bad', 'bad', '2026-11-30T00:00:00.000Z')",
        ("h\x00", '{"value": "a\x00b"}'),
    )
    conn.commit()
    conn.close()
    moved = _doorstep("migrate-db", "--from", path, "--to", pg_url)
    assert moved.returncode == 0, moved.stderr
    assert query(pg_url, "SELECT hlc, raw FROM quarantine WHERE node = 'n1'") == [
        ("h\ufffd", '{"value": "a\ufffdb"}')
    ]
