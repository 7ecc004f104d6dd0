"""Rate-limit counters shared by every server process on the database (#14).

One row per counted attempt: ``(rule, client, at)``, ``at`` in wall-clock seconds (every
process on the machine reads the same clock). A rule's window is a range scan of the
``(rule, client, at)`` index. Checking and reserving happen in one ``BEGIN IMMEDIATE``
transaction, so a burst spread over several processes gets no more attempts in than the
limit, as one process's burst did with counters in memory. Rows older than the longest
window are deleted by ``begin`` and ``settle`` when the caller says a prune is due.

On PostgreSQL (several app servers, READ COMMITTED) ``begin`` first takes a lock per
(rule, client) (``Dialect.rate_lock_in``), which does what ``BEGIN IMMEDIATE`` does here:
the next attempt of the same client waits for the commit and counts the slot just taken.
"""

from collections.abc import Sequence
from typing import Any

from server.db import AnyDatabase

__all__ = ["Limit", "begin", "exhausted", "quiet", "settle"]

#: (rule name, attempts allowed, window in seconds).
Limit = tuple[str, int, float]

_COUNT = "SELECT count(*), min(at) FROM rate_hits WHERE rule = ? AND client = ? AND at > ?"
_ADD = "INSERT INTO rate_hits (rule, client, at) VALUES (?, ?, ?)"


def _first_full(
    conn: Any, client: str, limits: Sequence[Limit], now: float
) -> tuple[int, float] | None:
    for i, (rule, limit, window) in enumerate(limits):
        count, oldest = conn.execute(_COUNT, (rule, client, float(now - window))).fetchone()
        if count >= limit:
            return i, float(oldest)
    return None


def _prune(conn: Any, before: float | None) -> None:
    if before is not None:
        conn.execute("DELETE FROM rate_hits WHERE at <= ?", (float(before),))


async def exhausted(
    db: AnyDatabase, client: str, limits: Sequence[Limit], now: float
) -> tuple[int, float] | None:
    """(index of the first limit ``client`` has used up, its oldest attempt in the
    window), or None: a read, for rules that count at the answer."""
    return await db.read_tx(lambda conn: _first_full(conn, client, limits, now))


def _begin_in(
    conn: Any,
    client: str,
    limits: Sequence[Limit],
    reserve: Sequence[bool],
    now: float,
    prune_before: float | None,
) -> tuple[int, float] | list[int | None]:
    conn.dialect.rate_lock_in(conn, client, [rule for rule, _, _ in limits])
    _prune(conn, prune_before)
    full = _first_full(conn, client, limits, now)
    if full is not None:
        return full
    tickets: list[int | None] = []
    for (rule, _, _), counted in zip(limits, reserve, strict=True):
        if counted:
            row = conn.execute(f"{_ADD} RETURNING id", (rule, client, float(now))).fetchone()
            tickets.append(int(row[0]))
        else:
            tickets.append(None)
    return tickets


async def begin(
    db: AnyDatabase,
    client: str,
    limits: Sequence[Limit],
    reserve: Sequence[bool],
    now: float,
    prune_before: float | None = None,
) -> tuple[int, float] | list[int | None]:
    """Check ``limits`` and count the attempt in those that ``reserve``, atomically.

    Returns:
        (index of the used-up limit, its oldest attempt), or one ticket per limit: the
        id of the counted attempt (to give back with ``settle``), None where not counted.
    """
    return await db.write_tx(
        lambda conn: _begin_in(conn, client, limits, reserve, now, prune_before)
    )


def _settle_in(
    conn: Any,
    client: str,
    add: Sequence[str],
    give_back: Sequence[int],
    now: float,
    prune_before: float | None,
) -> None:
    # No lock: it only adds and gives back.
    _prune(conn, prune_before)
    if add:
        conn.executemany(_ADD, [(rule, client, float(now)) for rule in add])
    if give_back:
        conn.executemany("DELETE FROM rate_hits WHERE id = ?", [(t,) for t in give_back])


async def settle(
    db: AnyDatabase,
    client: str,
    add: Sequence[str],
    give_back: Sequence[int],
    now: float,
    prune_before: float | None = None,
) -> None:
    """Count one attempt in each rule of ``add``; give back the tickets ``give_back``."""
    await db.write_tx(lambda conn: _settle_in(conn, client, add, give_back, now, prune_before))


def _quiet_in(conn: Any, limits: Sequence[Limit], now: float) -> list[str]:
    sql = "SELECT 1 FROM rate_hits WHERE rule = ? AND at > ? LIMIT 1"
    return [
        rule
        for rule, _, window in limits
        if conn.execute(sql, (rule, float(now - window))).fetchone() is None
    ]


async def quiet(db: AnyDatabase, limits: Sequence[Limit], now: float) -> list[str]:
    """The rules of ``limits`` with no attempt counted in their window, from any client."""
    return await db.read_tx(lambda conn: _quiet_in(conn, limits, now))
