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

    def ddl(self, sql: str) -> str:
        """``sql`` (a statement of ``server.db.migrations``) with its engine words filled
        in: ``{key}``, ``{text}``, ``{int}``, ``{real}``, ``{rowless}``, ``{tail}``,
        ``{short}``, ``{and_short}`` (the engine's ``schema.WORDS``)."""
        raise NotImplementedError

    def engine_schema(self, conn: Conn) -> None:
        """Create what exists on this engine only, after the baseline's tables
        (``server.db.migrations``): the scope sequence's triggers; PostgreSQL's trigger
        functions and decision journal table."""
        raise NotImplementedError

    def has_table(self, conn: Conn, name: str) -> bool:
        """True when the database has a table ``name`` (``server.db.migrations``)."""
        raise NotImplementedError

    def begin_write(self, conn: Conn) -> None:
        """Begin a write transaction on ``conn`` in autocommit mode, one writer at a time
        where the engine needs it said (``server.db.migrations``)."""
        conn.execute("BEGIN")

    def for_update(self) -> str:
        """What ends a ``SELECT`` of a row the transaction will change, so a concurrent
        transaction reading it waits for this one (``people``, ``devices``: an invite
        spent once). SQLite's ``BEGIN IMMEDIATE`` already lets one writer in: nothing."""
        return ""

    def ref_sized(self, column: str) -> str:
        """A condition, true for every record reference (a quoted id, at most ~100
        bytes), that lets the engine use its index on referencing values (``winners_ref``)
        for ``column`` (``server.db.log``, ``console``, ``export``, ``ledger``):
        PostgreSQL's is partial, as a B-tree entry cannot hold a long note."""
        raise NotImplementedError

    def rate_lock_in(self, conn: Conn, client: str, rules: Iterable[str]) -> None:
        """Inside a write transaction: hold, until it ends, a lock per (rule, client) of
        ``rules``, so concurrent attempts of one client are counted one at a time
        (``ratelimits.begin``). SQLite's ``BEGIN IMMEDIATE`` already does: nothing."""

    def after(self, expr: str) -> str:
        """The part of the text ``expr`` after its first ``~`` (the whole of it without
        one), in the very spelling of the ``winners_tail`` index: a household status's
        household, an assignment's target (``server.db.scopes``)."""
        raise NotImplementedError

    def before(self, expr: str) -> str:
        """The part of the text ``expr`` before its first ``~`` ('' without one): a 需核实
        resolution's incident, an assignment's person (``server.db.scopes``)."""
        raise NotImplementedError

    def tuples(self, param: str, *names: str) -> str:
        """A table of the JSON list of lists ``param`` whose columns ``names`` are each
        inner list's strings, in order: ``{tuples('?', 'coll', 'id')} AS k``
        (``server.db.scopes``: the records a batch or a page names)."""
        raise NotImplementedError

    def short_value(self, alias: str) -> str:
        """A condition true of every id-sized ``{alias}.value`` that lets a lookup by value
        use the engine's partial indexes on it (``winners_ref``, ``history_anchor``)
        where it has such indexes (``server.db.scopes``)."""
        return "1 = 1"

    def notify_top(self, conn: Conn, seq: int) -> None:
        """After an append inside ``conn``'s transaction: tell the other processes'
        tailers the log's new top ``seq`` at commit (``server.db.changes.apply_in``).
        Nothing to do where one process owns the log (SQLite's tailer polls its file)."""

    def rollback_to(self, conn: Conn, savepoint: str) -> None:
        """Undo everything since ``savepoint`` after it failed (a full disk), leaving the
        transaction open for reading (``server.db.changes.try_write``)."""
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
