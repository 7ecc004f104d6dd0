"""The one database interface (docs/database.md): a blocking function of a ``Conn``,
written once in SQLite's spelling, runs in one transaction on either engine."""

from typing import Any

import pytest
from conftest import run_async

from server.db import open_database
from server.db.postgresql.dialect import translate
from server.errors import StorageFullError


@pytest.fixture
def any_db(fresh_db: str) -> str:
    """A database that does not exist yet, on each engine (``backend``)."""
    return fresh_db


def test_placeholders_are_translated_outside_quoted_literals() -> None:
    # psycopg reads every ``%`` as a placeholder, inside quotes too: each is doubled.
    assert translate("SELECT ? || '?' || '%' WHERE a LIKE 'x%' AND b = ?") == (
        "SELECT %s || '?' || '%%' WHERE a LIKE 'x%%' AND b = %s"
    )
    assert translate("SELECT 5 % ?") == "SELECT 5 %% %s"
    assert translate("SELECT 'it''s ?', ?") == "SELECT 'it''s ?', %s"


def test_one_function_runs_on_both_engines(any_db: str) -> None:
    async def main() -> Any:
        async with open_database(any_db) as db:

            def write(conn: Any) -> int:
                conn.execute("CREATE TABLE IF NOT EXISTS t_iface (k TEXT PRIMARY KEY, n INTEGER)")
                conn.executemany(
                    "INSERT INTO t_iface (k, n) VALUES (?, ?) ON CONFLICT (k) DO UPDATE "
                    "SET n = excluded.n",
                    [("a", 1), ("b", 2), ("c", 3), ("a", 4)],
                )
                return conn.execute("UPDATE t_iface SET n = n + 1 WHERE k <> ?", ("c",)).rowcount

            changed = await db.write_tx(write, appends=True)

            def read(conn: Any) -> list[Any]:
                d = conn.dialect
                return [
                    tuple(r)
                    for r in conn.execute(
                        f"SELECT k, {d.greatest('n', '3')} FROM t_iface "
                        f"WHERE k IN (SELECT value FROM {d.each()}) ORDER BY k",
                        ('["a", "c", "zz"]',),
                    )
                ]

            rows = await db.read_tx(read)
            count = await db.select("SELECT count(*) FROM t_iface WHERE n > ?", (2,))
            deleted = await db.execute("DELETE FROM t_iface WHERE k = ?", ("b",))
            return changed, rows, count, deleted

    changed, rows, count, deleted = run_async(main())
    assert changed == 2
    assert rows == [("a", 5), ("c", 3)]
    assert count == [(3,)]
    assert deleted == 1


def test_a_failed_write_leaves_nothing(any_db: str) -> None:
    async def main() -> Any:
        async with open_database(any_db) as db:
            await db.execute("CREATE TABLE IF NOT EXISTS t_gone (k TEXT PRIMARY KEY)")

            def half(conn: Any) -> None:
                conn.execute("INSERT INTO t_gone (k) VALUES (?)", ("kept?",))
                raise StorageFullError("disk")

            with pytest.raises(StorageFullError):
                await db.write_tx(half)
            return await db.select("SELECT count(*) FROM t_gone")

    assert run_async(main()) == [(0,)]
