"""Residents' links: one unguessable token per incident (both backends: the statements
differ only in their placeholders, ``pg.adapt.dialects``)."""

from server.db import AnyDatabase
from server.db.postgresql.adapt import dialects

__all__ = ["add", "incident_exists", "incident_of", "of_incident"]


_SQL = {
    "of_incident": dialects(
        "SELECT token FROM shares WHERE incident = ? AND revoked_at IS NULL "
        "ORDER BY created_at LIMIT 1"
    ),
    "add": dialects(
        "INSERT INTO shares (token, incident, created_at, created_by) VALUES (?, ?, ?, ?)"
    ),
    "incident_of": dialects("SELECT incident FROM shares WHERE token = ? AND revoked_at IS NULL"),
    "incident_exists": dialects(
        "SELECT 1 FROM winners WHERE coll = 'incidents' AND id = ? LIMIT 1"
    ),
}


async def of_incident(db: AnyDatabase, incident: str) -> str | None:
    """The incident's live share token, if it has one."""
    rows = await db.read(_SQL["of_incident"][db.dialect], (incident,), live=True)
    return rows[0][0] if rows else None


async def add(db: AnyDatabase, token: str, incident: str, person: str | None, now: str) -> None:
    await db.write(_SQL["add"][db.dialect], (token, incident, now, person))


async def incident_of(db: AnyDatabase, token: str) -> str | None:
    rows = await db.read(_SQL["incident_of"][db.dialect], (token,), live=True)
    return rows[0][0] if rows else None


async def incident_exists(db: AnyDatabase, incident: str) -> bool:
    rows = await db.read(_SQL["incident_exists"][db.dialect], (incident,), live=True)
    return bool(rows)
