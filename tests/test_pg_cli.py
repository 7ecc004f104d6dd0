"""The command line with a ``postgresql://`` URL (issue 14): every command runs on
PostgreSQL; a server that does not answer is one line, never a traceback."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from server.db.pg import migrations as pgm

#: Every migration the runner has, in order.
ALL = sorted(p.stem for p in pgm.SQL_DIR.glob("*.sql"))

#: A URL no server answers (its socket directory does not exist).
NOWHERE = "postgresql://postgres@/doorstep?host=/nonexistent-doorstep-socket-dir"


def _doorstep(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["demo"],
        ["invite", "--role", "volunteer", "--name", "志愿者"],
        ["revoke", "n1"],
        ["devices"],
        ["backup"],
        ["assign", "--person", "p1", "--incident", "i1"],
        ["export", "--incident", "i1", "--out", "x.xlsx"],
    ],
    ids=lambda argv: argv[0],
)
def test_a_command_says_in_one_line_when_no_server_answers(argv: list[str]) -> None:
    out = _doorstep(*argv, "--db", NOWHERE.replace("postgres@", "postgres:secret@"))
    assert out.returncode == 1, out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith(f"doorstep {argv[0]}: ")
    assert "secret" not in out.stderr  # the URL's password is never printed


def test_doorstep_db_from_the_environment_selects_postgresql(tmp_path: Path) -> None:
    import os

    out = subprocess.run(
        [sys.executable, "-m", "server.cli", "devices"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "DOORSTEP_DB": NOWHERE, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 1 and "cannot reach the database postgresql://" in out.stderr
    assert not list(tmp_path.iterdir())  # no SQLite file made by mistake


def test_migrate_prepares_postgresql_once(pg_url: str) -> None:
    first = _doorstep("migrate", "--db", pg_url)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {
        "backend": "postgresql",
        "applied_now": ALL,
        "schema": ALL,
    }
    again = _doorstep("migrate", "--db", pg_url)
    assert json.loads(again.stdout)["applied_now"] == []


def test_migrate_says_in_one_line_when_no_server_answers() -> None:
    out = _doorstep("migrate", "--db", NOWHERE)
    assert out.returncode == 1
    assert out.stderr.startswith("doorstep migrate: ") and out.stderr.count("\n") == 1
    assert "Traceback" not in out.stderr


def test_migrate_still_prepares_a_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "d.db"
    out = _doorstep("migrate", "--db", str(path))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"db": str(path), "backend": "sqlite"}
    import sqlite3

    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'scope_seq'").fetchone() == ("0",)


def test_the_sqlite_database_class_refuses_a_url(tmp_path: Path) -> None:
    from conftest import run_async

    from server.db import Database

    async def main() -> None:
        async with Database(NOWHERE):
            pass

    with pytest.raises(ValueError, match="open_database"):
        run_async(main())
    assert not Path("postgresql:").exists()
