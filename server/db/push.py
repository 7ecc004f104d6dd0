"""Web Push subscriptions of residents' browsers, and which notifications were sent."""

from dataclasses import dataclass

from server.db.core import Database

__all__ = ["PushSub", "add", "claim", "failed", "remove", "subs"]


@dataclass(frozen=True, slots=True)
class PushSub:
    endpoint: str
    p256dh: str
    auth: str


async def add(db: Database, incident: str, sub: PushSub, now: str) -> None:
    await db.write(
        "INSERT INTO push_subs (endpoint, incident, p256dh, auth, created_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (endpoint) DO UPDATE SET "
        "incident = excluded.incident, p256dh = excluded.p256dh, auth = excluded.auth, "
        "failures = 0",
        (sub.endpoint, incident, sub.p256dh, sub.auth, now),
    )


async def remove(db: Database, endpoint: str, incident: str | None = None) -> bool:
    sql, args = "DELETE FROM push_subs WHERE endpoint = ?", [endpoint]
    if incident is not None:
        sql += " AND incident = ?"
        args.append(incident)
    return await db.write(sql, args) == 1


async def subs(db: Database, incident: str) -> list[PushSub]:
    rows = await db.read(
        "SELECT endpoint, p256dh, auth FROM push_subs WHERE incident = ?", (incident,), live=True
    )
    return [PushSub(*r) for r in rows]


async def failed(db: Database, endpoint: str, gone: bool) -> None:
    if gone:
        await remove(db, endpoint)
    else:
        await db.write(
            "UPDATE push_subs SET failures = failures + 1 WHERE endpoint = ?", (endpoint,)
        )


async def claim(db: Database, key: str, incident: str, now: str) -> bool:
    """True for exactly one caller per key, across processes."""
    return (
        await db.write(
            "INSERT OR IGNORE INTO push_sent (key, incident, sent_at) VALUES (?, ?, ?)",
            (key, incident, now),
        )
        == 1
    )
