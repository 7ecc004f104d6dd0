"""Devices: phones enrolled by invite code and browser sessions, and their tokens.

Both backends: the SQL that differs only in placeholders is kept once and numbered for
PostgreSQL (``pg.adapt.dialects``); ``enroll`` runs on either (``pg.adapt.fetch_in``).
"""

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import msgspec

from server.access import Scope
from server.db import AnyDatabase
from server.db.postgresql.adapt import dialects, execute_in, fetch_in

__all__ = [
    "Device",
    "DeviceRow",
    "SessionRow",
    "add_session",
    "enroll",
    "everything",
    "for_session",
    "for_token",
    "invalid_among",
    "listing",
    "normalise_code",
    "revoke",
    "revoked_at",
    "session_info",
    "token_hash",
]


def token_hash(secret: str) -> str:
    """The stored form of a bearer token or invite code (never stored in clear)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def normalise_code(code: str) -> str:
    """Invite codes are typed by hand: ignore case, spaces and dashes."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


@dataclass(frozen=True, slots=True)
class Device:
    node: str
    person: str
    role: str
    revoked: bool


@dataclass(frozen=True, slots=True)
class SessionRow:
    node: str
    person: str
    role: str
    revoked_at: str | None
    expires_at: str | None


class DeviceRow(msgspec.Struct):
    node: str
    person: str | None
    name: str | None
    role: str
    label: str | None
    created_at: str | None
    last_seen: str | None
    revoked_at: str | None
    expires_at: str | None
    #: What the label says, for people (``server.http.devices.describe``): ``phone`` or
    #: ``browser``; ``android``, ``ios``, ``windows``, ``mac``, ``linux`` or ""; the
    #: browser's name or "". The page words these; it never shows the raw label.
    kind: str = ""
    system: str = ""
    browser: str = ""


_SQL = {
    "for_token": dialects(
        "SELECT node, person, role, revoked_at FROM devices WHERE token_hash = ?"
    ),
    "for_session": dialects(
        "SELECT node, person, role, revoked_at, expires_at FROM devices WHERE token_hash = ?"
    ),
    "add_session": dialects(
        "INSERT INTO devices (node, token_hash, person, role, label, created_at, last_seen,"
        " expires_at) VALUES (?, ?, ?, 'coordinator', ?, ?, ?, ?)"
    ),
    "session_info": dialects(
        "SELECT p.name, d.expires_at FROM devices d LEFT JOIN people p ON p.id = d.person "
        "WHERE d.node = ?"
    ),
    # SQLite's ``BEGIN IMMEDIATE`` lets one enrolment in at a time. Under READ COMMITTED
    # two requests with one code (a double tap on two app servers) would both read the
    # invite unused and both enrol a device: ``FOR UPDATE`` makes the second wait for the
    # first and then read the invite as the first left it (used).
    "invite_for_update": {
        "sqlite": "SELECT role, person, expires_at, used_at, node FROM invites WHERE code_hash = ?",
        "postgresql": "SELECT role, person, expires_at, used_at, node FROM invites "
        "WHERE code_hash = $1 FOR UPDATE",
    },
    "node_taken": dialects("SELECT 1 FROM devices WHERE node = ?"),
    "new_device": dialects(
        "INSERT INTO devices (node, token_hash, person, role, label, "
        "created_at, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?)"
    ),
    "spend_invite": dialects("UPDATE invites SET used_at = ?, node = ? WHERE code_hash = ?"),
    "revoke": dialects("UPDATE devices SET revoked_at = ? WHERE node = ? AND revoked_at IS NULL"),
    "invalid_among": {
        "sqlite": "SELECT node FROM devices WHERE node IN (SELECT value FROM json_each(?)) "
        "AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)",
        "postgresql": "SELECT node FROM devices WHERE node = ANY($1::text[]) "
        "AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
    },
    # SQLite sorts NULL first, PostgreSQL last: say SQLite's order.
    "everything": {
        "sqlite": "SELECT d.node, d.role, d.person, p.name, d.label, d.created_at, d.last_seen,"
        " d.revoked_at FROM devices d LEFT JOIN people p ON p.id = d.person"
        " ORDER BY d.created_at",
        "postgresql": "SELECT d.node, d.role, d.person, p.name, d.label, d.created_at,"
        " d.last_seen, d.revoked_at FROM devices d LEFT JOIN people p ON p.id = d.person"
        " ORDER BY d.created_at NULLS FIRST",
    },
}


async def for_token(db: AnyDatabase, token: str) -> Device | None:
    rows = await db.read(_SQL["for_token"][db.dialect], (token_hash(token),))
    if not rows:
        return None
    node, person, role, revoked_at = rows[0]
    return Device(node, person, role, revoked_at is not None)


async def for_session(db: AnyDatabase, token: str) -> SessionRow | None:
    rows = await db.read(_SQL["for_session"][db.dialect], (token_hash(token),))
    return SessionRow(*rows[0]) if rows else None


