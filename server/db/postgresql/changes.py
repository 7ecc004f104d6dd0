"""The change log on PostgreSQL: appending a batch (history + merge into winners) and
pulling pages, with the same results as ``server.db.changes`` on SQLite.

Every append takes the ordering lock first (``core.order_in``), so ``seq`` values commit
in ``seq`` order across connections and processes, and a reader tailing ``seq > cursor``
never skips or repeats (docs/postgresql.md, "Ordering").

Dialect notes, beside their SQLite twins:

- ``INSERT OR IGNORE`` → ``ON CONFLICT (hlc) DO NOTHING``; the batch travels as one
  array per column (``unnest``), one statement for any batch size, in batch order
  (``WITH ORDINALITY``) so ``seq`` follows the order the device sent. A row that
  conflicts would still take a value of the identity sequence (SQLite's rowid takes
  none), so stamps already in the log, and repeats inside the batch, are left out
  before the insert: a re-sent batch leaves no gap, and ``seq`` values stay the ones
  SQLite gives (``ON CONFLICT`` stays as the safety net);
- the merge: PostgreSQL refuses an ``ON CONFLICT DO UPDATE`` that touches one row twice,
  which SQLite allows (a batch with two changes to one field). ``DISTINCT ON`` keeps the
  batch's newest stamp per field first: the same winner SQLite's row-by-row upsert ends
  with, as later rows only win with a larger stamp.
"""

from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from server.db.changes import (
    _FULL_MESSAGE,
    QUARANTINE_PER_DEVICE,
    SERVER_CLOCK,
    Incoming,
    Quarantined,
    WinnerRow,
    iso_now,
    stamped,
)
from server.db.postgresql import meta as pg_meta
from server.db.postgresql.core import LOG_CHANNEL, PgConn, PgDatabase, order_in

__all__ = [
    "apply",
    "apply_in",
    "max_seq",
    "pull",
    "quarantine_in",
    "seen_in",
    "tail",
    "top_in",
    "try_write",
    "write_records",
]


INSERT_HISTORY_SQL = """
INSERT INTO history (hlc, coll, id, field, value, node, person, received_at)
SELECT hlc, coll, id, field, value, node, person, received_at FROM (
    SELECT DISTINCT ON (b.hlc) b.*
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                $7::text[], $8::text[])
         WITH ORDINALITY AS b (hlc, coll, id, field, value, node, person, received_at, n)
    WHERE NOT EXISTS (SELECT 1 FROM history h WHERE h.hlc = b.hlc)
    ORDER BY b.hlc, b.n
) AS fresh
ORDER BY n
ON CONFLICT (hlc) DO NOTHING
"""

MERGE_SQL = """
INSERT INTO winners (coll, id, field, value, hlc, seq)
SELECT DISTINCT ON (coll, id, field) coll, id, field, value, hlc, seq
FROM history WHERE seq > $1
ORDER BY coll, id, field, hlc DESC
ON CONFLICT (coll, id, field) DO UPDATE
SET value = excluded.value, hlc = excluded.hlc, seq = excluded.seq
WHERE excluded.hlc > winners.hlc
"""

_TOP = "SELECT coalesce(max(seq), 0) FROM history"

