"""The change log: writing a batch (history + set-based merge into winners) and pulling.

Values are JSON text. The merge is one upsert guarded by the stamp, so an older change
never overwrites a newer one whatever the arrival order.
"""

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from server.db.sqlite.engine import BaseDatabase, Conn, Database
from sync import clock

__all__ = [
    "INSERT_HISTORY_SQL",
    "MERGE_SQL",
    "Incoming",
    "Quarantined",
    "WinnerRow",
    "apply",
    "apply_in",
    "apply_sync",
    "cut_page",
    "iso_now",
    "max_seq",
    "pull",
    "quarantine_sync",
    "stamped",
    "top_in",
    "try_write",
    "write_records",
]

#: (hlc, coll, id, field, value_json, node, person, received_at)
Incoming = tuple[str, str, str, str, str, str, str | None, str]
#: (hlc, node, person, coll, id, field, raw, error, message, received_at)
Quarantined = tuple[
    str | None, str, str | None, str | None, str | None, str | None, str, str, str, str
]
#: (seq, coll, id, field, value_json, hlc)
WinnerRow = tuple[int, str, str, str, str, str]

MERGE_SQL = """
INSERT INTO winners (coll, id, field, value, hlc, seq)
SELECT coll, id, field, value, hlc, seq FROM history WHERE seq > ? ORDER BY seq
ON CONFLICT (coll, id, field) DO UPDATE
SET value = excluded.value, hlc = excluded.hlc, seq = excluded.seq
WHERE excluded.hlc > winners.hlc
"""

