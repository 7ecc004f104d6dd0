"""Web Push subscriptions of residents' browsers, and which notifications were sent.

Both backends: the statements differ in their placeholders (``pg.adapt.dialects``) and in
``INSERT OR IGNORE`` (PostgreSQL: ``ON CONFLICT (key) DO NOTHING``: the key is the only
constraint a claim can meet, every column is given).
"""

from dataclasses import dataclass

from server.db import AnyDatabase
from server.db.postgresql.adapt import dialects

__all__ = ["PushSub", "add", "claim", "failed", "remove", "subs"]


@dataclass(frozen=True, slots=True)
class PushSub:
    endpoint: str
    p256dh: str
    auth: str


_SQL = {
    "add": dialects(
        "INSERT INTO push_subs (endpoint, incident, p256dh, auth, created_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (endpoint) DO UPDATE SET "
        "incident = excluded.incident, p256dh = excluded.p256dh, auth = excluded.auth, "
        "failures = 0"
    ),
    "remove": dialects("DELETE FROM push_subs WHERE endpoint = ?"),
    "remove_of": dialects("DELETE FROM push_subs WHERE endpoint = ? AND incident = ?"),
    "subs": dialects("SELECT endpoint, p256dh, auth FROM push_subs WHERE incident = ?"),
    "failed": dialects("UPDATE push_subs SET failures = failures + 1 WHERE endpoint = ?"),
    "claim": {
        "sqlite": "INSERT OR IGNORE INTO push_sent (key, incident, sent_at) VALUES (?, ?, ?)",
        "postgresql": "INSERT INTO push_sent (key, incident, sent_at) VALUES ($1, $2, $3) "
        "ON CONFLICT (key) DO NOTHING",
    },
}


async def add(db: AnyDatabase, incident: str, sub: PushSub, now: str) -> None:
    await db.write(_SQL["add"][db.dialect], (sub.endpoint, incident, sub.p256dh, sub.auth, now))


async def remove(db: AnyDatabase, endpoint: str, incident: str | None = None) -> bool:
    if incident is None:
        sql, args = _SQL["remove"][db.dialect], [endpoint]
    else:
        sql, args = _SQL["remove_of"][db.dialect], [endpoint, incident]
    return await db.write(sql, args) == 1


async def subs(db: AnyDatabase, incident: str) -> list[PushSub]:
    rows = await db.read(_SQL["subs"][db.dialect], (incident,), live=True)
    return [PushSub(*r) for r in rows]


async def failed(db: AnyDatabase, endpoint: str, gone: bool) -> None:
    if gone:
        await remove(db, endpoint)
    else:
        await db.write(_SQL["failed"][db.dialect], (endpoint,))


async def claim(db: AnyDatabase, key: str, incident: str, now: str) -> bool:
    """True for exactly one caller per key, across processes."""
    return await db.write(_SQL["claim"][db.dialect], (key, incident, now)) == 1