_HELD_SQL = "SELECT count(*) FROM quarantine WHERE node = $1 AND error <> 'quarantine_full'"
#: SQLite: ``CAST(CAST(quarantine.raw AS INTEGER) + ? AS TEXT)``.
_FULL_SQL = (
    "INSERT INTO quarantine (hlc, node, person, raw, error, message, received_at) "
    "VALUES ('', $1, $2, $3, 'quarantine_full', $4, $5) "
    "ON CONFLICT (node, hlc, error) DO UPDATE SET "
    "raw = (quarantine.raw::bigint + $6)::text, "
    "message = excluded.message, received_at = excluded.received_at, "
    "resolved_at = NULL"
)
#: SQLite: ``INSERT OR IGNORE`` + ``executemany``; only the unique stamp can conflict
#: (the table has no NOT NULL or CHECK constraint for OR IGNORE to swallow). Rows that
#: would conflict are left out first, as in ``INSERT_HISTORY_SQL``, so ``qid`` takes the
#: values SQLite gives (NULLs never conflict, as in SQLite's unique index).
_QUARANTINE_SQL = """
INSERT INTO quarantine (hlc, node, person, coll, id, field, raw, error, message, received_at)
SELECT hlc, node, person, coll, id, field, raw, error, message, received_at FROM (
    SELECT b.*, row_number() OVER (PARTITION BY b.node, b.hlc, b.error ORDER BY b.n) AS k
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                $7::text[], $8::text[], $9::text[], $10::text[])
         WITH ORDINALITY AS b (hlc, node, person, coll, id, field, raw, error, message,
                               received_at, n)
    WHERE NOT EXISTS (SELECT 1 FROM quarantine q
                      WHERE q.node = b.node AND q.hlc = b.hlc AND q.error = b.error)
) AS fresh
WHERE k = 1 OR hlc IS NULL OR node IS NULL OR error IS NULL
ORDER BY n
ON CONFLICT DO NOTHING
"""
_SEEN_SQL = "UPDATE devices SET last_seen = $1 WHERE node = $2"


def _text(value: str | None) -> str | None:
    """PostgreSQL's text cannot hold NUL, which a malformed change's raw bytes (or a
    string escaped in them) can: it becomes U+FFFD, as undecodable bytes already do."""
    return None if value is None else value.replace("\x00", "\ufffd")


async def top_in(conn: PgConn) -> int:
    """The log's top sequence, inside the caller's transaction."""
    return int(await conn.fetchval(_TOP))


async def apply_in(
    conn: PgConn, changes: Sequence[Incoming], *, ordered: bool = True
) -> tuple[int, int]:
    """Append ``changes`` to the history and merge them, inside the caller's READ
    COMMITTED transaction.

    Args:
        ordered: take the ordering lock (always, except for the unordered baseline of
            ``bench/pg_order.py`` and the negative control of ``tests/test_pg_order.py``).

    Returns:
        The highest server sequence before and after the write.
    """
    if changes and ordered:
        await order_in(conn)
    before = await top_in(conn)
    if not changes:
        return before, before
    columns = [list(col) for col in zip(*changes, strict=True)]
    await conn.execute(INSERT_HISTORY_SQL, *columns)
    await conn.execute(MERGE_SQL, before)
    after = await top_in(conn)
    if after > before:
        # Wakes every process's tailer (PgDatabase.listen). Delivered at commit, in
        # commit order: never before the rows are visible.
        await conn.execute("SELECT pg_notify($1, $2)", LOG_CHANNEL, str(after))
    return before, after


async def try_write(conn: PgConn, write: Callable[[], Awaitable[object]]) -> bool:
    """``changes.try_write``: run ``write`` unless the disk is full, then undo it alone (a
    nested transaction is a savepoint) and keep the transaction. False if not written."""
    try:
        async with conn.transaction():
            await write()
    except asyncpg.exceptions.DiskFullError:
        return False
    return True


async def quarantine_in(
    conn: PgConn, rejected: Sequence[Quarantined], node: str | None, at: str | None
) -> None:
    """``changes._quarantine`` / ``quarantine_sync``: keep rejected changes, at most
    ``QUARANTINE_PER_DEVICE`` per device; beyond, count them in one entry."""
    kept = list(rejected)
    if node is not None:
        held = int(await conn.fetchval(_HELD_SQL, node))
        room = max(0, QUARANTINE_PER_DEVICE - held)
        kept, over = kept[:room], len(kept) - room
        if over > 0:
            person = rejected[0][2]
            await conn.execute(
                _FULL_SQL, node, person, str(over), _FULL_MESSAGE, at or iso_now(), over
            )
    if kept:
        columns = [[_text(v) for v in col] for col in zip(*kept, strict=True)]
        await conn.execute(_QUARANTINE_SQL, *columns)


async def seen_in(conn: PgConn, node: str, at: str | None) -> None:
    """The device's ``last_seen``."""
    await conn.execute(_SEEN_SQL, at, node)


