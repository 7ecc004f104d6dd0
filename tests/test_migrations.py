"""The one migration runner (server/db/migrations.py), on both engines: databases made
by the release before issue 21 upgrade in place and lose nothing, a new database gets
the same schema, three servers starting at once migrate once, a failing step leaves
nothing behind, and a newer or half-made database is refused by name."""

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import database_on, demo_file, drop_database, run_async
from old_schema import migrate_postgresql, migrate_sqlite
from schema_shape import RUNNERS, connection, rows_of, shape

from server.db import applied, migrate, open_database
from server.db.migrations import STEPS, MigrationError, Step, migrate_in
from server.db.move import TABLES

ALL = [s.label for s in STEPS]


@pytest.fixture
def empty(backend: str, tmp_path: Path) -> Any:
    """An empty database on each engine: a file that does not exist yet, or a new
    PostgreSQL database on the run's cluster."""
    db = database_on(backend, str(tmp_path / "d.db"))
    yield db
    drop_database(db)


#: A row in each table the demo leaves empty, as a live community has them.
_MORE = [
    (
        "INSERT INTO people (id, name, role, created_at, community, password_hash, login) "
        "VALUES ('p1', '王协调员', 'coordinator', 't', 'c1', 'argon2id$x', 'wang')"
    ),
    (
        "INSERT INTO devices (node, token_hash, person, role, label, created_at, last_seen, "
        "revoked_at, expires_at, pending, pending_at) "
        "VALUES ('n1', 'th1', 'p1', 'coordinator', '手机', 't', 't', NULL, NULL, 3, 't')"
    ),
    "INSERT INTO invites (code_hash, role, person, created_at, expires_at) "
    "VALUES ('ch1', 'volunteer', 'p1', 't', 't')",
    "INSERT INTO shares (token, incident, created_at) VALUES ('s1', 'i1', 't')",
    "INSERT INTO push_subs (endpoint, incident, p256dh, auth, created_at) "
    "VALUES ('https://push/1', 'i1', 'k', 'a', 't')",
    "INSERT INTO push_sent (key, incident, sent_at) VALUES ('k1', 'i1', 't')",
    "INSERT INTO scope_snapshots (node, token, households, incidents, created_at, seq) "
    "VALUES ('n1', 'th1', '[]', '[]', 't', 12)",
    "INSERT INTO rate_hits (rule, client, at) VALUES ('login', '10.0.0.1', 1.5)",
    "INSERT INTO device_budgets (node, span, win, changes, bytes) VALUES ('n1', 60, 7, 3, 900)",
    "INSERT INTO quarantine (hlc, node, coll, id, field, raw, error, message, received_at) "
    "VALUES ('h', 'n1', 'visits', 'v', 'note', '{}', 'bad', '坏', 't')",
]


def _legacy(db: str, folder: Path) -> None:
    """Make ``db`` as the release before issue 21 did, and fill it: the demo community
    (the log and its winners, copied row by row) and a row in every other table."""
    (migrate_postgresql if db.startswith("postgresql") else migrate_sqlite)(db)
    src = sqlite3.connect(f"file:{demo_file()}?mode=ro", uri=True)
    try:
        with connection(db) as conn:
            conn.execute("BEGIN")
            for table in ("history", "winners"):
                columns = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
                marks = ", ".join("?" for _ in columns)
                conn.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                    src.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall(),
                )
            for sql in _MORE:
                conn.execute(sql)
            conn.execute("INSERT INTO meta (key, value) VALUES ('epoch', 'e1')")
            conn.execute("COMMIT")
    finally:
        src.close()


def _tables(db: str) -> list[str]:
    return [t for t in shape(db)["tables"] if t not in RUNNERS]


