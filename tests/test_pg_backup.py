"""The decision journal, backup and restore on PostgreSQL (issue 14): the same decisions
journaled with the same payloads as on SQLite, and a restore that keeps SQLite's
promises — a new epoch, the replaced data kept, decisions after the backup replayed."""

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, run_async

from server.db import Database
from server.db.backup import BackupError, backup, backups, restore
from server.db.decisions import journal_path
from server.db.postgresql.backup import tool
from server.db.postgresql.core import PgConn, PgDatabase, connect

#: The same server-side decisions, written the same way on both backends: each kind the
#: journal knows, a write it must not journal (a second revocation, a visit), and a name
#: that JSON must escape.
DECISIONS = [
    (
        "INSERT INTO people (id, name, role, created_at, community, login, password_hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        ("p-new", '李书记 "值班"\n\t\\', "coordinator", "2026-11-30T01:00:00.000Z", "c1",
         "office", "$argon2id$x"),
    ),
    ("UPDATE people SET name = ? WHERE id = ?", ("李书记", "p-new")),
    (
        "INSERT INTO devices (node, token_hash, person, role, label, created_at, last_seen, "
        "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        ("n-new", "h1", "p-new", "coordinator", "pytest", "2026-11-30T01:00:00.000Z",
         "2026-11-30T01:00:00.000Z", None),
    ),
    ("UPDATE devices SET revoked_at = ? WHERE node = ?", ("2026-11-30T02:00:00.000Z", "n-new")),
    ("UPDATE devices SET revoked_at = ? WHERE node = ?", ("2026-11-30T03:00:00.000Z", "n-new")),
    ("UPDATE devices SET last_seen = ? WHERE node = ?", ("2026-11-30T03:00:00.000Z", "n-new")),
    (
        "INSERT INTO invites (code_hash, role, person, created_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?)",
        ("c1", "volunteer", "p-new", "2026-11-30T01:00:00.000Z", "2026-12-03T01:00:00.000Z"),
    ),
    (
        "UPDATE invites SET used_at = ?, node = ? WHERE code_hash = ?",
        ("2026-11-30T01:05:00.000Z", "n-new", "c1"),
    ),
    (
        "INSERT INTO shares (token, incident, created_at, created_by) VALUES (?, ?, ?, ?)",
        ("s1", "inc-1", "2026-11-30T01:00:00.000Z", "p-new"),
    ),
    ("UPDATE shares SET revoked_at = ? WHERE token = ?", ("2026-11-30T04:00:00.000Z", "s1")),
    (
        "INSERT INTO history (hlc, coll, id, field, value, node, person, received_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        ("2026-11-30T01:00:00.000Z_0000_n-new", "assignments", "p-new~b1", "active", "true",
         "n-new", "p-new", "2026-11-30T01:00:00.000Z"),
    ),
    (
        "INSERT INTO history (hlc, coll, id, field, value, node, person, received_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        ("2026-11-30T01:00:01.000Z_0000_n-new", "visits", "v1", "note", '"敲门"', "n-new",
         "p-new", "2026-11-30T01:00:01.000Z"),
    ),
]  # fmt: skip


def _sqlite_journal(path: str) -> list[tuple[int, str, Any]]:
    conn = sqlite3.connect(journal_path(path))
    try:
        rows = conn.execute("SELECT id, kind, data FROM decisions ORDER BY id").fetchall()
    finally:
        conn.close()
    return [(i, kind, json.loads(data)) for i, kind, data in rows]


def _pg_journal(url: str) -> list[tuple[int, str, Any]]:
    rows = _pg(url, "SELECT id, kind, data FROM decisions ORDER BY id")
    return [(i, kind, json.loads(data)) for i, kind, data in rows]


