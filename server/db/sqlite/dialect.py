"""SQLite's side of ``server.db.dialect`` and its connection class."""

import sqlite3

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
