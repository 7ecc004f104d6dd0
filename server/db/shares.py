"""Residents' links: one unguessable token per incident."""

from server.db import AnyDatabase

__all__ = ["add", "incident_exists", "incident_of", "of_incident"]


async def of_incident(db: AnyDatabase, incident: str) -> str | None:
    """The incident's live share token, if it has one."""
    rows = await db.select(
        "SELECT token FROM shares WHERE incident = ? AND revoked_at IS NULL "
        "ORDER BY created_at LIMIT 1",
        (incident,),
        live=True,
    )
    return rows[0][0] if rows else None


async def add(db: AnyDatabase, token: str, incident: str, person: str | None, now: str) -> None:
    await db.execute(
        "INSERT INTO shares (token, incident, created_at, created_by) VALUES (?, ?, ?, ?)",
        (token, incident, now, person),
    )


async def incident_of(db: AnyDatabase, token: str) -> str | None:
    rows = await db.select(
        "SELECT incident FROM shares WHERE token = ? AND revoked_at IS NULL", (token,), live=True
    )
    return rows[0][0] if rows else None


async def incident_exists(db: AnyDatabase, incident: str) -> bool:
    rows = await db.select(
        "SELECT 1 FROM winners WHERE coll = 'incidents' AND id = ? LIMIT 1", (incident,), live=True
    )
    return bool(rows)
