"""SQLite's side of ``server.db.dialect`` and its connection class."""

import sqlite3
from collections.abc import Sequence
from typing import Any

from server.db.dialect import Dialect

__all__ = ["SQLITE", "SqliteConn", "SqliteDialect"]


class SqliteDialect(Dialect):
    name = "sqlite"
    shared = False

    def each(self, param: str = "?") -> str:
        return f"json_each({param})"

    def greatest(self, *exprs: str) -> str:
        return f"max({', '.join(exprs)})"

    def least(self, *exprs: str) -> str:
        return f"min({', '.join(exprs)})"

    def is_full(self, exc: BaseException) -> bool:
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL

    def ddl(self, sql: str) -> str:
        """``server.db.migrations``: SQLite's words of the schema."""
        from server.db.sqlite.schema import WORDS

        return sql.format(**WORDS)

    def engine_schema(self, conn: Any) -> None:
        """``server.db.migrations``: the scope sequence's triggers."""
        from server.db.sqlite.schema import create

        create(conn)

    def has_table(self, conn: Any, name: str) -> bool:
        """``server.db.migrations``: sqlite-utils' introspection, on the caller's
        connection and transaction (nothing else of the connection changed)."""
        import sqlite_utils

        db = sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)
        return db[name].exists()

    def begin_write(self, conn: Any) -> None:
        """``server.db.migrations``: IMMEDIATE takes the write lock first, so a second
        process starting at once waits (busy_timeout) instead of failing its upgrade."""
        conn.execute("BEGIN IMMEDIATE")

    def rollback_to(self, conn: Any, savepoint: str) -> None:
        """``server.db.changes.try_write``: a full disk may have rolled back the whole
        transaction already; then a new one is begun, for reading."""
        if conn.in_transaction:
            conn.execute(f"ROLLBACK TO SAVEPOINT {savepoint}")
            conn.execute(f"RELEASE SAVEPOINT {savepoint}")
        else:
            conn.execute("BEGIN")

    def unseen(self, conn: Any, rows: Sequence[Sequence[Any]], known: str) -> Sequence[Any]:
        """``server.db.changes.apply_in``: a conflicting insert takes no rowid."""
        return rows

    def newest_in_batch(self, row: str, before: str) -> str:
        """``server.db.changes.MERGE_SQL``: SQLite's upsert takes the rows one by one, in
        ``seq`` order; the stamp guard leaves the newest: every row may go in."""
        return "1 = 1"

    def ref_sized(self, column: str) -> str:
        """``server.db.log``: SQLite's ``winners_ref`` holds every value (no size limit)."""
        return f"length(CAST({column} AS BLOB)) <= 512"

    def after(self, expr: str) -> str:
        return f"substr({expr}, instr({expr}, '~') + 1)"

    def before(self, expr: str) -> str:
        return f"substr({expr}, 1, instr({expr}, '~') - 1)"

    def tuples(self, param: str, *names: str) -> str:
        cols = ", ".join(f"json_extract(value, '$[{k}]') AS {n}" for k, n in enumerate(names))
        return f"(SELECT {cols} FROM json_each({param}))"


SQLITE = SqliteDialect()


class SqliteConn(sqlite3.Connection):
    """``sqlite3.Connection`` that says its dialect (``server.db.dialect.Conn``): the
    engine opens every connection with this class, so a query costs nothing extra."""

    dialect = SQLITE
