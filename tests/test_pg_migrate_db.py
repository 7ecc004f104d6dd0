"""``doorstep migrate-db``: a community moves from a SQLite file to PostgreSQL whole —
every row, the log's seq values and the epoch — so phones keep their cursors (#14)."""

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import load_demo, run_async

from server.db.changes import Incoming
from server.db.pg import changes as pg_changes
from server.db.pg.core import PgDatabase, connect
from server.db.pg.migrate_db import TABLES

ROOT = Path(__file__).resolve().parent.parent


def _doorstep(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args], capture_output=True, text=True, cwd=ROOT
    )


def _sqlite_rows(path: str, table: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        return sorted(conn.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall(), key=repr)
    finally:
        conn.close()


async def _pg_rows(url: str, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    conn = await connect(url)
    try:
        rows = await conn.fetch(f"SELECT {', '.join(columns)} FROM {table}")
        return sorted((tuple(r) for r in rows), key=repr)
    finally:
        await conn.close()


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
        mine, theirs = _sqlite_rows(path, table), run_async(_pg_rows(url, table, cols))
        if table == "meta":  # the same keys and values; PostgreSQL adds none
            assert dict(theirs) == dict(mine)
        else:
            assert theirs == mine, table

    async def append() -> list[int]:
        async with PgDatabase(url) as db:
            change: Incoming = ("zz-after-move", "households", "h1", "note", '"x"', "n1", None, "t")
            await pg_changes.apply(db, [change])
            rows = await db.read("SELECT seq FROM history WHERE hlc = $1", ("zz-after-move",))
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
