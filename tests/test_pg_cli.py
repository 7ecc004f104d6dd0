"""The command line with a ``postgresql://`` URL (issue 14): every command runs on
PostgreSQL; a server that does not answer is one line, never a traceback."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from server.db.migrations import STEPS

#: Every migration the runner has, in order.
ALL = [s.label for s in STEPS]

#: A URL no server answers (its socket directory does not exist).
NOWHERE = "postgresql://postgres@/doorstep?host=/nonexistent-doorstep-socket-dir"


def _doorstep(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.ops.cli", *args],
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
        ["incidents"],
    ],
    ids=lambda argv: argv[0],
)
def test_a_command_says_in_one_line_when_no_server_answers(argv: list[str]) -> None:
    out = _doorstep(*argv, "--db", NOWHERE.replace("postgres@", "postgres:secret@"))
    assert out.returncode == 1, out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith(f"doorstep {argv[0]}: ")
    assert "secret" not in out.stderr  # the URL's password is never printed


def test_serve_says_in_one_line_when_no_server_answers() -> None:
    out = _doorstep("serve", "--port", "1", "--db", NOWHERE.replace("postgres@", "u:secret@"))
    assert out.returncode == 1, out.stderr
    assert out.stderr.startswith("doorstep serve: postgresql://u@/doorstep")
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert "secret" not in out.stderr


def test_doorstep_db_from_the_environment_selects_postgresql(tmp_path: Path) -> None:
    import os

    out = subprocess.run(
        [sys.executable, "-m", "server.ops.cli", "devices"],
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
        "db": pg_url,
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
    assert json.loads(out.stdout) == {
        "db": str(path),
        "backend": "sqlite",
        "applied_now": ALL,
        "schema": ALL,
    }
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


# --- every command, end to end, on PostgreSQL ------------------------------------------

#: The demo's "now", the same on both backends, so both load the same records.
DEMO_NOW = "2026-11-30T08:00:00Z"


def _ok(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-m", "server.ops.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        input=stdin,
    )
    assert out.returncode == 0, out.stderr
    return out


def test_demo_loads_the_same_community_on_both_backends(tmp_path: Path, pg_url: str) -> None:
    from conftest import query

    from server.ops.demo import HEATING

    path = str(tmp_path / "d.db")
    said = {db: _ok("demo", "--db", db, "--now", DEMO_NOW).stderr for db in (path, pg_url)}
    assert said[path].split(": ")[-1] == said[pg_url].split(": ")[-1]  # "N field changes"
    households = "SELECT count(DISTINCT id) FROM winners WHERE coll = 'households'"
    assert query(path, households) == query(pg_url, households) == [(741 + 244,)]
    for db in (path, pg_url):  # the heating outage's 741, as the dashboard counts them
        (buildings,) = query(
            db,
            "SELECT value FROM winners WHERE coll = 'incidents' AND id = ? AND field = ?",
            (HEATING, "buildings"),
        )[0]
        placed = query(
            db, "SELECT value FROM winners WHERE coll = 'households' AND field = 'building'"
        )
        assert sum(json.loads(v) in json.loads(buildings) for (v,) in placed) == 741
    values = "SELECT coll, id, field, value FROM winners ORDER BY coll, id, field"
    assert query(path, values) == query(pg_url, values)
    again = _ok("demo", "--db", pg_url, "--now", DEMO_NOW)
    assert "already loaded" in again.stderr


def test_the_operators_commands_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    """coordinator add, invite → enrol, devices, assign, revoke: each on a postgresql://
    URL, against a real server on the same database."""
    import httpx
    from conftest import LiveServer, query

    _ok("demo", "--db", pg_url, "--now", DEMO_NOW)
    made = _ok("coordinator", "add", "--db", pg_url, "--login", "office", "--name", "李书记",
               "--password-stdin", stdin="sheng-ji-2026\n")  # fmt: skip
    assert json.loads(made.stdout)["login"] == "office"
    server = LiveServer(pg_url).start()
    try:
        invited = json.loads(
            _ok("invite", "--db", pg_url, "--role", "volunteer", "--name", "志愿者").stdout
        )
        client = httpx.Client(base_url=server.url, timeout=30)
        r = client.post("/api/v1/enroll", json={"code": invited["code"], "device": "pytest"})
        assert r.status_code == 200, r.text
        phone = r.json()
        headers = {"Authorization": f"Bearer {phone['token']}"}
        body = {"node": phone["node"], "cursor": 0, "changes": []}
        first = client.post("/api/v1/sync", json=body, headers=headers)
        assert first.status_code == 200, first.text
        listed = [json.loads(line) for line in _ok("devices", "--db", pg_url).stdout.splitlines()]
        assert phone["node"] in {d["node"] for d in listed}

        (incident,) = query(pg_url, "SELECT id FROM winners WHERE coll = 'incidents' LIMIT 1")[0]
        assigned = _ok("assign", "--db", pg_url, "--person", phone["person"],
                       "--incident", incident)  # fmt: skip
        assert json.loads(assigned.stdout)["active"] is True

        assert json.loads(_ok("revoke", "--db", pg_url, phone["node"]).stdout)
        r = client.post("/api/v1/sync", json=body, headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "revoked", r.text
    finally:
        server.stop()


def test_export_on_postgresql_writes_the_same_tables_as_on_sqlite(
    tmp_path: Path, pg_url: str
) -> None:

    from server.ops.demo import HEATING

    path = str(tmp_path / "d.db")
    for db in (path, pg_url):
        _ok("demo", "--db", db, "--now", DEMO_NOW)
    tables = {}
    for db, name in ((path, "sqlite"), (pg_url, "postgresql")):
        for table in ("households", "visits", "deliveries"):
            out = tmp_path / f"{name}-{table}.csv"
            _ok("export", "--db", db, "--incident", HEATING, "--format", "csv",
                "--table", table, "--out", str(out))  # fmt: skip
            tables[name, table] = out.read_bytes()
        xlsx = tmp_path / f"{name}.xlsx"
        said = json.loads(
            _ok("export", "--db", db, "--incident", HEATING, "--out", str(xlsx)).stdout
        )
        assert said["bytes"] == xlsx.stat().st_size > 0
    assert tables["sqlite", "households"].count(b"\n") == 742  # a header and 741 rows
    assert "系统导入".encode() in tables["sqlite", "visits"]  # the demo: no person recorded it
    for table in ("households", "visits", "deliveries"):
        assert tables["postgresql", table] == tables["sqlite", table], table


def test_backup_then_restore_on_postgresql_replays_a_revocation(
    tmp_path: Path, pg_url: str
) -> None:
    import httpx
    from conftest import LiveServer

    _ok("demo", "--db", pg_url, "--now", DEMO_NOW)
    server = LiveServer(pg_url).start()
    try:
        client = httpx.Client(base_url=server.url, timeout=30)
        phones = []
        for name in ("志愿者甲", "丢失的手机"):
            code = json.loads(
                _ok("invite", "--db", pg_url, "--role", "volunteer", "--name", name).stdout
            )["code"]
            r = client.post("/api/v1/enroll", json={"code": code, "device": "pytest"})
            assert r.status_code == 200, r.text
            phones.append(r.json())

        def sync(phone: dict) -> httpx.Response:
            return client.post(
                "/api/v1/sync",
                json={"node": phone["node"], "cursor": 0, "changes": []},
                headers={"Authorization": f"Bearer {phone['token']}"},
            )

        keeper, lost = phones
        epoch = sync(keeper).json()["epoch"]
        made = _ok("backup", "--db", pg_url, "--out", str(tmp_path / "b"))
        copy = json.loads(made.stdout)["backup"]
        _ok("revoke", "--db", pg_url, lost["node"])  # after the backup
        server.stop()

        report = json.loads(_ok("restore", "--db", pg_url, copy).stdout)
        assert report["epoch"] != epoch and report["replayed"]["revoke"] >= 1
        server.start()
        assert sync(keeper).json()["epoch"] == report["epoch"]
        r = sync(lost)
        assert r.status_code == 401 and r.json()["error"] == "revoked", r.text
    finally:
        server.stop()


def test_serve_and_demo_never_print_the_urls_password(pg_url: str) -> None:
    from conftest import LiveServer

    url = pg_url.replace("postgres@", "postgres:pw-in-user@") + "&password=pw-in-query"
    demo = _doorstep("demo", "--db", url)
    assert demo.returncode == 0, demo.stderr
    assert "demo loaded into postgresql://postgres@/" in demo.stderr
    server = LiveServer(url).start()
    try:
        said = server.log_path.read_text()
    finally:
        server.stop()
    assert "Doorstep on" in said and "postgresql://postgres@/" in said
    for printed in (demo.stdout, demo.stderr, said):
        assert "pw-in-" not in printed
