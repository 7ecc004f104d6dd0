"""One sync request's database work, in one trip to the database thread (#10).

A volunteer's sync used to make 18 round trips between the event loop and the database
thread and load its scope three times. Here the whole of it is one blocking function, the
same on both engines, run on a worker thread inside one write transaction
(``db.write_tx``):

1. the device's scope, from the cache while the scope sequence has not moved
   (``scopes.scope_in``);
2. which valid changes it may write (``scopes.authorise_in``), and of those, which fit
   the device's write budget (``budgets.spend_in``);
3. the batch: history, the set-based merge, the quarantine, ``last_seen`` and the
   ``pending`` count the phone reported, with pre-built statements;
4. the scope again if this very batch moved the scope sequence, then the pull page and
   what the device must delete (``scopes.pull_in``).

A disk that fills up fails a batch with changes (507, nothing saved); a pull alone still
answers (only ``last_seen`` and the scope snapshot are not saved).

SQLite's write transaction is ``BEGIN IMMEDIATE``: one sync at a time per database. On
PostgreSQL only what needs it is serialised, by the log's ordering lock taken as the
first statement (docs/postgresql.md, "Ordering", rule 2):

- a batch with valid changes may append to the log: the lock exclusively
  (``write_tx(..., appends=True)``), so its seq values commit in order and the page it
  answers with sees the log as it left it;
- a pull, or a batch of invalid changes only (quarantine, ``last_seen``): the lock
  shared (``Dialect.shared_order_in``; nothing on SQLite). Such syncs run side by side,
  and no append commits in the middle of one, so under READ COMMITTED its scope,
  evictions and page read one state of the log — what SQLite's single transaction
  gives — without making the pulls of a reconnect storm wait for each other.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from server.db import budgets, changes, scopes
from server.db.changes import Incoming, Quarantined, WinnerRow
from server.db.devices import Device
from server.db.dialect import Conn
from server.db.interface import BaseDatabase
from sync.validate import ForbiddenError

__all__ = ["Outcome", "exchange"]

_PENDING_SQL = "UPDATE devices SET last_seen = ?, pending = ?, pending_at = ? WHERE node = ?"
_SEEN_SQL = "UPDATE devices SET last_seen = ? WHERE node = ?"

#: (index in the request, raw change, why it is forbidden) → its quarantine row.
Refusal = Callable[[int, Any, ForbiddenError], Quarantined]


@dataclass(slots=True)
class Outcome:
    """What one sync did and what it answers."""

    accepted: int
    denied: list[tuple[int, Any, ForbiddenError]]
    rows: list[WinnerRow]
    cursor: int
    more: bool
    evict: list[tuple[str, str]]
    token: str


async def exchange(
    db: BaseDatabase,
    device: Device,
    good: list[Incoming],
    sources: list[tuple[int, msgspec.Raw | Any]],
    bad: list[Quarantined],
    refuse: Refusal,
    *,
    pending: int | None,
    cursor: int,
    limit: int,
    held: str | None,
    at: str,
) -> Outcome:
    """Authorise, write and pull for one sync request of ``device``, in one transaction.

    Args:
        good: valid changes as history rows; ``sources`` their (index, raw change).
        bad: the quarantine rows of the changes already rejected as invalid.
        refuse: makes the quarantine row of a change refused by the access rules.
        pending: entries the phone still holds after this batch (None: not reported).
        cursor, limit, held: the pull's cursor, page size and the scope token held.
        at: the time of receipt (ISO).

    Raises:
        StorageFullError: the disk is full and the batch had changes to keep.
    """
    cache = db.scope_cache

    def run(conn: Conn) -> Outcome:
        if not good:
            conn.dialect.shared_order_in(conn)
        scope = scopes.scope_in(conn, device.person, device.role, cache)
        allowed, denied = scopes.authorise_in(conn, scope, good, sources)
        spent = budgets.spend_in(conn, device.node, allowed)
        allowed, denied = _over_budget(good, sources, allowed, spent, denied)
        rejected = [*bad, *(refuse(i, raw, exc) for i, raw, exc in denied)]
        top: int | None = None

        def write() -> None:
            nonlocal top
            top = record_in(conn, device.node, allowed, rejected, pending=pending, at=at)

        if allowed or rejected:
            write()  # a full disk fails the whole request: nothing was saved
        else:
            changes.try_write(conn, write)
        rows, new_cursor, more, evict, token = scopes.pull_in(
            conn, device, cursor, limit, held, at, top=top, cache=cache
        )
        return Outcome(len(allowed), denied, rows, new_cursor, more, evict, token)

    return await db.write_tx(run, appends=bool(good))


def record_in(
    conn: Conn,
    node: str,
    allowed: list[Incoming],
    rejected: list[Quarantined],
    *,
    pending: int | None,
    at: str,
) -> int:
    """The write-path part of a sync, inside its transaction: append and merge the
    ``allowed`` changes, keep the ``rejected`` ones, and the device's ``last_seen`` (and
    the ``pending`` count the phone reported). Returns the log's top before the append."""
    top, _ = changes.apply_in(conn, allowed)
    if rejected:
        changes.quarantine_in(conn, rejected, node, at)
    if pending is None:
        conn.execute(_SEEN_SQL, (at, node))
    else:
        conn.execute(_PENDING_SQL, (at, pending, at, node))
    return top


def _over_budget(
    good: list[Incoming],
    sources: list[tuple[int, Any]],
    allowed: list[Incoming],
    spent: tuple[list[Incoming], list[int]],
    denied: list[tuple[int, Any, ForbiddenError]],
) -> tuple[list[Incoming], list[tuple[int, Any, ForbiddenError]]]:
    """The changes within the device's write budget (``budgets.spend_in``), and the
    refusals with those over it added (``over_budget``), in request order."""
    kept, over = spent
    if not over:
        return kept, denied
    where = {id(row): source for row, source in zip(good, sources, strict=True)}
    exc = budgets.refusal(time.time())
    extra = [(*where[id(allowed[i])], exc) for i in over]
    return kept, sorted([*denied, *extra], key=lambda d: d[0])
