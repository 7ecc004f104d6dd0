"""People: volunteers and coordinators, their invites and their logins.

Both backends: the SQL that differs only in placeholders is kept once and numbered for
PostgreSQL (``pg.adapt.dialects``).
"""

import secrets
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from server.access import Scope
from server.db import AnyDatabase
from server.db.changes import iso_now
from server.db.devices import normalise_code, token_hash
from server.db.pg.adapt import dialects, execute_in, fetch_in

__all__ = [
    "add_coordinator",
    "community_of",
    "create_invite",
    "exists",
    "for_login",
    "listing",
    "name_of",
]

#: No 0/O, 1/I/L: codes are read aloud and typed on phones.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


_SQL = {
    "name_of": dialects("SELECT name FROM people WHERE id = ?"),
    "exists": dialects("SELECT 1 FROM people WHERE id = ?"),
    "community_of": dialects("SELECT community FROM people WHERE id = ?"),
    "for_login": dialects("SELECT id, name, role, password_hash FROM people WHERE login = ?"),
    "new_person": dialects("INSERT INTO people (id, name, role, created_at) VALUES (?, ?, ?, ?)"),
    "new_invite": dialects(
        "INSERT INTO invites (code_hash, role, person, created_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?)"
    ),
    "add_coordinator": dialects(
        "INSERT INTO people (id, name, role, created_at, login, password_hash, "
        "community) VALUES (?, ?, 'coordinator', ?, ?, ?, ?)"
    ),
}


async def name_of(db: AnyDatabase, person: str) -> str:
    rows = await db.read(_SQL["name_of"][db.dialect], (person,))
    return (rows[0][0] or "") if rows else ""


async def exists(db: AnyDatabase, person: str) -> bool:
    return bool(await db.read(_SQL["exists"][db.dialect], (person,)))


async def community_of(db: AnyDatabase, person: str) -> str | None:
    """A coordinator's community (None: every community)."""
    rows = await db.read(_SQL["community_of"][db.dialect], (person,))
    return rows[0][0] if rows else None


async def for_login(db: AnyDatabase, login: str) -> tuple[str | None, str, str, str | None]:
    """(person, name, role, password hash) of a login, or (None, "", "", None)."""
    rows = await db.read(_SQL["for_login"][db.dialect], (login,))
    return tuple(rows[0]) if rows else (None, "", "", None)  # type: ignore[return-value]


async def listing(db: AnyDatabase, scope: Scope) -> list[tuple[str, str, str, int]]:
    """(id, name, role, active devices) of the people a coordinator works with: those of
    their community and the volunteers assigned inside it (``scopes.people_filter``), or
    everyone for a coordinator without a community. No phone numbers or logins."""
    select = (
        "SELECT p.id, p.name, p.role, (SELECT count(*) FROM devices d WHERE d.person = p.id "
        "AND d.revoked_at IS NULL) FROM people p "
    )
    from server.db.scopes import people_filter

    within, args = people_filter(scope, "p.id", dialect=db.dialect)
    if db.dialect == "postgresql":
        # SQLite sorts NULL first, PostgreSQL last: say SQLite's order.
        order = "ORDER BY p.role NULLS FIRST, p.name NULLS FIRST, p.id LIMIT 5000"
    else:
        order = "ORDER BY p.role, p.name, p.id LIMIT 5000"
    rows = await db.read(f"{select}WHERE {within} {order}", args)
    return [(r[0], r[1] or "", r[2], r[3]) for r in rows]


async def create_invite(
    db: AnyDatabase,
    role: str,
    *,
    name: str | None = None,
    person: str | None = None,
    ttl_hours: float = 72,
) -> tuple[str, str]:
    """Create a single-use invite code for a new or existing person.

    Returns:
        (code, person id)

    Raises:
        LookupError: ``person`` does not exist.
    """
    now = datetime.now(UTC)
    dialect = db.dialect

    async def run(conn: Any) -> tuple[str, str]:
        who = person
        if who is None:
            who = str(uuid.uuid4())
            await execute_in(
                conn, dialect, _SQL["new_person"][dialect], (who, name or "", role, iso_now(now))
            )
        elif not await fetch_in(conn, dialect, _SQL["exists"][dialect], (who,)):
            raise LookupError(f"no person {who}")
        raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
        await execute_in(
            conn,
            dialect,
            _SQL["new_invite"][dialect],
            (
                token_hash(normalise_code(raw)),
                role,
                who,
                iso_now(now),
                iso_now(now + timedelta(hours=ttl_hours)),
            ),
        )
        return f"{raw[:4]}-{raw[4:]}", who

    return await db.write_fn(run)


def _unique_violation(dialect: str) -> type[Exception]:
    """The driver's error for a broken unique constraint."""
    if dialect == "postgresql":
        import asyncpg

        return asyncpg.UniqueViolationError
    return sqlite3.IntegrityError


async def add_coordinator(
    db: AnyDatabase, login: str, password_hash: str, *, name: str, community: str | None
) -> str:
    """Create a coordinator who logs in with ``login``; returns the person id.

    Raises:
        LookupError: the login is taken.
    """
    person = str(uuid.uuid4())
    try:
        await db.write(
            _SQL["add_coordinator"][db.dialect],
            (person, name, iso_now(), login, password_hash, community),
        )
    except _unique_violation(db.dialect):
        raise LookupError(f"login {login!r} is taken") from None
    return person
