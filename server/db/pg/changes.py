"""The change log on PostgreSQL: appending a batch (history + merge into winners) and
pulling pages, with the same results as ``server.db.changes`` on SQLite.

Every append takes the ordering lock first (``core.order_in``), so ``seq`` values commit
in ``seq`` order across connections and processes, and a reader tailing ``seq > cursor``
never skips or repeats (docs/postgresql.md, "Ordering").

Dialect notes, beside their SQLite twins:

- ``INSERT OR IGNORE`` → ``ON CONFLICT (hlc) DO NOTHING``; the batch travels as one
  array per column (``unnest``), one statement for any batch size, in batch order
  (``WITH ORDINALITY``) so ``seq`` follows the order the device sent;
- the merge: PostgreSQL refuses an ``ON CONFLICT DO UPDATE`` that touches one row twice,
  which SQLite allows (a batch with two changes to one field). ``DISTINCT ON`` keeps the
  batch's newest stamp per field first: the same winner SQLite's row-by-row upsert ends
  with, as later rows only win with a larger stamp.
"""

from collections.abc import Sequence
from typing import Any

from server.db.changes import Incoming, WinnerRow
from server.db.pg.core import LOG_CHANNEL, PgConn, PgDatabase, order_in

__all__ = ["apply", "apply_in", "max_seq", "pull", "tail", "top_in"]

INSERT_HISTORY_SQL = """
INSERT INTO history (hlc, coll, id, field, value, node, person, received_at)
SELECT hlc, coll, id, field, value, node, person, received_at
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::text[], $8::text[])
     WITH ORDINALITY AS b (hlc, coll, id, field, value, node, person, received_at, n)
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


async def apply(
    db: PgDatabase, changes: Sequence[Incoming], *, ordered: bool = True
) -> tuple[int, int]:
    """Append and merge ``changes`` in one transaction (``server.db.changes.apply``
    without the quarantine and device bookkeeping, which are not ported yet)."""

    async def run(conn: PgConn) -> tuple[int, int]:
        return await apply_in(conn, changes, ordered=ordered)

    return await db.write_fn(run, appends=ordered)


async def pull(
    db: PgDatabase,
    cursor: int,
    limit: int,
    *,
    exclude_node: str | None = None,
    exclude_after: int = 0,
) -> tuple[list[WinnerRow], int, bool]:
    """A page of field winners changed after ``cursor``, in sequence order
    (``server.db.changes.pull`` without ``scope``, whose filter is not ported yet).

    The page and the log's top come from one statement, so one snapshot: the returned
    cursor never passes a change the page did not include.

    Returns:
        (rows, new cursor, more pages waiting)
    """
    sql = "SELECT seq, coll, id, field, value, hlc FROM winners WHERE seq > $1"
    args: list[Any] = [cursor]
    if exclude_node is not None:
        sql += " AND (substr(hlc, 31) <> $2 OR seq <= $3)"
        args += [exclude_node, exclude_after]
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


async def tail(db: PgDatabase, after: int, limit: int) -> list[tuple[Any, ...]]:
    """Accepted changes with ``seq > after``, in sequence order: what the live tailer
    (``server.db.log.tail``, SSE ``Last-Event-ID``) reads."""
    return await db.read(
        "SELECT seq, coll, id, field, value, hlc FROM history WHERE seq > $1 ORDER BY seq LIMIT $2",
        (after, limit),
    )