def test_the_same_decisions_are_journaled_with_the_same_payloads(
    tmp_path: Path, pg_url: str
) -> None:
    from conftest import load_demo

    from server.db.move import copy

    path = str(tmp_path / "d.db")
    load_demo(path)
    first, then = DECISIONS[:4], DECISIONS[4:]

    async def write_sqlite(decisions: list) -> None:
        async with Database(path) as db:
            for sql, args in decisions:
                await db.execute(sql, args)

    async def write_pg(decisions: list) -> None:
        async with PgDatabase(pg_url) as db:
            for sql, args in decisions:
                await db.execute(sql, args)

    # Journaled on SQLite, then moved: migrate-db copies the journal file's rows.
    run_async(write_sqlite(first))
    moved = run_async(copy(path, pg_url))
    before = _sqlite_journal(path)
    assert [kind for _, kind, _ in before] == ["person", "person", "device", "revoke"]
    assert moved.rows["decisions"] == 4
    assert _pg_journal(pg_url) == before
    # Then the same writes on both: the same entries, ids going on from the copied ones.
    run_async(write_sqlite(then))
    run_async(write_pg(then))
    mine, theirs = _sqlite_journal(path), _pg_journal(pg_url)
    assert [kind for _, kind, _ in mine[len(before) :]] == [
        "invite", "invite", "share", "share", "assignment",
    ]  # fmt: skip
    assert before[0][2]["name"] == '李书记 "值班"\n\t\\'
    assert theirs == mine


def test_migrate_db_without_a_journal_file_copies_none(tmp_path: Path, pg_url: str) -> None:
    from conftest import load_demo

    from server.db.move import copy

    path = str(tmp_path / "d.db")
    load_demo(path)
    Path(journal_path(path)).unlink()
    moved = run_async(copy(path, pg_url))
    assert moved.rows["decisions"] == 0
    assert _pg_journal(url=pg_url) == []


# --- backup and restore -------------------------------------------------------------

T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
NEW_DEVICE = (
    "INSERT INTO devices (node, token_hash, person, role, label, created_at, last_seen) "
    "VALUES (?, ?, 'p1', 'volunteer', 'pytest', ?, ?)"
)


