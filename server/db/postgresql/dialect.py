"""PostgreSQL's side of ``server.db.dialect``, and the connection every function of
``server/db`` receives here: psycopg's, with SQLite's ``?`` placeholders translated once
per statement text."""

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import psycopg

from server.db.dialect import Dialect

__all__ = [
    "LOG_CHANNEL",
    "LOG_LOCK",
    "POSTGRESQL",
    "RATE_LOCK",
    "PgConn",
    "PgDialect",
    "rate_lock_key",
    "translate",
]

#: The advisory lock key of the change log: 'dstp' as a 32-bit integer.
LOG_LOCK = 0x64737470
#: The first key of the rate limits' advisory locks: 'drat'.
RATE_LOCK = 0x64726174


def rate_lock_key(rule: str, client: str) -> int:
    """The second key of the rate limit lock of (rule, client): a signed 32-bit hash, the
    same in every process (Python's ``hash`` is salted per process)."""
    digest = hashlib.blake2b(f"{rule}\0{client}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


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

    def ddl(self, sql: str) -> str:
        """``server.db.migrations``: PostgreSQL's words of the schema."""
        from server.db.postgresql.schema import WORDS

        return sql.format(**WORDS)

    def engine_schema(self, conn: Any) -> None:
        """``server.db.migrations``: trigger functions, the scope sequence's triggers and
        the decision journal."""
        from server.db.postgresql.schema import create

        create(conn)

    def has_table(self, conn: Any, name: str) -> bool:
        """``server.db.migrations``: a table in the connection's schema."""
        return conn.execute("SELECT to_regclass(?) IS NOT NULL", (name,)).fetchone()[0]

    def for_update(self) -> str:
        """``people``, ``devices``: under READ COMMITTED two requests with one code (a
        double tap on two app servers) would both read the invite unused."""
        return " FOR UPDATE"

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

    def rate_lock_in(self, conn: Any, client: str, rules: Iterable[str]) -> None:
        """``ratelimits.begin``: one transaction-scoped advisory lock per (rule, client),
        keyed ``(RATE_LOCK, rate_lock_key(rule, client))``, apart from ``LOG_LOCK``. Keys
        are taken in ascending order, so attempts sharing several rules cannot deadlock;
        other clients and writes to the log do not wait."""
        keys = sorted({rate_lock_key(rule, client) for rule in rules})
        conn.execute(
            "SELECT count(pg_advisory_xact_lock(?::integer, k)) FROM unnest(?::integer[]) AS k",
            (RATE_LOCK, keys),
        )

    def after(self, expr: str) -> str:
        return f"substr({expr}, strpos({expr}, '~') + 1)"

    def before(self, expr: str) -> str:
        # SQLite gives '' for an id without '~'; PostgreSQL refuses a negative length.
        return f"substr({expr}, 1, greatest(strpos({expr}, '~') - 1, 0))"

    def tuples(self, param: str, *names: str) -> str:
        cols = ", ".join(f"t.value ->> {k} AS {n}" for k, n in enumerate(names))
        return f"(SELECT {cols} FROM json_array_elements({param}::json) AS t)"

    def short_value(self, alias: str) -> str:
        # The predicate of the partial indexes ``winners_ref`` and ``history_anchor``.
        return f"octet_length({alias}.value) <= 512"


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
