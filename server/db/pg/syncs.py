"""One sync request's database work on PostgreSQL: ``server.db.syncs.exchange``'s twin.

The same steps as on SQLite (scope, authorisation, the batch, the quarantine, the
device's bookkeeping, the pull page and the evictions) in ONE transaction, so a sync
gives the same ``Outcome`` on both backends (``tests/test_pg_sync_path.py``).

On SQLite the transaction is ``BEGIN IMMEDIATE``: one sync at a time per database. Here
only what needs it is serialised, by the log's ordering lock taken as the first statement
(docs/postgresql.md, "Ordering", rule 2):

- a batch with valid changes may append to the log: the lock exclusively
  (``write_fn(..., appends=True)``), so its seq values commit in order and the page it
  answers with sees the log as it left it;
- a pull, or a batch of invalid changes only (quarantine, ``last_seen``): the lock
  shared (``scopes.shared_order_in``). Such syncs run side by side, and no append
  commits in the middle of one, so under READ COMMITTED its scope, evictions and page
  read one state of the log — what SQLite's single transaction gives — without making
  the pulls of a reconnect storm wait for each other.
"""

from typing import Any

import msgspec

from server.db.changes import Incoming, Quarantined
from server.db.devices import Device
from server.db.pg import changes, scopes
from server.db.pg.core import PgConn, PgDatabase
from server.db.syncs import Outcome, Refusal

__all__ = ["exchange"]

_PENDING_SQL = "UPDATE devices SET last_seen = $1, pending = $2, pending_at = $3 WHERE node = $4"


async def exchange(
    db: PgDatabase,
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
    """``syncs.exchange``: authorise, write and pull for one sync, in one transaction.

    Raises:
        StorageFullError: the disk is full and the batch had changes to keep.
    """
    cache = db.scope_cache

    async def run(conn: PgConn) -> Outcome:
        if not good:
            await scopes.shared_order_in(conn)
        scope = await scopes.scope_in(conn, device.person, device.role, cache)
        allowed, denied = await scopes.authorise_in(conn, scope, good, sources)
        rejected = [*bad, *(refuse(i, raw, exc) for i, raw, exc in denied)]
        top: int | None = None

        async def write() -> None:
            nonlocal top
            top, _ = await changes.apply_in(conn, allowed)
            if rejected:
                await changes.quarantine_in(conn, rejected, device.node, at)
            if pending is None:
                await changes.seen_in(conn, device.node, at)
            else:
                await conn.execute(_PENDING_SQL, at, pending, at, device.node)

        if allowed or rejected:
            await write()  # a full disk fails the whole request: nothing was saved
        else:
            await changes.try_write(conn, write)
        rows, new_cursor, more, evict, token = await scopes.pull_in(
            conn, device, cursor, limit, held, at, top=top, cache=cache
        )
        return Outcome(len(allowed), denied, rows, new_cursor, more, evict, token)

    return await db.write_fn(run, appends=bool(good))