def _doorstep(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.ops.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _pg(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with connect(url) as raw:
        return [tuple(r) for r in PgConn(raw).execute(sql, args)]


def _meta(url: str, key: str) -> str | None:
    rows = _pg(url, "SELECT value FROM meta WHERE key = ?", key)
    return rows[0][0] if rows else None


def _schemas(url: str) -> list[str]:
    rows = _pg(
        url,
        "SELECT nspname FROM pg_namespace WHERE nspname = 'public' "
        "OR nspname LIKE 'replaced%' ORDER BY nspname",
    )
    return [r[0] for r in rows]


async def _write(url: str, steps: list[tuple[str, tuple[Any, ...]]]) -> None:
    async with PgDatabase(url) as db:
        for sql, args in steps:
            await db.execute(sql, args)


async def _assign(url: str, hlc: str, active: str) -> None:
    """An accepted change to an assignment, through the log's write path."""
    from server.db import changes

    change = (hlc, "assignments", "p1~b1", "active", active, "n1", "p1", "2026-11-30T01:00:00.000Z")
    async with PgDatabase(url) as db:
        await db.write_tx(lambda conn: changes.apply_in(conn, [change]), appends=True)


def _stamp(ms: int, node: str = "n1") -> str:
    return f"2026-11-30T01:00:00.{ms:03d}Z-0000-{node}"


def test_backup_is_a_checked_dump_and_keeps_the_newest_n(
    demo_twins: tuple[str, str], tmp_path: Path
) -> None:
    _, url = demo_twins
    out = tmp_path / "b"
    made = [backup(url, out, keep=2, now=T0 + timedelta(minutes=i)) for i in range(3)]
    assert backups(out, ".dump") == made[1:]
    assert made[-1].name == "doorstep-20261130T010200000Z.dump"
    assert not list(out.glob("*.partial"))
    assert _meta(url, "last_backup_at") == "2026-11-30T01:02:00.000Z"
    assert _meta(url, "last_backup_path") == str(made[-1])
    listing = subprocess.run(
        [tool("pg_restore"), "--list", str(made[-1])], capture_output=True, text=True, check=True
    ).stdout
    assert "TABLE DATA public history" in listing and "TABLE DATA public decisions" in listing


def test_a_damaged_backup_is_refused_and_the_database_left_alone(
    demo_twins: tuple[str, str], tmp_path: Path
) -> None:
    _, url = demo_twins
    good = backup(url, tmp_path / "b", now=T0)
    epoch, top = _meta(url, "epoch"), _pg(url, "SELECT max(seq) FROM history")
    garbage = tmp_path / "doorstep-garbage.dump"
    garbage.write_bytes(b"PGDMP" + b"\xff" * 4096)
    with pytest.raises(BackupError, match=r"fails its check"):
        restore(garbage, url)
    # The archive's table of contents is whole, its data cut short: pg_restore fails
    # half-way, in one transaction, and the old schema comes back as it was.
    cut = tmp_path / "doorstep-cut.dump"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(BackupError, match=r"pg_restore failed, the database is as it was"):
        restore(cut, url)
    assert _schemas(url) == ["public"]
    assert _meta(url, "epoch") == epoch
    assert _pg(url, "SELECT max(seq) FROM history") == top
    r = _doorstep("restore", "--db", url, str(tmp_path / "missing.dump"))
    assert r.returncode == 1 and "no backup at" in r.stderr


def test_decisions_after_the_backup_hold_after_a_restore(
    demo_twins: tuple[str, str], tmp_path: Path
) -> None:
    _, url = demo_twins
    at = "2026-11-30T01:00:00.000Z"
    person = (
        "INSERT INTO people (id, name, role, created_at) VALUES ('p1', '志愿者甲', 'volunteer', ?)"
    )
    run_async(_write(url, [(person, (at,)), (NEW_DEVICE, ("n1", "h1", at, at)),
                           (NEW_DEVICE, ("n-lost", "h2", at, at))]))  # fmt: skip
    run_async(_assign(url, _stamp(1), "true"))
    epoch = _meta(url, "epoch")
    r = _doorstep("backup", "--db", url, "--out", str(tmp_path / "b"))
    assert r.returncode == 0, r.stderr
    copy = json.loads(r.stdout)["backup"]
    assert copy.endswith(".dump")

    # After the backup: a revocation, a new phone, an ended assignment, a resident link.
    revoke = "UPDATE devices SET revoked_at = ? WHERE node = ?"
    share = "INSERT INTO shares (token, incident, created_at) VALUES (?, 'inc-1', ?)"
    run_async(_write(url, [(revoke, (at, "n-lost")), (NEW_DEVICE, ("n-new", "h3", at, at)),
                           (share, ("s-after", at))]))  # fmt: skip
    run_async(_assign(url, _stamp(2), "false"))
    journal = _pg(url, "SELECT id, kind, data FROM decisions ORDER BY id")

    r = _doorstep("restore", "--db", url, copy)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["epoch"] != epoch and _meta(url, "epoch") == report["epoch"]
    assert report["replaced"].startswith("schema replaced_")
    assert report["journal"].endswith(".decisions")
    assert {"revoke", "device", "assignment", "share"} <= set(report["replayed"])
    assert report["cannot_know"] and "password" not in report["db"]
    assert "redo by hand" not in r.stderr

    def state() -> list[tuple[Any, ...]]:
        return _pg(
            url,
            "SELECT (SELECT revoked_at FROM devices WHERE node = 'n-lost'), "
            "(SELECT count(*) FROM devices WHERE node = 'n-new'), "
            "(SELECT value FROM winners WHERE coll = 'assignments' AND id = 'p1~b1' "
            "AND field = 'active'), "
            "(SELECT count(*) FROM shares WHERE token = 's-after')",
        )

    assert state() == [(at, 1, "false", 1)]
    # The journal goes on as it was, without the replay's echoes, and its ids go on.
    assert _pg(url, "SELECT id, kind, data FROM decisions ORDER BY id") == journal
    run_async(_write(url, [(revoke, (at, "n-new"))]))
    last = _pg(url, "SELECT id, kind FROM decisions ORDER BY id DESC LIMIT 1")
    assert last == [(journal[-1][0] + 1, "revoke")]
    # The data replaced is kept, never deleted; what was there is there.
    kept = report["replaced"].removeprefix("schema ")
    assert _pg(url, f"SELECT count(*) FROM {kept}.devices") == [(3,)]

    # Restored from the same backup once more: the carried journal still brings it all.
    r = _doorstep("restore", "--db", url, copy)
    assert r.returncode == 0, r.stderr
    assert state() == [(at, 1, "false", 1)]
    assert _pg(url, "SELECT revoked_at FROM devices WHERE node = 'n-new'") == [(at,)]
    assert len(_schemas(url)) == 3


def test_restore_into_an_empty_database_says_what_to_redo(
    demo_twins: tuple[str, str], tmp_path: Path, pg_cluster: Any
) -> None:
    _, url = demo_twins
    copy = backup(url, tmp_path / "b", now=T0)
    empty = pg_cluster.create_database()
    try:
        r = _doorstep("restore", "--db", empty, str(copy))
        assert r.returncode == 0, r.stderr
        report = json.loads(r.stdout)
        assert report["journal"] is None and report["replaced"] is None
        assert "redo by hand" in r.stderr
        assert _meta(empty, "epoch") == report["epoch"] != _meta(url, "epoch")
        count = "SELECT count(*) FROM winners"
        assert _pg(empty, count) == _pg(url, count)
    finally:
        pg_cluster.drop_database(empty)


def test_restore_refuses_while_a_server_is_connected(
    demo_twins: tuple[str, str], tmp_path: Path
) -> None:
    _, url = demo_twins
    copy = backup(url, tmp_path / "b", now=T0)
    epoch = _meta(url, "epoch")

    async def while_open() -> str:
        async with PgDatabase(url):
            try:
                restore(copy, url)
            except BackupError as exc:
                return str(exc)
        return "restored"

    assert "stop every app server" in run_async(while_open())
    assert _schemas(url) == ["public"] and _meta(url, "epoch") == epoch


def test_backup_says_in_one_line_when_no_server_answers(tmp_path: Path) -> None:
    nowhere = "postgresql://postgres@/doorstep?host=/nonexistent-doorstep-socket-dir"
    r = _doorstep("backup", "--db", nowhere, "--out", str(tmp_path / "b"))
    assert r.returncode == 1 and r.stderr.startswith("doorstep backup: pg_dump failed")
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert not list((tmp_path / "b").glob("*"))


def test_the_databases_owner_is_enough_to_back_up_and_restore(
    pg_cluster: Any, tmp_path: Path
) -> None:
    """No superuser, no CREATEDB: an ordinary role that owns the database (as in
    docs/postgresql.md, ``createdb -O doorstep doorstep``)."""
    import uuid

    role = "owner_" + uuid.uuid4().hex[:8]
    pg_cluster.psql(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB")
    url = pg_cluster.create_database(f"OWNER {role}").replace("postgres@", f"{role}@")
    try:
        assert _doorstep("migrate", "--db", url).returncode == 0
        run_async(_write(url, [(NEW_DEVICE.replace("'p1'", "NULL"), ("n1", "h1", "t", "t"))]))
        made = backup(url, tmp_path / "b", now=T0)
        revoke = "UPDATE devices SET revoked_at = ? WHERE node = ?"
        run_async(_write(url, [(revoke, ("2026-11-30T02:00:00.000Z", "n1"))]))
        report = restore(made, url)
        assert report["replayed"] == {"device": 1, "revoke": 1}
        revoked = _pg(url, "SELECT revoked_at FROM devices WHERE node = 'n1'")
        assert revoked == [("2026-11-30T02:00:00.000Z",)]
    finally:
        pg_cluster.drop_database(url)
        pg_cluster.psql(f"DROP ROLE IF EXISTS {role}")


def test_a_failed_replay_leaves_the_database_as_it_was(
    demo_twins: tuple[str, str], tmp_path: Path
) -> None:
    _, url = demo_twins
    made = backup(url, tmp_path / "b", now=T0)
    # A journal entry the replay cannot apply: a device of a person nobody knows.
    bad = json.dumps({"node": "n-x", "token_hash": "hx", "person": "nobody"})
    run_async(_write(url, [("INSERT INTO decisions (kind, data) VALUES ('device', ?)", (bad,))]))
    run_async(_write(url, [("INSERT INTO meta (key, value) VALUES ('after', 'kept')", ())]))
    epoch = _meta(url, "epoch")
    with pytest.raises(BackupError, match=r"journal replay failed, the database is as it was"):
        restore(made, url)
    assert _schemas(url) == ["public"]
    assert _meta(url, "epoch") == epoch and _meta(url, "after") == "kept"
