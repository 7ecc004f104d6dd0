"""Web Push subscriptions of residents' browsers, and which notifications were sent."""

from dataclasses import dataclass

from server.db import AnyDatabase

__all__ = ["PushSub", "add", "claim", "failed", "remove", "subs"]


@dataclass(frozen=True, slots=True)
class PushSub:
    endpoint: str
    p256dh: str
    auth: str


async def add(db: AnyDatabase, incident: str, sub: PushSub, now: str) -> None:
    await db.execute(
        "INSERT INTO push_subs (endpoint, incident, p256dh, auth, created_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (endpoint) DO UPDATE SET "
        "incident = excluded.incident, p256dh = excluded.p256dh, auth = excluded.auth, "
        "failures = 0",
        (sub.endpoint, incident, sub.p256dh, sub.auth, now),
    )


async def remove(db: AnyDatabase, endpoint: str, incident: str | None = None) -> bool:
    if incident is None:
        sql, args = "DELETE FROM push_subs WHERE endpoint = ?", [endpoint]
    else:
        sql, args = (
            "DELETE FROM push_subs WHERE endpoint = ? AND incident = ?",
            [endpoint, incident],
        )
    return await db.execute(sql, args) == 1


async def subs(db: AnyDatabase, incident: str) -> list[PushSub]:
    rows = await db.select(
        "SELECT endpoint, p256dh, auth FROM push_subs WHERE incident = ?", (incident,), live=True
    )
    return [PushSub(*r) for r in rows]


async def failed(db: AnyDatabase, endpoint: str, gone: bool) -> None:
    if gone:
        await remove(db, endpoint)
    else:
        await db.execute(
            "UPDATE push_subs SET failures = failures + 1 WHERE endpoint = ?", (endpoint,)
        )


async def claim(db: AnyDatabase, key: str, incident: str, now: str) -> bool:
    """True for exactly one caller per key, across processes (the key is the only
    constraint a claim can meet: every column is given)."""
    return (
        await db.execute(
            "INSERT INTO push_sent (key, incident, sent_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO NOTHING",
            (key, incident, now),
        )
        == 1
    )