def test_a_database_of_the_previous_release_upgrades_in_place_and_loses_nothing(
    empty: str, tmp_path: Path
) -> None:
    _legacy(empty, tmp_path)
    tables = _tables(empty)
    before = rows_of(empty, tables)
    assert len(before["history"]) > 7000 and all(before[t] for t in TABLES), before.keys()

    async def start() -> None:  # a server starting on it, as at every start
        async with open_database(empty):
            pass

    run_async(start())
    assert applied(empty) == ALL
    # Every row is still there, as it was; the old runner's bookkeeping is gone.
    assert rows_of(empty, tables) == before
    with connection(empty) as conn:
        assert not conn.dialect.has_table(conn, "_sqlite_migrations")
        assert not conn.dialect.has_table(conn, "schema_migrations")
    # And the schema is the one a new database gets.
    fresh = database_on(
        empty.split("://")[0] if "://" in empty else "sqlite", str(tmp_path / "f.db")
    )
    try:
        assert migrate(fresh) == ALL
        assert shape(empty) == shape(fresh)
    finally:
        drop_database(fresh)
    assert migrate(empty) == []


def test_three_servers_starting_at_once_migrate_once(empty: str) -> None:
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            results.append(migrate(empty))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [[], [], ALL]
    assert applied(empty) == ALL


def test_a_failing_step_leaves_nothing_and_runs_whole_once_fixed(empty: str) -> None:
    def broken(conn: Any) -> None:
        conn.execute("CREATE TABLE half_done (x INTEGER)")
        conn.execute("SELECT no_such_column FROM meta")

    def fixed(conn: Any) -> None:
        conn.execute("CREATE TABLE half_done (x INTEGER)")

    with connection(empty) as conn:
        with pytest.raises(Exception, match="no_such_column"):
            migrate_in(conn, [*STEPS, Step(99, "broken", broken)])
        # The others committed on their own; 099's table was rolled back with it.
        assert not conn.dialect.has_table(conn, "half_done")
        assert migrate_in(conn, [*STEPS, Step(99, "broken", fixed)]) == ["099_broken"]
        assert conn.dialect.has_table(conn, "half_done")
    assert applied(empty) == [*ALL, "099_broken"]


def test_a_database_upgraded_by_a_newer_doorstep_is_refused_by_name(empty: str) -> None:
    with connection(empty) as conn:
        migrate_in(conn, [*STEPS, Step(99, "from_the_future", lambda c: None)])
    with pytest.raises(MigrationError, match=r"does not know \(\[99\]\).*newer Doorstep"):
        migrate(empty)


def test_a_half_made_database_of_an_older_release_is_refused_and_left_alone(
    empty: str,
) -> None:
    if empty.startswith("postgresql"):
        migrate_postgresql(empty)
        with connection(empty) as conn:
            conn.execute("DELETE FROM schema_migrations WHERE version = 4")
    else:
        migrate_sqlite(empty)
        with connection(empty) as conn:
            conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm008_device_budgets'")
    with pytest.raises(MigrationError, match="made by an older Doorstep"):
        migrate(empty)
    with connection(empty) as conn:  # the refusal changed nothing
        assert not conn.dialect.has_table(conn, "schema_history")


def test_a_backup_taken_by_the_previous_release_restores_and_upgrades(
    empty: str, tmp_path: Path
) -> None:
    from server.db.backup import backup, restore

    _legacy(empty, tmp_path)
    tables = _tables(empty)
    before = rows_of(empty, tables)
    # The backup as the previous release took it: its file holds the old bookkeeping.
    taken = backup(empty, tmp_path / "backups")
    engine = "postgresql" if empty.startswith("postgresql") else "sqlite"
    target = database_on(engine, str(tmp_path / "restored.db"))
    try:
        report = restore(taken, target)
        assert applied(target) == ALL
        after = rows_of(target, tables)
        # Every row came back; only meta moved on (the backup's note, the new epoch).
        assert {t: r for t, r in after.items() if t != "meta"} == {
            t: r for t, r in before.items() if t != "meta"
        }
        assert dict(after["meta"])["epoch"] == report["epoch"] != dict(before["meta"])["epoch"]
    finally:
        drop_database(target)


def test_a_file_of_the_previous_release_moves_to_postgresql_whole(
    tmp_path: Path, pg_url: str
) -> None:
    from server.db.move import copy

    path = str(tmp_path / "old.db")
    _legacy(path, tmp_path)
    tables = _tables(path)
    run_async(copy(path, pg_url))  # doorstep migrate-db: its old bookkeeping stays behind
    assert applied(pg_url) == ALL
    assert rows_of(pg_url, tables) == rows_of(path, tables)
