"""Server-side writes take their stamps from one persisted clock (#9, hole 7): writes in
the same millisecond — from one process or several — are all kept, in order."""

import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime

import pytest
from conftest import ROOT, invite

from server.ops.access_commands import assign
from server.ops.admin import write_records


def _winner(db: str, coll: str, rid: str, field: str) -> object:
    with closing(sqlite3.connect(db)) as conn:
        row = conn.execute(
            "SELECT value FROM winners WHERE coll = ? AND id = ? AND field = ?", (coll, rid, field)
        ).fetchone()
    return None if row is None else json.loads(row[0])


@pytest.mark.sqlite_only(reason="reads the SQLite file with sqlite3")
def test_writes_in_the_same_millisecond_are_all_kept(fresh_db: str) -> None:
    at = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    for i in range(10):
        write_records(fresh_db, [("buildings", f"b{i}", {"label": f"{i}号楼"})], at=at)
    assert [_winner(fresh_db, "buildings", f"b{i}", "label") for i in range(10)] == [
        f"{i}号楼" for i in range(10)
    ]


@pytest.mark.sqlite_only(reason="reads the SQLite file with sqlite3")
def test_an_assignment_ended_in_the_same_millisecond_stays_ended(fresh_db: str) -> None:
    at = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    rid = "p1~b1"
    write_records(fresh_db, [("assignments", rid, {"person": "p1", "active": True})], at=at)
    write_records(fresh_db, [("assignments", rid, {"active": False})], at=at)
    assert _winner(fresh_db, "assignments", rid, "active") is False


@pytest.mark.sqlite_only(reason="reads the SQLite file with sqlite3")
def test_parallel_assign_processes_each_store_their_assignment(fresh_db: str) -> None:
    person = invite(fresh_db)["person"]
    n = 8
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server.ops.cli",
                "assign",
                "--db",
                fresh_db,
                "--person",
                person,
                "--building",
                f"b{i}",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        for i in range(n)
    ]
    assert [p.wait(120) for p in procs] == [0] * n
    assert all(_winner(fresh_db, "assignments", f"{person}~b{i}", "active") for i in range(n))
    assign(fresh_db, person, building="b0", active=False)
    assert _winner(fresh_db, "assignments", f"{person}~b0", "active") is False
