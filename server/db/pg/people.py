"""People on PostgreSQL: what cannot share its code with ``server.db.people``."""

import secrets
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from server.db.changes import iso_now
from server.db.devices import normalise_code, token_hash
from server.db.people import _CODE_ALPHABET
from server.db.pg.core import PgConn, PgDatabase

__all__ = ["add_coordinator", "create_invite"]


async def create_invite(
    db: PgDatabase,
    role: str,
    *,
    name: str | None = None,
    person: str | None = None,
    ttl_hours: float = 72,
) -> tuple[str, str]:
    """``server.db.people.create_invite``: (code, person id).

    Raises:
        LookupError: ``person`` does not exist.
    """
    now = datetime.now(UTC)

    async def run(conn: PgConn) -> tuple[str, str]:
        who = person
        if who is None:
            who = str(uuid.uuid4())
            await conn.execute(
                "INSERT INTO people (id, name, role, created_at) VALUES ($1, $2, $3, $4)",
                who,
                name or "",
                role,
                iso_now(now),
            )
        elif await conn.fetchval("SELECT 1 FROM people WHERE id = $1", who) is None:
            raise LookupError(f"no person {who}")
        raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
        await conn.execute(
            "INSERT INTO invites (code_hash, role, person, created_at, expires_at) "
            "VALUES ($1, $2, $3, $4, $5)",
            token_hash(normalise_code(raw)),
            role,
            who,
            iso_now(now),
            iso_now(now + timedelta(hours=ttl_hours)),
        )
        return f"{raw[:4]}-{raw[4:]}", who

    return await db.write_fn(run)


async def add_coordinator(
    db: PgDatabase, login: str, password_hash: str, *, name: str, community: str | None
) -> str:
    """``server.db.people.add_coordinator``: a taken login is a unique violation here
    (SQLite: ``IntegrityError``).

    Raises:
        LookupError: the login is taken.
    """
    person = str(uuid.uuid4())
    try:
        await db.write(
            "INSERT INTO people (id, name, role, created_at, login, password_hash, "
            "community) VALUES ($1, $2, 'coordinator', $3, $4, $5, $6)",
            (person, name, iso_now(), login, password_hash, community),
        )
    except asyncpg.UniqueViolationError:
        raise LookupError(f"login {login!r} is taken") from None
    return person
