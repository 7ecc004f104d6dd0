"""The PostgreSQL schema and its migration runner (issue 14): the same tables, columns,
indexes and triggers as SQLite's, migrations applied once even by three servers at once,
and an edited or failing migration refused cleanly."""

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import run_async

from server.db.migrations import migrate as migrate_sqlite
from server.db.postgresql import migrations as pgm
from server.db.postgresql.core import connect

#: Every migration the runner has, in order.
ALL = sorted(p.stem for p in pgm.SQL_DIR.glob("*.sql"))
#: Bookkeeping of each migration tool, not the application's schema.
_RUNNERS = {"_sqlite_migrations", "schema_migrations"}


def _family(sql_type: str) -> str:
    t = sql_type.lower()
    if "int" in t:
        return "integer"
    # SQLite's REAL is an 8-byte float: PostgreSQL's double precision, not its 4-byte real.
    return "float8" if t in ("real", "double precision") else t


def _sqlite_schema(path: str) -> dict[str, Any]:
    migrate_sqlite(path)
    conn = sqlite3.connect(path)
    try:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
            if name not in _RUNNERS
        ]
        columns = {}
        fks = set()
        for table in tables:
            columns[table] = [
                (name, _family(kind), bool(notnull or pk), pk > 0)
                for _, name, kind, notnull, _, pk in conn.execute(f"PRAGMA table_info({table})")
            ]
            fks |= {
                (table, row[3], row[2], row[4])
                for row in conn.execute(f"PRAGMA foreign_key_list({table})")
            }
        indexes = {
            name: bool(unique)
            for table in tables
            for _, name, unique, origin, _ in conn.execute(f"PRAGMA index_list({table})")
            if origin == "c"  # created by CREATE INDEX, not by a PRIMARY KEY or UNIQUE
        }
        triggers = {
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")
        }
    finally:
        conn.close()
    return {
        "tables": tables,
        "columns": columns,
        "foreign_keys": fks,
        "indexes": indexes,
        "triggers": triggers,
    }


