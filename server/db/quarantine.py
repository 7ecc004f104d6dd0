"""The quarantine: rejected changes kept with their reason for a coordinator to review.

A coordinator limited to a community sees a rejected change when it was written by one
of its people or is about a record it may read (``scopes.people_filter``,
``scopes.record_filter``).

On PostgreSQL the same statements with ``$n`` placeholders and the scope fragments'
PostgreSQL form; ``true`` for "everything" (SQLite: ``1``).
"""

from typing import Any

from server.access import Scope
from server.db import AnyDatabase, scopes

__all__ = ["listing", "resolve"]


def _within(scope: Scope | None) -> tuple[str, list[Any]]:
    if scope is None or scope.unlimited:
        return "1", []
    who, a = scopes.people_filter(scope, "q.person")
    what, b = scopes.record_filter(scope, "q.coll", "q.id")
    return f"({who} OR {what})", a + b


def _within_pg(scope: Scope | None, start: int) -> tuple[str, list[Any]]:
    if scope is None or scope.unlimited:
        return "true", []
    pg = "postgresql"
    who, a = scopes.people_filter(scope, "q.person", dialect=pg, start=start)
    what, b = scopes.record_filter(scope, "q.coll", "q.id", dialect=pg, start=start + len(a))
    return f"({who} OR {what})", a + b


async def listing(
    db: AnyDatabase, limit: int, include_resolved: bool, scope: Scope | None = None
) -> list[tuple]:
    pg = db.dialect == "postgresql"
    within, args = _within_pg(scope, 1) if pg else _within(scope)
    sql = (
        "SELECT q.qid, q.hlc, q.node, q.person, p.name, q.coll, q.id, q.field, q.raw, "
        "q.error, q.message, q.received_at, q.resolved_at FROM quarantine q "
        f"LEFT JOIN people p ON p.id = q.person WHERE {within}"
    )
    if not include_resolved:
        sql += " AND q.resolved_at IS NULL"
    sql += f" ORDER BY q.qid DESC LIMIT {f'${len(args) + 1}' if pg else '?'}"
    return await db.read(sql, (*args, limit), live=True)


async def resolve(db: AnyDatabase, qid: int, now: str, scope: Scope | None = None) -> bool:
    """Mark a rejected change as reviewed; False if there is no such unresolved change
    within ``scope``."""
    if db.dialect == "postgresql":
        within, args = _within_pg(scope, 3)
        sql = (
            "UPDATE quarantine SET resolved_at = $1 WHERE qid IN (SELECT q.qid FROM "
            f"quarantine q WHERE q.qid = $2 AND q.resolved_at IS NULL AND {within})"
        )
    else:
        within, args = _within(scope)
        sql = (
            "UPDATE quarantine SET resolved_at = ? WHERE qid IN (SELECT q.qid FROM "
            f"quarantine q WHERE q.qid = ? AND q.resolved_at IS NULL AND {within})"
        )
    return await db.write(sql, (now, qid, *args)) == 1
