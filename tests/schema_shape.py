"""The shape of a database's schema, the same way on both engines, for the tests that
compare schemas (test_pg_schema.py, test_migrations.py): tables, columns (name, type
family, NOT NULL, primary key), foreign keys, indexes made by CREATE INDEX (name,
uniqueness) and triggers, less each migration runner's bookkeeping."""

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any

from server.db import postgresql as pg

#: Bookkeeping of the migration runners, old and new: not the application's schema.
RUNNERS = {"_sqlite_migrations", "schema_migrations", "schema_history"}


@contextlib.contextmanager
def connection(db: str) -> Iterator[Any]:
    """A ``server.db.dialect.Conn`` in autocommit mode on the database ``db`` (a file
    or a ``postgresql://`` URL)."""
    if pg.is_url(db):
        import psycopg

        from server.db.postgresql.dialect import PgConn

        raw = psycopg.connect(db, autocommit=True)
        try:
            yield PgConn(raw)
        finally:
            raw.close()
    else:
        from server.db.sqlite.engine import connect_sync

        conn = connect_sync(db)
        try:
            yield conn
        finally:
            conn.close()


def family(sql_type: str) -> str:
    t = sql_type.lower()
    if "int" in t:
        return "integer"
    # SQLite's REAL is an 8-byte float: PostgreSQL's double precision, not its 4-byte real.
    return "float8" if t in ("real", "double precision") else t


def shape(db: str) -> dict[str, Any]:
    """The shape of the schema of ``db`` (see the module docstring)."""
    return _pg(db) if pg.is_url(db) else _sqlite(db)


def _sqlite(path: str) -> dict[str, Any]:
    conn = sqlite3.connect(path)
    try:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
            if name not in RUNNERS
        ]
        columns, fks = {}, set()
        for table in tables:
            columns[table] = [
                (name, family(kind), bool(notnull or pk), pk > 0)
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


def _pg(url: str) -> dict[str, Any]:
    with connection(url) as conn:

        def rows(sql: str, args: tuple = ()) -> list[tuple]:
            return conn.execute(sql, args).fetchall()

        tables = [
            name
            for (name,) in rows(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' ORDER BY table_name"
            )
            if name not in RUNNERS
        ]
        pks = set(
            rows(
                "SELECT k.table_name, k.column_name FROM information_schema.table_constraints c "
                "JOIN information_schema.key_column_usage k USING (constraint_name, table_name) "
                "WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = 'public'"
            )
        )
        columns = {
            table: [
                (name, family(kind), nullable == "NO", (table, name) in pks)
                for name, kind, nullable in rows(
                    "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND table_name = ? ORDER BY ordinal_position",
                    (table,),
                )
            ]
            for table in tables
        }
        fks = set(
            rows(
                "SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text, "
                "b.attname FROM pg_constraint c "
                "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
                "JOIN pg_attribute b ON b.attrelid = c.confrelid AND b.attnum = c.confkey[1] "
                "WHERE c.contype = 'f'"
            )
        )
        indexes = dict(
            rows(
                "SELECT i.relname, x.indisunique FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid "
                "JOIN pg_namespace n ON n.oid = i.relnamespace "
                "WHERE n.nspname = 'public' "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
            )
        )
        triggers = {t for (t,) in rows("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
    return {
        "tables": tables,
        "columns": columns,
        "foreign_keys": fks,
        "indexes": indexes,
        "triggers": triggers,
    }


def rows_of(db: str, tables: list[str]) -> dict[str, list[tuple]]:
    """Every row of each table, sorted: what must survive an upgrade."""
    out = {}
    with connection(db) as conn:
        for table in tables:
            out[table] = sorted(
                (tuple(r) for r in conn.execute(f"SELECT * FROM {table}")), key=repr
            )
    return out