async def _pg_schema(url: str) -> dict[str, Any]:
    await pgm.migrate(url)
    conn = await connect(url)
    try:
        tables = [
            r["table_name"]
            for r in await conn.fetch(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' ORDER BY table_name"
            )
            if r["table_name"] not in _RUNNERS
        ]
        pks = {
            (r["table_name"], r["column_name"])
            for r in await conn.fetch(
                "SELECT k.table_name, k.column_name FROM information_schema.table_constraints c "
                "JOIN information_schema.key_column_usage k USING (constraint_name, table_name) "
                "WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = 'public'"
            )
        }
        columns = {}
        for table in tables:
            columns[table] = [
                (
                    r["column_name"],
                    _family(r["data_type"]),
                    r["is_nullable"] == "NO",
                    (table, r["column_name"]) in pks,
                )
                for r in await conn.fetch(
                    "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
                    table,
                )
            ]
        fks = {
            (r["src"], r["col"], r["dst"], r["dst_col"])
            for r in await conn.fetch(
                "SELECT c.conrelid::regclass::text AS src, a.attname AS col, "
                "c.confrelid::regclass::text AS dst, b.attname AS dst_col "
                "FROM pg_constraint c "
                "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
                "JOIN pg_attribute b ON b.attrelid = c.confrelid AND b.attnum = c.confkey[1] "
                "WHERE c.contype = 'f'"
            )
        }
        indexes = {
            r["name"]: r["unique"]
            for r in await conn.fetch(
                "SELECT i.relname AS name, x.indisunique AS unique FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid "
                "JOIN pg_namespace n ON n.oid = i.relnamespace "
                "WHERE n.nspname = 'public' "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
            )
        }
        triggers = {
            r["tgname"]
            for r in await conn.fetch("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
        }
    finally:
        await conn.close()
    return {
        "tables": tables,
        "columns": columns,
        "foreign_keys": fks,
        "indexes": indexes,
        "triggers": triggers,
    }


def _sqlite_journal(path: str) -> dict[str, Any]:
    """SQLite's decision journal: a second file, its table, and the TEMP triggers a
    writer connection installs (server/db/decisions.py)."""
    from server.db.sqlite.journal import attach_sql

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for sql, args in attach_sql(path):
            conn.execute(sql, args)
        columns = [
            (name, _family(kind), bool(notnull or pk), pk > 0)
            for _, name, kind, notnull, _, pk in conn.execute(
                "PRAGMA journal.table_info(decisions)"
            )
        ]
        triggers = {
            name
            for (name,) in conn.execute("SELECT name FROM sqlite_temp_master WHERE type='trigger'")
        }
    finally:
        conn.close()
    return {"columns": columns, "triggers": triggers}


def test_postgresql_schema_matches_sqlite_schema(pg_url: str, tmp_path: Path) -> None:
    sqlite = _sqlite_schema(str(tmp_path / "d.db"))
    pg = run_async(_pg_schema(pg_url))
    # The comparison must see the schema, not two empty lists.
    assert "history" in sqlite["tables"] and "winners_tail" in sqlite["indexes"]
    # The one deliberate difference: the decision journal is a table of the database
    # filled by permanent triggers on PostgreSQL (003_decisions.sql), a second file
    # (<db>-decisions) filled by TEMP triggers on SQLite. Compared on its own below.
    journal_triggers = {t for t in pg["triggers"] if t.startswith("journal_")}
    assert pg["tables"] == sorted([*sqlite["tables"], "decisions"])
    for table in sqlite["tables"]:
        assert pg["columns"][table] == sqlite["columns"][table], table
    assert pg["foreign_keys"] == sqlite["foreign_keys"]
    assert pg["indexes"] == sqlite["indexes"]
    assert pg["triggers"] - journal_triggers == sqlite["triggers"]
    journal = _sqlite_journal(str(tmp_path / "d.db"))
    assert "decisions" not in sqlite["tables"] and journal["columns"]
    assert pg["columns"]["decisions"] == journal["columns"]
    assert journal_triggers == journal["triggers"]


def test_text_compares_byte_by_byte_whatever_the_database_collation(pg_cluster: Any) -> None:
    # The test cluster's own locale is C; an operator's database may well be en-US, where
    # 'a~1' sorts before 'aa' and 'a' before 'A'. Stamps and id ranges need SQLite's order.
    url = pg_cluster.create_database(
        "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"
    )
    ids = ["aa", "a~1", "A", "a-b", "ab", "a", "Z", "~", "0"]

    async def main() -> tuple[list[str], bool]:
        await pgm.migrate(url)
        conn = await connect(url)
        try:
            language = await conn.fetchval("SELECT 'a~1' < 'aa'")  # the database's default
            await conn.executemany(
                "INSERT INTO winners (coll, id, field, value, hlc, seq) "
                "VALUES ('c', $1, 'f', '1', $1, $2)",
                [(rid, n) for n, rid in enumerate(ids)],
            )
            rows = await conn.fetch("SELECT id FROM winners ORDER BY id")
        finally:
            await conn.close()
        return [r["id"] for r in rows], language

    try:
        order, language = run_async(main())
    finally:
        pg_cluster.drop_database(url)
    assert language is True  # the database really does compare the other way
    assert order == sorted(ids)  # Python compares code points, as SQLite's BINARY does


# Writes that may or may not move the scope sequence (SQLite's m006 triggers).
_SCOPE_WRITES = [
    ("history", "assignments", "volunteer"),
    ("history", "visits", "note"),
    ("history", "households", "building"),
    ("history", "households", "address"),
    ("people insert", "p1", "volunteer"),
    ("people update name", "p1", "新名字"),
    ("people update role", "p1", "coordinator"),
    ("people delete", "p1", ""),
]


def _scope_seq_sqlite(path: str) -> list[int]:
    migrate_sqlite(path)
    conn = sqlite3.connect(path, isolation_level=None)
    out = []
    try:
        for n, (kind, a, b) in enumerate(_SCOPE_WRITES):
            if kind == "history":
                conn.execute(
                    "INSERT INTO history (hlc, coll, id, field, value, node, received_at) "
                    "VALUES (?, ?, 'r', ?, '1', 'n', 'now')",
                    (f"h{n}", a, b),
                )
            elif kind == "people insert":
                conn.execute("INSERT INTO people (id, role) VALUES (?, ?)", (a, b))
            elif kind == "people update name":
                conn.execute("UPDATE people SET name = ? WHERE id = ?", (b, a))
            elif kind == "people update role":
                conn.execute("UPDATE people SET role = ? WHERE id = ?", (b, a))
            else:
                conn.execute("DELETE FROM people WHERE id = ?", (a,))
            (value,) = conn.execute("SELECT value FROM meta WHERE key = 'scope_seq'").fetchone()
            out.append(int(value))
    finally:
        conn.close()
    return out


async def _scope_seq_pg(url: str) -> list[int]:
    await pgm.migrate(url)
    conn = await connect(url)
    out = []
    try:
        for n, (kind, a, b) in enumerate(_SCOPE_WRITES):
            if kind == "history":
                await conn.execute(
                    "INSERT INTO history (hlc, coll, id, field, value, node, received_at) "
                    "VALUES ($1, $2, 'r', $3, '1', 'n', 'now')",
                    f"h{n}",
                    a,
                    b,
                )
            elif kind == "people insert":
                await conn.execute("INSERT INTO people (id, role) VALUES ($1, $2)", a, b)
            elif kind == "people update name":
                await conn.execute("UPDATE people SET name = $1 WHERE id = $2", b, a)
            elif kind == "people update role":
                await conn.execute("UPDATE people SET role = $1 WHERE id = $2", b, a)
            else:
                await conn.execute("DELETE FROM people WHERE id = $1", a)
            out.append(int(await conn.fetchval("SELECT value FROM meta WHERE key = 'scope_seq'")))
    finally:
        await conn.close()
    return out


def test_scope_sequence_moves_on_the_same_writes_as_on_sqlite(pg_url: str, tmp_path: Path) -> None:
    sqlite = _scope_seq_sqlite(str(tmp_path / "d.db"))
    assert sqlite == [1, 1, 2, 2, 3, 3, 4, 5]  # the triggers fire, and only where they should
    assert run_async(_scope_seq_pg(pg_url)) == sqlite


def test_three_servers_starting_at_once_migrate_once(pg_url: str) -> None:
    import asyncio

    async def three() -> list[list[str]]:
        return list(await asyncio.gather(*(pgm.migrate(pg_url) for _ in range(3))))

    results = run_async(three())
    assert sorted(results) == [[], [], ALL]
    assert run_async(pgm.applied(pg_url)) == ALL
    assert run_async(pgm.migrate(pg_url)) == []


def _copy_sql(tmp_path: Path) -> Path:
    out = tmp_path / "sql"
    shutil.copytree(pgm.SQL_DIR, out)
    return out


def test_an_edited_migration_is_refused_by_name(pg_url: str, tmp_path: Path) -> None:
    sql = _copy_sql(tmp_path)
    run_async(pgm.migrate(pg_url, sql))
    first = sql / "001_schema.sql"
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(pgm.MigrationError, match=r"001_schema\.sql changed after it was applied"):
        run_async(pgm.migrate(pg_url, sql))


def test_a_failing_migration_leaves_nothing_and_runs_whole_once_fixed(
    pg_url: str, tmp_path: Path
) -> None:
    import asyncpg

    sql = _copy_sql(tmp_path)
    step = sql / "999_broken.sql"
    step.write_text("CREATE TABLE half_done (x int);\nSELECT no_such_column FROM meta;\n")
    with pytest.raises(asyncpg.UndefinedColumnError):
        run_async(pgm.migrate(pg_url, sql))
    # The others committed on their own; 999's table was rolled back with it.
    assert run_async(pgm.applied(pg_url)) == ALL

    async def tables() -> set[str]:
        conn = await connect(pg_url)
        try:
            rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        finally:
            await conn.close()
        return {r["tablename"] for r in rows}

    assert "half_done" not in run_async(tables())
    step.write_text("CREATE TABLE half_done (x int);\n")
    assert run_async(pgm.migrate(pg_url, sql)) == ["999_broken"]
    assert "half_done" in run_async(tables())


def test_migration_files_are_numbered_once(tmp_path: Path) -> None:
    sql = _copy_sql(tmp_path)
    (sql / "001_again.sql").write_text("SELECT 1;")
    with pytest.raises(pgm.MigrationError, match="version 1 is used twice"):
        pgm.steps(sql)
    (sql / "001_again.sql").unlink()
    (sql / "2_bad name.sql").write_text("SELECT 1;")
    with pytest.raises(pgm.MigrationError, match=r"named NNN_name\.sql"):
        pgm.steps(sql)
