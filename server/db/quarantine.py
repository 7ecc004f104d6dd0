"""The quarantine: rejected changes kept with their reason for a coordinator to review.

A coordinator limited to a community sees a rejected change when it was written by one
of its people or is about a record it may read (``scopes.people_filter``,
``scopes.record_filter``). One blocking function of a ``Conn`` per question, the same
on both engines.
"""

from typing import Any

from server.access import Scope
from server.db import AnyDatabase, scopes
from server.db.dialect import Conn

__all__ = ["listing", "listing_in", "resolve", "resolve_in"]

_LISTING = (
    "SELECT q.qid, q.hlc, q.node, q.person, p.name, q.coll, q.id, q.field, q.raw, "
    "q.error, q.message, q.received_at, q.resolved_at FROM quarantine q "
    "LEFT JOIN people p ON p.id = q.person WHERE {within}{open} ORDER BY q.qid DESC LIMIT ?"
)
_RESOLVE = (
    "UPDATE quarantine SET resolved_at = ? WHERE qid IN (SELECT q.qid FROM "
    "quarantine q WHERE q.qid = ? AND q.resolved_at IS NULL AND {within})"
)


def _within(conn: Conn, scope: Scope | None) -> tuple[str, list[Any]]:
    if scope is None or scope.unlimited:
        return "1 = 1", []
    who, a = scopes.people_filter(scope, "q.person", conn.dialect)
    what, b = scopes.record_filter(scope, "q.coll", "q.id", conn.dialect)
    return f"({who} OR {what})", a + b


def listing_in(
    conn: Conn, limit: int, include_resolved: bool, scope: Scope | None = None
) -> list[tuple]:
    """The newest ``limit`` rejected changes within ``scope``, the resolved ones too if
    ``include_resolved``."""
    within, args = _within(conn, scope)
    open_only = "" if include_resolved else " AND q.resolved_at IS NULL"
    sql = _LISTING.format(within=within, open=open_only)
    return [tuple(r) for r in conn.execute(sql, (*args, limit))]


def resolve_in(conn: Conn, qid: int, now: str, scope: Scope | None = None) -> bool:
    """``resolve`` inside the caller's write transaction."""
    within, args = _within(conn, scope)
    return conn.execute(_RESOLVE.format(within=within), (now, qid, *args)).rowcount == 1


async def listing(
    db: AnyDatabase, limit: int, include_resolved: bool, scope: Scope | None = None
) -> list[tuple]:
    return await db.read_tx(
        lambda conn: listing_in(conn, limit, include_resolved, scope), live=True
    )


async def resolve(db: AnyDatabase, qid: int, now: str, scope: Scope | None = None) -> bool:
    """Mark a rejected change as reviewed; False if there is no such unresolved change
    within ``scope``."""
    return await db.write_tx(lambda conn: resolve_in(conn, qid, now, scope))
