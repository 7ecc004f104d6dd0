"""TRANSITIONAL — the async change-log steps the asyncpg code that is still being ported
uses: ``server.db.postgresql.scopes`` (``top_in``, ``try_write``), ``syncs._exchange_pg``
and ``server.db.postgresql.decisions.replay_in``. Everything else runs the one
implementation in ``server.db.changes`` on both engines; delete this module with the
last of those callers (issue 21).

Dialect notes, beside ``server.db.changes``: the batch travels as one array per column
(``unnest``), in batch order (``WITH ORDINALITY``); stamps already in the log, and
repeats inside the batch, are left out before the insert, so ``seq`` values stay the
ones SQLite gives; ``DISTINCT ON`` keeps the batch's newest stamp per field.
"""

from collections.abc import Awaitable, Callable, Sequence

import asyncpg

from server.db.changes import (
    _FULL_MESSAGE,
    QUARANTINE_PER_DEVICE,
    Incoming,
    Quarantined,
    _text,
    iso_now,
)
from server.db.postgresql.core import LOG_CHANNEL, PgConn, order_in

__all__ = ["apply_in", "quarantine_in", "seen_in", "top_in", "try_write"]


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


async def top_in(conn: PgConn) -> int:
    """The log's top sequence, inside the caller's transaction."""
    return int(await conn.fetchval(_TOP))


async def apply_in(conn: PgConn, changes: Sequence[Incoming]) -> tuple[int, int]:
    """Append ``changes`` to the history and merge them, inside the caller's READ
    COMMITTED transaction.

    Returns:
        The highest server sequence before and after the write.
    """
    if changes:
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
    """``changes.quarantine_in``: keep rejected changes, at most
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