async def enroll(db: AnyDatabase, code: str, label: str, now: str) -> tuple[str, Device] | str:
    """Spend an invite code on a new device.

    Returns:
        (token, device), or an error code: ``invite_unknown``, ``invite_used``,
        ``invite_revoked`` (stopped by a coordinator) or ``invite_expired``.
    """
    code_hash = token_hash(normalise_code(code))
    dialect = db.dialect

    async def run(conn: Any) -> tuple[str, Device] | str:
        rows = await fetch_in(conn, dialect, _SQL["invite_for_update"][dialect], (code_hash,))
        # A setup code (``people.SETUP``) sets a coordinator's login; it enrols nothing.
        if not rows or rows[0][0] not in ("volunteer", "coordinator"):
            return "invite_unknown"
        role, person, expires_at, used_at, _ = rows[0]
        if used_at is not None:
            return "invite_used" if rows[0][4] is not None else "invite_revoked"
        if expires_at <= now:
            return "invite_expired"
        token = secrets.token_urlsafe(32)
        while True:
            node = secrets.token_hex(8)
            if not await fetch_in(conn, dialect, _SQL["node_taken"][dialect], (node,)):
                break
        await execute_in(
            conn,
            dialect,
            _SQL["new_device"][dialect],
            (node, token_hash(token), person, role, label, now, now),
        )
        await execute_in(conn, dialect, _SQL["spend_invite"][dialect], (now, node, code_hash))
        return token, Device(node, person, role, False)

    return await db.write_fn(run)


async def add_session(
    db: AnyDatabase, node: str, token: str, person: str, label: str, now: str, expires: str
) -> None:
    """A coordinator's browser login, as a device whose token expires."""
    await db.write(
        _SQL["add_session"][db.dialect],
        (node, token_hash(token), person, label, now, now, expires),
    )


async def session_info(db: AnyDatabase, node: str) -> tuple[str, str | None]:
    """(person's name, expiry) of a device."""
    rows = await db.read(_SQL["session_info"][db.dialect], (node,))
    name, expires = rows[0] if rows else ("", None)
    return name or "", expires


def _within(scope: Scope | None) -> tuple[str, list[Any]]:
    from server.db.scopes import people_filter

    return ("1", []) if scope is None else people_filter(scope, "d.person")


def _within_pg(scope: Scope | None, start: int) -> tuple[str, list[Any]]:
    from server.db.scopes import people_filter

    if scope is None:
        return "true", []
    return people_filter(scope, "d.person", dialect="postgresql", start=start)


async def listing(
    db: AnyDatabase, scope: Scope | None = None, limit: int = 1000
) -> list[DeviceRow]:
    """Enrolled phones and browser sessions of the people of ``scope``, newest first."""
    select = (
        "SELECT d.node, d.person, p.name, d.role, d.label, d.created_at, d.last_seen, "
        "d.revoked_at, d.expires_at FROM devices d LEFT JOIN people p ON p.id = d.person "
    )
    if db.dialect == "postgresql":
        within, args = _within_pg(scope, 1)
        order = f"ORDER BY d.created_at DESC NULLS LAST LIMIT ${len(args) + 1}"
    else:
        within, args = _within(scope)
        order = "ORDER BY d.created_at DESC LIMIT ?"
    rows = await db.read(f"{select}WHERE {within} {order}", (*args, limit))
    return [DeviceRow(*r) for r in rows]


async def revoke(db: AnyDatabase, node: str, at: str) -> bool:
    """Revoke a device; False if there is no such device or it was already revoked."""
    return await db.write(_SQL["revoke"][db.dialect], (at, node)) == 1


async def revoked_at(
    db: AnyDatabase, node: str, scope: Scope | None = None
) -> tuple[bool, str | None]:
    """(exists within ``scope``, when it was revoked) of a device."""
    if db.dialect == "postgresql":
        within, args = _within_pg(scope, 2)
        sql = f"SELECT d.revoked_at FROM devices d WHERE d.node = $1 AND {within}"
    else:
        within, args = _within(scope)
        sql = f"SELECT d.revoked_at FROM devices d WHERE d.node = ? AND {within}"
    rows = await db.read(sql, (node, *args))
    return (True, rows[0][0]) if rows else (False, None)


async def invalid_among(db: AnyDatabase, nodes: list[str], now: str) -> set[str]:
    """The nodes among ``nodes`` that are revoked, expired or unknown now."""
    if not nodes:
        return set()
    ids: Any = sorted(set(nodes))
    if db.dialect == "sqlite":
        ids = msgspec.json.encode(ids).decode()
    rows = await db.read(_SQL["invalid_among"][db.dialect], (ids, now), live=True)
    return set(nodes) - {r[0] for r in rows}


async def everything(db: AnyDatabase) -> list[dict[str, str | None]]:
    """Every device, oldest first, for the command line."""
    keys = ("node", "role", "person", "name", "label", "created_at", "last_seen", "revoked_at")
    rows = await db.read(_SQL["everything"][db.dialect])
    return [dict(zip(keys, r, strict=True)) for r in rows]
