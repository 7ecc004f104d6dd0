"""The decision journal, backup and restore on PostgreSQL (issue 14): the same decisions
journaled with the same payloads as on SQLite, and a restore that keeps SQLite's
promises — a new epoch, the replaced data kept, decisions after the backup replayed."""

import json
import sqlite3
from pathlib import Path
from typing import Any

from conftest import run_async

from server.db import Database
from server.db.decisions import journal_path
from server.db.pg.core import PgDatabase, connect

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


def _pg_sql(sql: str) -> str:
    """``?`` placeholders as ``$1, $2, …``."""
    parts = sql.split("?")
    return "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))


def _sqlite_journal(path: str) -> list[tuple[int, str, Any]]:
    conn = sqlite3.connect(journal_path(path))
    try:
        rows = conn.execute("SELECT id, kind, data FROM decisions ORDER BY id").fetchall()
    finally:
        conn.close()
    return [(i, kind, json.loads(data)) for i, kind, data in rows]


async def _pg_journal(url: str) -> list[tuple[int, str, Any]]:
    conn = await connect(url)
    try:
        rows = await conn.fetch("SELECT id, kind, data FROM decisions ORDER BY id")
    finally:
        await conn.close()
    return [(r["id"], r["kind"], json.loads(r["data"])) for r in rows]


def test_the_same_decisions_are_journaled_with_the_same_payloads(
    tmp_path: Path, pg_url: str
) -> None:
    from conftest import load_demo

    from server.db.pg.migrate_db import copy

    path = str(tmp_path / "d.db")
    load_demo(path)
    first, then = DECISIONS[:4], DECISIONS[4:]

    async def write_sqlite(decisions: list) -> None:
        async with Database(path) as db:
            for sql, args in decisions:
                await db.write(sql, args)

    async def write_pg(decisions: list) -> None:
        async with PgDatabase(pg_url) as db:
            for sql, args in decisions:
                await db.write(_pg_sql(sql), args)

    # Journaled on SQLite, then moved: migrate-db copies the journal file's rows.
    run_async(write_sqlite(first))
    moved = run_async(copy(path, pg_url))
    before = _sqlite_journal(path)
    assert [kind for _, kind, _ in before] == ["person", "person", "device", "revoke"]
    assert moved.rows["decisions"] == 4
    assert run_async(_pg_journal(pg_url)) == before
    # Then the same writes on both: the same entries, ids going on from the copied ones.
    run_async(write_sqlite(then))
    run_async(write_pg(then))
    mine, theirs = _sqlite_journal(path), run_async(_pg_journal(pg_url))
    assert [kind for _, kind, _ in mine[len(before) :]] == [
        "invite", "invite", "share", "share", "assignment",
    ]  # fmt: skip
    assert before[0][2]["name"] == '李书记 "值班"\n\t\\'
    assert theirs == mine


def test_migrate_db_without_a_journal_file_copies_none(tmp_path: Path, pg_url: str) -> None:
    from conftest import load_demo

    from server.db.pg.migrate_db import copy

    path = str(tmp_path / "d.db")
    load_demo(path)
    Path(journal_path(path)).unlink()
    moved = run_async(copy(path, pg_url))
    assert moved.rows["decisions"] == 0
    assert run_async(_pg_journal(url=pg_url)) == []
