"""One schema for both engines (issue 21): the schema written once in
``server/db/migrations.py`` gives PostgreSQL the same tables, columns, indexes and
triggers as SQLite, its text compares byte by byte, and its scope sequence moves on the
same writes. The runner itself, on both engines: tests/test_migrations.py."""

from pathlib import Path
from typing import Any

from schema_shape import connection, shape

from server.db import migrate


def test_postgresql_schema_matches_sqlite_schema(pg_url: str, tmp_path: Path) -> None:
    path = str(tmp_path / "d.db")
    migrate(path)
    migrate(pg_url)
    sqlite, pg = shape(path), shape(pg_url)
    # The comparison must see the schema, not two empty lists.
    assert "history" in sqlite["tables"] and "winners_tail" in sqlite["indexes"]
    # The one deliberate difference: the decision journal is a table of the database
    # filled by permanent triggers on PostgreSQL (server/db/postgresql/schema.py), a
    # second file (<db>-decisions) filled by TEMP triggers on SQLite. Compared below.
    journal_triggers = {t for t in pg["triggers"] if t.startswith("journal_")}
    assert pg["tables"] == sorted([*sqlite["tables"], "decisions"])
    for table in sqlite["tables"]:
        assert pg["columns"][table] == sqlite["columns"][table], table
    assert pg["foreign_keys"] == sqlite["foreign_keys"]
    assert pg["indexes"] == sqlite["indexes"]
    assert pg["triggers"] - journal_triggers == sqlite["triggers"]
    journal = _sqlite_journal(path)
    assert "decisions" not in sqlite["tables"] and journal["columns"]
    assert pg["columns"]["decisions"] == journal["columns"]
    assert journal_triggers == journal["triggers"]


def _sqlite_journal(path: str) -> dict[str, Any]:
    """SQLite's decision journal: a second file, its table, and the TEMP triggers a
    writer connection installs (server/db/decisions.py)."""
    import sqlite3

    from schema_shape import family

    from server.db.sqlite.journal import attach_sql

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for sql, args in attach_sql(path):
            conn.execute(sql, args)
        columns = [
            (name, family(kind), bool(notnull or pk), pk > 0)
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


def test_text_compares_byte_by_byte_whatever_the_database_collation(pg_cluster: Any) -> None:
    # The test cluster's own locale is C; an operator's database may well be en-US, where
    # 'a~1' sorts before 'aa' and 'a' before 'A'. Stamps and id ranges need SQLite's order.
    url = pg_cluster.create_database(
        "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"
    )
    ids = ["aa", "a~1", "A", "a-b", "ab", "a", "Z", "~", "0"]
    try:
        migrate(url)
        with connection(url) as conn:
            language = conn.execute("SELECT 'a~1' < 'aa'").fetchone()[0]  # the default
            conn.executemany(
                "INSERT INTO winners (coll, id, field, value, hlc, seq) "
                "VALUES ('c', ?, 'f', '1', ?, ?)",
                [(rid, rid, n) for n, rid in enumerate(ids)],
            )
            order = [r[0] for r in conn.execute("SELECT id FROM winners ORDER BY id")]
    finally:
        pg_cluster.drop_database(url)
    assert language is True  # the database really does compare the other way
    assert order == sorted(ids)  # Python compares code points, as SQLite's BINARY does


# Writes that may or may not move the scope sequence (its triggers, each engine's schema.py).
_SCOPE_WRITES = [
    (
        "INSERT INTO history (hlc, coll, id, field, value, node, received_at) "
        "VALUES (?, 'assignments', 'r', 'volunteer', '1', 'n', 'now')",
        ("h1",),
    ),
    (
        "INSERT INTO history (hlc, coll, id, field, value, node, received_at) "
        "VALUES (?, 'visits', 'r', 'note', '1', 'n', 'now')",
        ("h2",),
    ),
    (
        "INSERT INTO history (hlc, coll, id, field, value, node, received_at) "
        "VALUES (?, 'households', 'r', 'building', '1', 'n', 'now')",
        ("h3",),
    ),
    (
        "INSERT INTO history (hlc, coll, id, field, value, node, received_at) "
        "VALUES (?, 'households', 'r', 'address', '1', 'n', 'now')",
        ("h4",),
    ),
    ("INSERT INTO people (id, role) VALUES (?, 'volunteer')", ("p1",)),
    ("UPDATE people SET name = '新名字' WHERE id = ?", ("p1",)),
    ("UPDATE people SET role = 'coordinator' WHERE id = ?", ("p1",)),
    ("DELETE FROM people WHERE id = ?", ("p1",)),
]


def _scope_seq(db: str) -> list[int]:
    migrate(db)
    out = []
    with connection(db) as conn:
        for sql, args in _SCOPE_WRITES:
            conn.execute(sql, args)
            (value,) = conn.execute("SELECT value FROM meta WHERE key = 'scope_seq'").fetchone()
            out.append(int(value))
    return out


def test_scope_sequence_moves_on_the_same_writes_as_on_sqlite(pg_url: str, tmp_path: Path) -> None:
    sqlite = _scope_seq(str(tmp_path / "d.db"))
    assert sqlite == [1, 1, 2, 2, 3, 3, 4, 5]  # the triggers fire, and only where they should
    assert _scope_seq(pg_url) == sqlite
