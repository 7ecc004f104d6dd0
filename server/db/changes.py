"""The change log, once for both engines: appending a batch (history + the set-based
merge into winners), the quarantine of rejected changes, and the server's own writes.

Values are JSON text. The merge is one upsert guarded by the stamp, so an older change
never overwrites a newer one whatever the arrival order.

Every function here is a blocking function of a ``server.db.dialect.Conn``, run inside
the caller's transaction (``db.write_tx(..., appends=True)`` for any that appends), or
an async door over one such transaction. What the two engines do differently is said by
the connection's dialect, never by a branch here:

- ``seq`` is SQLite's rowid (``BEGIN IMMEDIATE`` lets one writer in at a time) or
  PostgreSQL's identity column; there, appends commit in ``seq`` order because
  ``write_tx(..., appends=True)`` takes the log's ordering lock first
  (``Dialect.order_in``, docs/postgresql.md, "Ordering"), and every append wakes the
  other processes' tailers at its commit (``Dialect.notify_top``).
- A stamp already in the log is a no-op (``ON CONFLICT (hlc) DO NOTHING``). PostgreSQL's
  identity would still take a value for it, so there such rows, and repeats inside the
  batch, are left out first (``Dialect.unseen``): a re-sent batch leaves no gap, and
  ``seq`` is the same on both engines. SQLite's rowid takes none: nothing to do.
- PostgreSQL refuses an upsert that touches one row twice, which SQLite allows (a batch
  with two changes to one field): there the merge takes each field's newest stamp of the
  batch (``Dialect.newest_in_batch``), the winner SQLite's row-by-row upsert ends with.
"""

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from server.db.dialect import Conn, Dialect
from server.db.interface import BaseDatabase
from sync import clock

__all__ = [
    "INSERT_HISTORY_SQL",
    "KNOWN_SQL",
    "MERGE_SQL",
    "Incoming",
    "Quarantined",
    "WinnerRow",
    "apply_in",
    "cut_page",
    "iso_now",
    "max_seq",
    "merge_sql",
    "quarantine_in",
    "stamped",
    "top_in",
    "try_write",
    "write_records",
    "write_records_in",
]

#: (hlc, coll, id, field, value_json, node, person, received_at)
Incoming = tuple[str, str, str, str, str, str, str | None, str]
#: (hlc, node, person, coll, id, field, raw, error, message, received_at)
Quarantined = tuple[
    str | None, str, str | None, str | None, str | None, str | None, str, str, str, str
]
#: (seq, coll, id, field, value_json, hlc)
WinnerRow = tuple[int, str, str, str, str, str]

#: One change into the history; a stamp already there is a no-op (``executemany``).
INSERT_HISTORY_SQL = (
    "INSERT INTO history (hlc, coll, id, field, value, node, person, received_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (hlc) DO NOTHING"
)
#: Which of a JSON list of stamps the history holds (its unique ``hlc`` index).
KNOWN_SQL = "SELECT hlc FROM history WHERE hlc IN (SELECT value FROM {each})"

#: The batch appended after ``seq`` ``?`` merged into the winners, in ``seq`` order; an
#: older stamp never overwrites a newer one. Of a field's changes in the batch, the
#: engine may need the newest only (``Dialect.newest_in_batch``: PostgreSQL refuses to
#: upsert one row twice in a statement; SQLite's row-by-row upsert ends with it anyway).
MERGE_SQL = """
INSERT INTO winners (coll, id, field, value, hlc, seq)
SELECT h.coll, h.id, h.field, h.value, h.hlc, h.seq
FROM (SELECT CAST(? AS INTEGER) AS before) AS b
JOIN history h ON h.seq > b.before
WHERE {newest}
ORDER BY h.seq
ON CONFLICT (coll, id, field) DO UPDATE
SET value = excluded.value, hlc = excluded.hlc, seq = excluded.seq
WHERE excluded.hlc > winners.hlc
"""

_TOP = "SELECT coalesce(max(seq), 0) FROM history"
#: Rejected changes kept per device; beyond, they are only counted (a bound on the disk
#: one device can fill with bad changes).
QUARANTINE_PER_DEVICE = 1000
_FULL_MESSAGE = (
    f"this device sent more rejected changes than the quarantine keeps "
    f"({QUARANTINE_PER_DEVICE}); the number not kept is in raw. Check the device: an old "
    "app version or a fault; revoke it if it is not one of yours"
)
_HELD_SQL = "SELECT count(*) FROM quarantine WHERE node = ? AND error <> 'quarantine_full'"
_FULL_SQL = (
    "INSERT INTO quarantine (hlc, node, person, raw, error, message, received_at) "
    "VALUES ('', ?, ?, ?, 'quarantine_full', ?, ?) "
    "ON CONFLICT (node, hlc, error) DO UPDATE SET "
    "raw = CAST(CAST(quarantine.raw AS INTEGER) + ? AS TEXT), "
    "message = excluded.message, received_at = excluded.received_at, "
    "resolved_at = NULL"
)
#: One rejected change unless the same one is kept already (as ``INSERT_HISTORY_SQL``:
#: ``qid`` takes the same values on both engines; NULLs never match, as in a unique index).
_QUARANTINE_SQL = (
    "INSERT INTO quarantine (hlc, node, person, coll, id, field, raw, error, message, "
    "received_at) SELECT * FROM (VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)) AS v "
    "WHERE NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.node = v.column2 "
    "AND q.hlc = v.column1 AND q.error = v.column8) "
    "ON CONFLICT DO NOTHING"
)
#: ``meta`` key of the last stamp the server gave its own writes.
SERVER_CLOCK = "server_clock"
_ANY_DRIFT = 2**62