INSERT_HISTORY_SQL = (
    "INSERT OR IGNORE INTO history (hlc, coll, id, field, value, node, person, received_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)

_TOP = "SELECT coalesce(max(seq), 0) FROM history"
#: Rejected changes kept per device; beyond, they are only counted (a bound on the disk
#: one device can fill with bad changes).
QUARANTINE_PER_DEVICE = 1000
_FULL_MESSAGE = (
    f"this device sent more rejected changes than the quarantine keeps "
    f"({QUARANTINE_PER_DEVICE}); the number not kept is in raw. Check the device: an old "
    "app version or a fault; revoke it if it is not one of yours"
)
_HELD_SQL = "SELECT count(*) FROM quarantine WHERE node = ? AND error != 'quarantine_full'"
_FULL_SQL = (
    "INSERT INTO quarantine (hlc, node, person, raw, error, message, received_at) "
    "VALUES ('', ?, ?, ?, 'quarantine_full', ?, ?) "
    "ON CONFLICT (node, hlc, error) DO UPDATE SET "
    "raw = CAST(CAST(quarantine.raw AS INTEGER) + ? AS TEXT), "
    "message = excluded.message, received_at = excluded.received_at, "
    "resolved_at = NULL"
)
_QUARANTINE_SQL = (
    "INSERT OR IGNORE INTO quarantine (hlc, node, person, coll, id, "
    "field, raw, error, message, received_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
#: ``meta`` key of the last stamp the server gave its own writes.
SERVER_CLOCK = "server_clock"
_ANY_DRIFT = 2**62


async def apply_in(conn: Conn, changes: Sequence[Incoming]) -> tuple[int, int]:
    """Append ``changes`` to the history and merge them, inside the caller's transaction.

    Returns:
        The highest server sequence before and after the write.
    """
    [(before,)] = await conn.execute_fetchall(_TOP)
    if changes:
        await conn.executemany(INSERT_HISTORY_SQL, changes)
        await conn.execute(MERGE_SQL, (before,))
    [(after,)] = await conn.execute_fetchall(_TOP)
    return int(before), int(after)


def top_in(conn: sqlite3.Connection) -> int:
    """The log's top sequence, inside the caller's transaction."""
    return int(conn.execute(_TOP).fetchone()[0])


def apply_sync(conn: sqlite3.Connection, changes: Sequence[Incoming]) -> tuple[int, int]:
    """``apply_in`` for a blocking connection in the database thread (one sync request's
    transaction, ``server.db.syncs``): the same pre-built statements."""
    before = top_in(conn)
    if changes:
        conn.executemany(INSERT_HISTORY_SQL, changes)
        conn.execute(MERGE_SQL, (before,))
    return before, top_in(conn)


def quarantine_sync(
    conn: sqlite3.Connection, rejected: Sequence[Quarantined], node: str, at: str
) -> None:
    """``_quarantine`` for a blocking connection (same bound, same statements)."""
    (held,) = conn.execute(_HELD_SQL, (node,)).fetchone()
    room = max(0, QUARANTINE_PER_DEVICE - int(held))
    kept, over = list(rejected)[:room], len(rejected) - room
    if over > 0:
        conn.execute(_FULL_SQL, (node, rejected[0][2], str(over), _FULL_MESSAGE, at, over))
    if kept:
        conn.executemany(_QUARANTINE_SQL, kept)


def try_write(conn: sqlite3.Connection, write: Callable[[], object]) -> bool:
    """Run ``write`` (statements on ``conn``) unless the disk is full: then undo it alone
    and keep the transaction for reading. False if it was not written."""
    conn.execute("SAVEPOINT try_write")
    try:
        write()
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_FULL:
            raise
        if conn.in_transaction:
            conn.execute("ROLLBACK TO try_write")
            conn.execute("RELEASE try_write")
        else:
            conn.execute("BEGIN")
        return False
    conn.execute("RELEASE try_write")
    return True


async def apply(
    db: BaseDatabase,
    changes: Sequence[Incoming],
    rejected: Sequence[Quarantined] = (),
    *,
    node: str | None = None,
    seen_at: str | None = None,
) -> tuple[int, int]:
    """Record a sync request's accepted and rejected changes in one transaction.

    Returns:
        The highest server sequence before and after the write.
    """
    if db.dialect == "postgresql":
        from server.db.postgresql import changes as pg_changes

        return await pg_changes.apply(db, changes, rejected, node=node, seen_at=seen_at)
    assert isinstance(db, Database)

    async def run(conn: Conn) -> tuple[int, int]:
        after = await apply_in(conn, changes)
        if rejected:
            await _quarantine(conn, rejected, node, seen_at)
        if node is not None:
            await conn.execute("UPDATE devices SET last_seen = ? WHERE node = ?", (seen_at, node))
        return after

    return await db.write_fn(run)


async def _quarantine(
    conn: Conn, rejected: Sequence[Quarantined], node: str | None, at: str | None
) -> None:
    """Keep rejected changes, at most ``QUARANTINE_PER_DEVICE`` per device; beyond, count
    them in one ``quarantine_full`` entry the coordinator sees in the quarantine."""
    kept = list(rejected)
    if node is not None:
        [(held,)] = await conn.execute_fetchall(_HELD_SQL, (node,))
        room = max(0, QUARANTINE_PER_DEVICE - int(held))
        kept, over = kept[:room], len(kept) - room
        if over > 0:
            person = rejected[0][2]
            await conn.execute(
                _FULL_SQL, (node, person, str(over), _FULL_MESSAGE, at or iso_now(), over)
            )
    if kept:
        await conn.executemany(_QUARANTINE_SQL, kept)


async def pull(
    db: BaseDatabase,
    cursor: int,
    limit: int,
    *,
    exclude_node: str | None = None,
    exclude_after: int = 0,
    scope: tuple[str, Sequence[Any]] | None = None,
) -> tuple[list[WinnerRow], int, bool]:
    """A page of field winners changed after ``cursor``, in sequence order.

    Winners last written by ``exclude_node`` after ``exclude_after`` are skipped: that
    device has them.
    ``scope`` is a WHERE fragment and its arguments from ``server.db.scopes.pull_filter``:
    only what the device may read (on PostgreSQL numbered from ``$1``:
    ``pull_filter(s, dialect=db.dialect)``). The page and the log's top sequence come
    from one statement, so one snapshot: the returned cursor never passes a change the
    page did not include.

    Returns:
        (rows, new cursor, more pages waiting)
    """
    if db.dialect == "postgresql":
        from server.db.postgresql import changes as pg_changes

        return await pg_changes.pull(
            db,
            cursor,
            limit,
            exclude_node=exclude_node,
            exclude_after=exclude_after,
            scope=scope,
        )
    assert isinstance(db, Database)
    sql = "SELECT seq, coll, id, field, value, hlc FROM winners WHERE seq > ?"
    args: list[Any] = [cursor]
    if exclude_node is not None:
        sql += " AND (substr(hlc, 31) != ? OR seq <= ?)"
        args += [exclude_node, exclude_after]
    if scope is not None:
        sql += f" AND {scope[0]}"
        args.extend(scope[1])
    sql += " ORDER BY seq LIMIT ?"
    args.append(limit + 1)
    # The top row always exists; an empty page leaves one row of NULLs beside it.
    both = await db.read(
        "SELECT p.*, t.top FROM (SELECT coalesce(max(seq), 0) AS top FROM history) AS t "
        f"LEFT JOIN ({sql}) AS p ON 1 "
        "ORDER BY p.seq",
        args,
    )
    rows, new_cursor, more = cut_page([tuple(r[:6]) for r in both if r[0] is not None], limit)
    return rows, max(cursor, both[0][6]) if new_cursor is None else new_cursor, more


def cut_page(rows: list[Any], limit: int) -> tuple[list[Any], int | None, bool]:
    """A page of ``limit`` rows from ``limit + 1``: (rows, cursor if more, more)."""
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, rows[-1][0], True
    return rows, None, False


async def max_seq(db: BaseDatabase, *, live: bool = False) -> int:
    if db.dialect == "postgresql":
        from server.db.postgresql import changes as pg_changes

        return await pg_changes.max_seq(db)
    assert isinstance(db, Database)
    rows = await db.read(_TOP, live=live)
    return int(rows[0][0])


async def write_records(
    db: BaseDatabase,
    records: Iterable[tuple[str, str, dict[str, object]]],
    *,
    at: datetime | None = None,
) -> int:
    """Write whole records as field changes stamped by the server's own node.

    They go through the same history and merge as a device's sync, so devices pull them
    like any other change. The stamps come from one clock persisted in ``meta``, read and
    advanced in the same write transaction: two writes in the same millisecond — two
    ``doorstep assign`` processes, a CLI beside the server — get distinct, increasing
    stamps, so the later one is never taken for a duplicate and dropped.

    Returns:
        The number of field changes written.
    """
    if db.dialect == "postgresql":
        from server.db.postgresql import changes as pg_changes

        return await pg_changes.write_records(db, records, at=at)
    assert isinstance(db, Database)
    from server.db import meta

    records = list(records)

    async def run(conn: Conn) -> int:
        node = await meta.server_node_in(conn)
        rows, state = stamped(records, node, await meta.get_in(conn, SERVER_CLOCK), at)
        await meta.set_in(conn, SERVER_CLOCK, state)
        await apply_in(conn, rows)
        return len(rows)

    return await db.write_fn(run)


def stamped(
    records: Sequence[tuple[str, str, dict[str, object]]],
    node: str,
    last: str | None,
    at: datetime | None,
) -> tuple[list[Incoming], str]:
    """The field changes of ``records`` stamped by the server's clock (``last``, its
    stored stamp, or a new one for ``node``), and the clock's new stamp to store: the
    part of ``write_records`` both backends share."""
    state = clock.parse(last) if last else clock.initial(node)
    if state.node != node:
        state = clock.Timestamp(state.millis, state.counter, node)
    now_ms = int((at or datetime.now(UTC)).timestamp() * 1000)
    received = iso_now()
    rows: list[Incoming] = []
    for coll, rid, fields in records:
        for field, value in fields.items():
            if state.counter >= clock.MAX_COUNTER - 1:
                now_ms = max(now_ms, state.millis + 1)
            # The server's clock may run ahead of ``at`` (a write dated in the past
            # after one dated now): it only has to be unique and increasing.
            state = clock.send(state, now_ms, max_drift=_ANY_DRIFT)
            rows.append(
                (
                    clock.format_stamp(state),
                    coll,
                    rid,
                    field,
                    msgspec.json.encode(value).decode(),
                    node,
                    None,
                    received,
                )
            )
    return rows, clock.format_stamp(state)


def iso_now(at: datetime | None = None) -> str:
    at = at or datetime.now(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