async def apply(
    db: PgDatabase,
    changes: Sequence[Incoming],
    rejected: Sequence[Quarantined] = (),
    *,
    node: str | None = None,
    seen_at: str | None = None,
    ordered: bool = True,
) -> tuple[int, int]:
    """``changes.apply``: append and merge ``changes``, keep the ``rejected`` ones and
    the device's ``last_seen``, in one transaction.

    Args:
        ordered: take the ordering lock (always, except for the unordered baseline of
            ``bench/pg_order.py`` and the negative control of ``tests/test_pg_order.py``).
    """

    async def run(conn: PgConn) -> tuple[int, int]:
        after = await apply_in(conn, changes, ordered=ordered)
        if rejected:
            await quarantine_in(conn, rejected, node, seen_at)
        if node is not None:
            await seen_in(conn, node, seen_at)
        return after

    return await db.write_fn(run, appends=ordered and bool(changes))


async def pull(
    db: PgDatabase,
    cursor: int,
    limit: int,
    *,
    exclude_node: str | None = None,
    exclude_after: int = 0,
    scope: tuple[str, Sequence[Any]] | None = None,
) -> tuple[list[WinnerRow], int, bool]:
    """A page of field winners changed after ``cursor``, in sequence order
    (``server.db.changes.pull``).

    Args:
        scope: a WHERE fragment and its arguments whose placeholders are numbered from
            ``$1``: ``scopes.pull_filter(s, dialect="postgresql")``. Its arguments come
            first; this function numbers its own after them.

    The page and the log's top come from one statement, so one snapshot: the returned
    cursor never passes a change the page did not include.

    Returns:
        (rows, new cursor, more pages waiting)
    """
    args: list[Any] = list(scope[1]) if scope is not None else []
    sql = f"SELECT seq, coll, id, field, value, hlc FROM winners WHERE seq > ${len(args) + 1}"
    args.append(cursor)
    if exclude_node is not None:
        sql += f" AND (substr(hlc, 31) <> ${len(args) + 1} OR seq <= ${len(args) + 2})"
        args += [exclude_node, exclude_after]
    if scope is not None:
        sql += f" AND {scope[0]}"
    sql += f" ORDER BY seq LIMIT ${len(args) + 1}"
    args.append(limit + 1)
    both = await db.read(
        "SELECT p.*, t.top FROM (SELECT coalesce(max(seq), 0) AS top FROM history) AS t "
        f"LEFT JOIN ({sql}) AS p ON true ORDER BY p.seq",
        args,
    )
    top = int(both[0][6])
    rows = [tuple(r[:6]) for r in both if r[0] is not None]
    more = len(rows) > limit
    if more:
        rows = rows[:limit]
        new_cursor = int(rows[-1][0])
    else:
        new_cursor = max(cursor, top)
    return rows, new_cursor, more  # type: ignore[return-value]


async def max_seq(db: PgDatabase) -> int:
    rows = await db.read(_TOP)
    return int(rows[0][0])


async def write_records(
    db: PgDatabase,
    records: Iterable[tuple[str, str, dict[str, object]]],
    *,
    at: datetime | None = None,
) -> int:
    """``changes.write_records``: whole records as field changes stamped by the server's
    own node, from the clock persisted in ``meta`` (read and advanced in the same
    transaction, which holds the log lock: two processes never reuse a stamp)."""
    records = list(records)

    async def run(conn: PgConn) -> int:
        node = await pg_meta.server_node_in(conn)
        last = await pg_meta.get_in(conn, SERVER_CLOCK)
        rows, state = stamped(records, node, last, at)
        await pg_meta.set_in(conn, SERVER_CLOCK, state)
        await apply_in(conn, rows)
        return len(rows)

    # The log lock first: the clock row is read and written under it, before any append.
    return await db.write_fn(run, appends=True)


async def tail(db: PgDatabase, after: int, limit: int) -> list[tuple[Any, ...]]:
    """Accepted changes with ``seq > after``, in sequence order: what the live tailer
    (``server.db.log.tail``, SSE ``Last-Event-ID``) reads."""
    return await db.read(
        "SELECT seq, coll, id, field, value, hlc FROM history WHERE seq > $1 ORDER BY seq LIMIT $2",
        (after, limit),
    )