def merge_sql(dialect: Dialect) -> str:
    """``MERGE_SQL`` for ``dialect`` (the statement ``server.db.decisions`` replays too)."""
    return MERGE_SQL.format(newest=dialect.newest_in_batch("h", "b.before"))


def top_in(conn: Conn) -> int:
    """The log's top sequence, inside the caller's transaction."""
    return int(conn.execute(_TOP).fetchone()[0])


def apply_in(conn: Conn, changes: Sequence[Incoming]) -> tuple[int, int]:
    """Append ``changes`` to the history and merge them, inside the caller's write
    transaction (``write_tx(..., appends=True)``: on PostgreSQL it holds the ordering
    lock, so this append commits in ``seq`` order).

    Returns:
        The highest server sequence before and after the write.
    """
    before = top_in(conn)
    if not changes:
        return before, before
    conn.executemany(INSERT_HISTORY_SQL, conn.dialect.unseen(conn, changes, KNOWN_SQL))
    after = top_in(conn)
    if after > before:
        conn.execute(merge_sql(conn.dialect), (before,))
        conn.dialect.notify_top(conn, after)
    return before, after


def _text(value: str | None) -> str | None:
    """A text PostgreSQL can hold: NUL, which a malformed change's raw bytes (or a string
    escaped in them) can carry, becomes U+FFFD, as undecodable bytes already do (the same
    on both engines, so both keep the same quarantine)."""
    return None if value is None else value.replace("\x00", "\ufffd")


def quarantine_in(
    conn: Conn, rejected: Sequence[Quarantined], node: str | None, at: str | None
) -> None:
    """Keep rejected changes, at most ``QUARANTINE_PER_DEVICE`` per device; beyond,
    count them in one ``quarantine_full`` entry the coordinator sees in the quarantine."""
    kept = list(rejected)
    if node is not None:
        (held,) = conn.execute(_HELD_SQL, (node,)).fetchone()
        room = max(0, QUARANTINE_PER_DEVICE - int(held))
        kept, over = kept[:room], len(kept) - room
        if over > 0:
            person = rejected[0][2]
            conn.execute(_FULL_SQL, (node, person, str(over), _FULL_MESSAGE, at or iso_now(), over))
    if kept:
        conn.executemany(_QUARANTINE_SQL, [tuple(_text(v) for v in row) for row in kept])


def try_write(conn: Conn, write: Callable[[], object]) -> bool:
    """Run ``write`` (statements on ``conn``) unless the disk is full: then undo it alone
    and keep the transaction for reading. False if it was not written."""
    conn.execute("SAVEPOINT try_write")
    try:
        write()
    except Exception as exc:
        if not conn.dialect.is_full(exc):
            raise
        conn.dialect.rollback_to(conn, "try_write")
        return False
    conn.execute("RELEASE SAVEPOINT try_write")
    return True


def cut_page(rows: list[Any], limit: int) -> tuple[list[Any], int | None, bool]:
    """A page of ``limit`` rows from ``limit + 1``: (rows, cursor if more, more)."""
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, rows[-1][0], True
    return rows, None, False


async def max_seq(db: BaseDatabase, *, live: bool = False) -> int:
    """The log's top sequence."""
    return await db.read_tx(top_in, live=live)


async def write_records(
    db: BaseDatabase,
    records: Iterable[tuple[str, str, dict[str, object]]],
    *,
    at: datetime | None = None,
) -> int:
    """Write whole records as field changes stamped by the server's own node.

    They go through the same history and merge as a device's sync, so devices pull them
    like any other change. The stamps come from one clock persisted in ``meta``, read and
    advanced in the same write transaction (which holds the log's ordering lock on
    PostgreSQL): two writes in the same millisecond — two ``doorstep assign`` processes,
    a CLI beside the server — get distinct, increasing stamps, so the later one is never
    taken for a duplicate and dropped.

    Returns:
        The number of field changes written.
    """
    records = list(records)
    return await db.write_tx(lambda conn: write_records_in(conn, records, at), appends=True)


def write_records_in(
    conn: Conn, records: Sequence[tuple[str, str, dict[str, object]]], at: datetime | None
) -> int:
    """``write_records`` inside the caller's appending write transaction."""
    from server.db import meta

    node = meta.server_node_in(conn)
    rows, state = stamped(records, node, meta.get_in(conn, SERVER_CLOCK), at)
    meta.set_in(conn, SERVER_CLOCK, state)
    apply_in(conn, rows)
    return len(rows)


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
