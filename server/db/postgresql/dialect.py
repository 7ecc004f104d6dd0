"""PostgreSQL's side of ``server.db.dialect``, and the connection every function of
``server/db`` receives here: psycopg's, with SQLite's ``?`` placeholders translated once
per statement text."""

import json
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import psycopg

from server.db.dialect import Dialect

__all__ = ["LOG_CHANNEL", "LOG_LOCK", "POSTGRESQL", "PgConn", "PgDialect", "translate"]

#: The advisory lock key of the change log: 'dstp' as a 32-bit integer.
LOG_LOCK = 0x64737470
#: The channel every append notifies with the log's new top (``Dialect.notify_top``).
LOG_CHANNEL = "doorstep_log"

_TOKEN = re.compile(r"'(?:[^']|'')*'|\?|%")


@lru_cache(maxsize=4096)
def translate(sql: str) -> str:
    """``sql`` with SQLite's ``?`` as psycopg's ``%s`` and every literal ``%`` doubled,
    inside quoted literals too (psycopg reads ``%`` wherever it stands: ``LIKE 'a.%'``); a
    ``?`` inside a quoted literal is left alone."""

    def sub(m: re.Match[str]) -> str:
        tok = m.group(0)
        if tok == "?":
            return "%s"
        return tok.replace("%", "%%")

    return _TOKEN.sub(sub, sql)


class PgDialect(Dialect):
    name = "postgresql"
    shared = True

    def each(self, param: str = "?") -> str:
        return f"json_array_elements_text({param}::json) AS value"

    def greatest(self, *exprs: str) -> str:
        return f"greatest({', '.join(exprs)})"

    def least(self, *exprs: str) -> str:
        return f"least({', '.join(exprs)})"

    def order_in(self, conn: Any) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(?)", (LOG_LOCK,))

    def shared_order_in(self, conn: Any) -> None:
        conn.execute("SELECT pg_advisory_xact_lock_shared(?)", (LOG_LOCK,))

    def is_full(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg.errors.DiskFull)

    def notify_top(self, conn: Any, seq: int) -> None:
        """``server.db.changes.apply_in``: wakes every process's tailer
        (``server.db.postgresql.listen``), delivered at commit, in commit order: never
        before the rows are visible."""
        conn.execute("SELECT pg_notify(?, ?)", (LOG_CHANNEL, str(seq)))

    def rollback_to(self, conn: Any, savepoint: str) -> None:
        """``server.db.changes.try_write``: the failed statement aborted the transaction
        only back to the savepoint."""
        conn.execute(f"ROLLBACK TO SAVEPOINT {savepoint}")
        conn.execute(f"RELEASE SAVEPOINT {savepoint}")

    def unseen(self, conn: Any, rows: Sequence[Sequence[Any]], known: str) -> Sequence[Any]:
        """``server.db.changes.apply_in``: an identity value is taken even by a row whose
        insert then conflicts; leave those out first."""
        keys = [r[0] for r in rows]
        seen = {k for (k,) in conn.execute(known.format(each=self.each()), (json.dumps(keys),))}
        out = []
        for row in rows:
            if row[0] not in seen:
                seen.add(row[0])
                out.append(row)
        return out

    def newest_in_batch(self, row: str, before: str) -> str:
        """``server.db.changes.MERGE_SQL``: "ON CONFLICT DO UPDATE command cannot affect
        row a second time" otherwise (a batch with two changes to one field)."""
        return (
            f"NOT EXISTS (SELECT 1 FROM history n WHERE n.coll = {row}.coll "
            f"AND n.id = {row}.id AND n.field = {row}.field AND n.hlc > {row}.hlc "
            f"AND n.seq > {before})"
        )

    def ref_sized(self, column: str) -> str:
        """``server.db.log``: the very condition of the partial index ``winners_ref``."""
        return f"octet_length({column}) <= 512"


POSTGRESQL = PgDialect()


class PgConn:
    """A psycopg connection inside one transaction, spoken to in SQLite's spelling
    (``server.db.dialect.Conn``)."""

    __slots__ = ("raw",)
    dialect = POSTGRESQL

    def __init__(self, raw: psycopg.Connection) -> None:
        self.raw = raw

    def execute(self, sql: str, args: Sequence[Any] = (), /) -> psycopg.Cursor:
        if not args:
            return self.raw.execute(sql)
        return self.raw.execute(translate(sql), args)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> psycopg.Cursor:
        cur = self.raw.cursor()
        cur.executemany(translate(sql), rows)
        return cur
