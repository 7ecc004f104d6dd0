"""What differs between the two engines' SQL, said once per engine (docs/database.md).

Every query of ``server/db`` is written once, in SQLite's spelling with ``?``
placeholders, as a blocking function of a ``Conn``. Both engines run such functions the
same way: on a worker thread, inside one transaction (``Database.read_tx`` /
``Database.write_tx``). The connection a function receives carries its engine's
``Dialect``; where the SQL truly differs (a JSON list as a table, the log's ordering
lock, a full disk), the function asks the dialect instead of branching on a name.

This module is engine-neutral: ``server.db.sqlite`` and ``server.db.postgresql`` each
subclass ``Dialect`` and never import each other.
"""

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

__all__ = ["Conn", "Cursor", "Dialect"]


class Cursor(Protocol):
    """What a query answers, on either engine (a DB-API cursor)."""

    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Any: ...


class Conn(Protocol):
    """A connection inside one transaction, as the functions of ``server/db`` see it:
    SQL in SQLite's spelling with ``?`` placeholders, on either engine."""

    dialect: "Dialect"

    def execute(self, sql: str, args: Sequence[Any] = (), /) -> Cursor: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> Cursor: ...


class Dialect:
    """The real differences between the engines; one instance per engine.

    Add a method here (and in both engines' subclasses) only for SQL that cannot be
    written the same way on both; say in its docstring which module needs it.
    """

    #: "sqlite" or "postgresql": for messages, metrics and the tests, never for branching.
    name = ""
    #: True when several processes append to one log, so appends need an ordering lock
    #: (PostgreSQL); SQLite's ``BEGIN IMMEDIATE`` already lets one writer in at a time.
    shared = False

    def each(self, param: str = "?") -> str:
        """A table of the strings in the JSON list ``param`` (one column, ``value``):
        ``x IN (SELECT value FROM {each})``."""
        raise NotImplementedError

    def greatest(self, *exprs: str) -> str:
        """The largest of several SQL expressions (SQLite's scalar ``max``)."""
        raise NotImplementedError

    def least(self, *exprs: str) -> str:
        """The smallest of several SQL expressions (SQLite's scalar ``min``)."""
        raise NotImplementedError

    def order_in(self, conn: Conn) -> None:
        """Inside a write transaction that appends to the change log, before it takes any
        ``seq``: make appends commit in ``seq`` order (docs/postgresql.md, "Ordering")."""

    def shared_order_in(self, conn: Conn) -> None:
        """Inside a transaction that only reads the log: see one state of it (no append
        commits in the middle of it), without making readers wait for each other."""

    def is_full(self, exc: BaseException) -> bool:
        """True when ``exc`` says the database cannot grow (answered with 507)."""
        return False

    def notify_top(self, conn: Conn, seq: int) -> None:
        """After an append inside ``conn``'s transaction: tell the other processes'
        tailers the log's new top ``seq`` at commit (``server.db.changes.apply_in``).
        Nothing to do where one process owns the log (SQLite's tailer polls its file)."""

    def rollback_to(self, conn: Conn, savepoint: str) -> None:
        """Undo everything since ``savepoint`` after it failed (a full disk), leaving the
        transaction open for reading (``server.db.changes.try_write``)."""
        raise NotImplementedError

    def ref_sized(self, column: str) -> str:
        """A condition, true for every record reference (a quoted id, at most ~100
        bytes), that lets the engine use its index on referencing values (``winners_ref``)
        for ``column`` (``server.db.log``): PostgreSQL's is partial, as a B-tree entry
        cannot hold a long note."""
        raise NotImplementedError

    def unseen(self, conn: Conn, rows: Sequence[Sequence[Any]], known: str) -> Sequence[Any]:
        """The ``rows`` to insert into a table whose first column is unique and whose
        key is an identity: on PostgreSQL, those whose key is neither stored (``known``,
        a query of the stored keys among a JSON list, ``{each}`` for ``Dialect.each``) nor
        repeated earlier in ``rows``, because a conflicting insert still takes a value of
        the identity (a gap); SQLite's rowid takes none, so all of them
        (``server.db.changes.apply_in``)."""
        raise NotImplementedError

    def newest_in_batch(self, row: str, before: str) -> str:
        """A condition keeping, of the history rows ``row`` after ``seq`` ``before`` that
        change one field, the newest stamp only, where an upsert may not touch one row
        twice in a statement (``server.db.changes.MERGE_SQL``)."""
        raise NotImplementedError
