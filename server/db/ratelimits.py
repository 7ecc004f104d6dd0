"""Rate-limit counters shared by every server process on the database (#14).

One row per counted attempt: ``(rule, client, at)``, ``at`` in wall-clock seconds (every
process on the machine reads the same clock). A rule's window is a range scan of the
``(rule, client, at)`` index. Checking and reserving happen in one ``BEGIN IMMEDIATE``
transaction, so a burst spread over several processes gets no more attempts in than the
limit, as one process's burst did with counters in memory. Rows older than the longest
window are deleted by ``begin`` and ``settle`` when the caller says a prune is due.

On PostgreSQL each function runs the statements of ``server.db.postgresql.ratelimits``, where an
advisory lock per (rule, client) does what ``BEGIN IMMEDIATE`` does here.
"""

import sqlite3
from collections.abc import Sequence
from typing import Any

from server.db import AnyDatabase

__all__ = ["Limit", "begin", "exhausted", "quiet", "settle"]

#: (rule name, attempts allowed, window in seconds).
Limit = tuple[str, int, float]

_COUNT = "SELECT count(*), min(at) FROM rate_hits WHERE rule = ? AND client = ? AND at > ?"
_ADD = "INSERT INTO rate_hits (rule, client, at) VALUES (?, ?, ?)"


def _first_full(
    conn: sqlite3.Connection, client: str, limits: Sequence[Limit], now: float
) -> tuple[int, float] | None:
    for i, (rule, limit, window) in enumerate(limits):
        count, oldest = conn.execute(_COUNT, (rule, client, now - window)).fetchone()
        if count >= limit:
            return i, float(oldest)
    return None


def _prune(conn: sqlite3.Connection, before: float | None) -> None:
    if before is not None:
        conn.execute("DELETE FROM rate_hits WHERE at <= ?", (before,))


async def exhausted(
    db: AnyDatabase, client: str, limits: Sequence[Limit], now: float
) -> tuple[int, float] | None:
    """(index of the first limit ``client`` has used up, its oldest attempt in the
    window), or None: a read, for rules that count at the answer."""
    if db.dialect == "postgresql":
        from server.db.postgresql import ratelimits as pg_rates

        return await pg_rates.exhausted(db, client, limits, now)
    return await db.call(lambda conn: _first_full(conn, client, limits, now))


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
    if db.dialect == "postgresql":
        from server.db.postgresql import ratelimits as pg_rates

        async def run_pg(conn: Any) -> tuple[int, float] | list[int | None]:
            await pg_rates.lock_in(conn, client, limits)
            await pg_rates.prune_in(conn, prune_before)
            full = await pg_rates.first_full_in(conn, client, limits, now)
            if full is not None:
                return full
            return [
                await pg_rates.add_in(conn, rule, client, now) if counted else None
                for (rule, _, _), counted in zip(limits, reserve, strict=True)
            ]

        return await db.write_fn(run_pg)

    def run(conn: sqlite3.Connection) -> tuple[int, float] | list[int | None]:
        _prune(conn, prune_before)
        full = _first_full(conn, client, limits, now)
        if full is not None:
            return full
        tickets: list[int | None] = []
        for (rule, _, _), counted in zip(limits, reserve, strict=True):
            tickets.append(conn.execute(_ADD, (rule, client, now)).lastrowid if counted else None)
        return tickets

    return await db.write_call(run)


async def settle(
    db: AnyDatabase,
    client: str,
    add: Sequence[str],
    give_back: Sequence[int],
    now: float,
    prune_before: float | None = None,
) -> None:
    """Count one attempt in each rule of ``add``; give back the tickets ``give_back``."""
    if db.dialect == "postgresql":
        from server.db.postgresql import ratelimits as pg_rates

        async def settle_pg(conn: Any) -> None:
            await pg_rates.prune_in(conn, prune_before)
            await pg_rates.settle_in(conn, client, add, give_back, now)

        return await db.write_fn(settle_pg)

    def run(conn: sqlite3.Connection) -> None:
        _prune(conn, prune_before)
        conn.executemany(_ADD, [(rule, client, now) for rule in add])
        conn.executemany("DELETE FROM rate_hits WHERE id = ?", [(t,) for t in give_back])

    await db.write_call(run)


async def quiet(db: AnyDatabase, limits: Sequence[Limit], now: float) -> list[str]:
    """The rules of ``limits`` with no attempt counted in their window, from any client."""
    if db.dialect == "postgresql":
        from server.db.postgresql import ratelimits as pg_rates

        return await pg_rates.quiet(db, limits, now)

    def run(conn: sqlite3.Connection) -> list[str]:
        sql = "SELECT 1 FROM rate_hits WHERE rule = ? AND at > ? LIMIT 1"
        return [
            rule
            for rule, _, window in limits
            if conn.execute(sql, (rule, now - window)).fetchone() is None
        ]

    return await db.call(run)
