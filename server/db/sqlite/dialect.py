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


SQLITE = SqliteDialect()


class SqliteConn(sqlite3.Connection):
    """``sqlite3.Connection`` that says its dialect (``server.db.dialect.Conn``): the
    engine opens every connection with this class, so a query costs nothing extra."""

    dialect = SQLITE
