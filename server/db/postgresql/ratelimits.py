"""Rate-limit counters on PostgreSQL: ``server.db.ratelimits`` for every app server of a
cluster (docs/scaling.md).

SQLite checks and takes a slot in one ``BEGIN IMMEDIATE`` transaction, so concurrent
attempts are counted one at a time. Under READ COMMITTED two transactions would both
count 4 of 5 and both take the fifth slot. So ``begin`` first takes (``lock_in``) a
transaction-scoped advisory lock per (rule, client) — keyed ``(RATE_LOCK, hash)`` in the
two-integer space, apart from the log's ``LOG_LOCK`` — and only then counts: the next
attempt of the same client waits for the commit and counts the slot just taken. Attempts
of other clients, and every write to the log, do not wait. The keys are taken in
ascending order, so two attempts that share several rules cannot deadlock.

Seconds are ``double precision`` (SQLite's ``REAL``), so windows compare exactly as on
SQLite; every limit of a call is counted by one statement (``unnest`` of the rules and
their window starts).
"""

import hashlib
from collections.abc import Sequence

from server.db.postgresql.core import PgConn, PgDatabase
from server.db.ratelimits import Limit

__all__ = [
    "RATE_LOCK",
    "add_in",
    "exhausted",
    "first_full_in",
    "lock_in",
    "lock_key",
    "prune_in",
    "quiet",
    "settle_in",
]

#: The first key of the rate limits' advisory locks: 'drat'.
RATE_LOCK = 0x64726174

# (index of the limit, attempts counted in its window, the oldest of them), in order.
_COUNTS = """
SELECT l.n, count(h.id), min(h.at)
FROM unnest($1::text[], $2::double precision[]) WITH ORDINALITY AS l (rule, since, n)
LEFT JOIN rate_hits h ON h.rule = l.rule AND h.client = $3 AND h.at > l.since
GROUP BY l.n ORDER BY l.n
"""
_ADD = "INSERT INTO rate_hits (rule, client, at) VALUES ($1, $2, $3) RETURNING id"


def lock_key(rule: str, client: str) -> int:
    """The second key of the advisory lock of (rule, client): a signed 32-bit hash, the
    same in every process (Python's ``hash`` is salted per process)."""
    digest = hashlib.blake2b(f"{rule}\0{client}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def _counts_args(client: str, limits: Sequence[Limit], now: float) -> tuple[list, list, str]:
    return (
        [rule for rule, _, _ in limits],
        [float(now - window) for _, _, window in limits],
        client,
    )


def _first_full(limits: Sequence[Limit], rows: Sequence[Sequence]) -> tuple[int, float] | None:
    for i, ((_, limit, _), (_, count, oldest)) in enumerate(zip(limits, rows, strict=True)):
        if count >= limit:
            return i, float(oldest)
    return None


async def prune_in(conn: PgConn, before: float | None) -> None:
    """``ratelimits._prune``."""
    if before is not None:
        await conn.execute("DELETE FROM rate_hits WHERE at <= $1", float(before))


async def exhausted(
    db: PgDatabase, client: str, limits: Sequence[Limit], now: float
) -> tuple[int, float] | None:
    """``server.db.ratelimits.exhausted``: one statement, one snapshot."""
    if not limits:
        return None
    return _first_full(limits, await db.read(_COUNTS, _counts_args(client, limits, now)))


async def lock_in(conn: PgConn, client: str, limits: Sequence[Limit]) -> None:
    """Take the (rule, client) locks of ``limits`` for the transaction (``begin``)."""
    keys = sorted({lock_key(rule, client) for rule, _, _ in limits})
    # Ascending keys (unnest keeps the array's order): no two attempts deadlock.
    await conn.execute(
        "SELECT count(pg_advisory_xact_lock($1, k)) FROM unnest($2::integer[]) AS k",
        RATE_LOCK,
        keys,
    )


async def first_full_in(
    conn: PgConn, client: str, limits: Sequence[Limit], now: float
) -> tuple[int, float] | None:
    """``exhausted`` inside the caller's transaction (after ``lock_in``)."""
    return _first_full(limits, await conn.fetch(_COUNTS, *_counts_args(client, limits, now)))


async def add_in(conn: PgConn, rule: str, client: str, now: float) -> int:
    """Count one attempt; its ticket (the row's id)."""
    return await conn.fetchval(_ADD, rule, client, float(now))


async def settle_in(
    conn: PgConn, client: str, add: Sequence[str], give_back: Sequence[int], now: float
) -> None:
    """``server.db.ratelimits.settle`` after the prune: no lock, as it only adds and
    gives back."""
    if add:
        await conn.execute(
            "INSERT INTO rate_hits (rule, client, at) SELECT r, $2, $3 "
            "FROM unnest($1::text[]) WITH ORDINALITY AS a (r, n) ORDER BY n",
            list(add),
            client,
            float(now),
        )
    if give_back:
        await conn.execute("DELETE FROM rate_hits WHERE id = ANY($1::bigint[])", list(give_back))


async def quiet(db: PgDatabase, limits: Sequence[Limit], now: float) -> list[str]:
    """``server.db.ratelimits.quiet``: one statement for every rule."""
    if not limits:
        return []
    rows = await db.read(
        "SELECT l.rule FROM unnest($1::text[], $2::double precision[]) WITH ORDINALITY "
        "AS l (rule, since, n) WHERE NOT EXISTS (SELECT 1 FROM rate_hits h "
        "WHERE h.rule = l.rule AND h.at > l.since) ORDER BY l.n",
        ([rule for rule, _, _ in limits], [float(now - window) for _, _, window in limits]),
    )
    return [r[0] for r in rows]
