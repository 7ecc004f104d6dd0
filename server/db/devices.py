"""Devices: phones enrolled by invite code and browser sessions, and their tokens.

Written once for both engines: blocking functions of a ``Conn`` run by ``db.read_tx`` /
``db.write_tx``, or one statement by ``db.select`` / ``db.execute`` (``db.sql`` is the
engine's dialect).
"""

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import msgspec

from server.access import Scope
from server.db import AnyDatabase

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


_FOR_SESSION = "SELECT node, person, role, revoked_at, expires_at FROM devices WHERE token_hash = ?"


async def for_token(db: AnyDatabase, token: str) -> Device | None:
    rows = await db.select(_FOR_SESSION, (token_hash(token),))
    if not rows:
        return None
    node, person, role, revoked_at, _ = rows[0]
    return Device(node, person, role, revoked_at is not None)


async def for_session(db: AnyDatabase, token: str) -> SessionRow | None:
    rows = await db.select(_FOR_SESSION, (token_hash(token),))
    return SessionRow(*rows[0]) if rows else None


def _enroll_in(conn: Any, code_hash: str, label: str, now: str) -> tuple[str, Device] | str:
    # ``for_update``: two requests with one code (a double tap reaching two app servers)
    # must not both read the invite unused; the second reads it as the first left it.
    row = conn.execute(
        "SELECT role, person, expires_at, used_at, node FROM invites WHERE code_hash = ?"
        + conn.dialect.for_update(),
        (code_hash,),
    ).fetchone()
    # A setup code (``people.SETUP``) sets a coordinator's login; it enrols nothing.
    if row is None or row[0] not in ("volunteer", "coordinator"):
        return "invite_unknown"
    role, person, expires_at, used_at, spent_by = row
    if used_at is not None:
        return "invite_used" if spent_by is not None else "invite_revoked"
    if expires_at <= now:
        return "invite_expired"
    token = secrets.token_urlsafe(32)
    while True:
        node = secrets.token_hex(8)
        if conn.execute("SELECT 1 FROM devices WHERE node = ?", (node,)).fetchone() is None:
            break
    conn.execute(
        "INSERT INTO devices (node, token_hash, person, role, label, created_at, last_seen) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (node, token_hash(token), person, role, label, now, now),
    )
    conn.execute(
        "UPDATE invites SET used_at = ?, node = ? WHERE code_hash = ?", (now, node, code_hash)
    )
    return token, Device(node, person, role, False)


async def enroll(db: AnyDatabase, code: str, label: str, now: str) -> tuple[str, Device] | str:
    """Spend an invite code on a new device.

    Returns:
        (token, device), or an error code: ``invite_unknown``, ``invite_used``,
        ``invite_revoked`` (stopped by a coordinator) or ``invite_expired``.
    """
    code_hash = token_hash(normalise_code(code))
    return await db.write_tx(lambda conn: _enroll_in(conn, code_hash, label, now))


async def add_session(
    db: AnyDatabase, node: str, token: str, person: str, label: str, now: str, expires: str
) -> None:
    """A coordinator's browser login, as a device whose token expires."""
    await db.execute(
        "INSERT INTO devices (node, token_hash, person, role, label, created_at, last_seen,"
        " expires_at) VALUES (?, ?, ?, 'coordinator', ?, ?, ?, ?)",
        (node, token_hash(token), person, label, now, now, expires),
    )


async def session_info(db: AnyDatabase, node: str) -> tuple[str, str | None]:
    """(person's name, expiry) of a device."""
    rows = await db.select(
        "SELECT p.name, d.expires_at FROM devices d LEFT JOIN people p ON p.id = d.person "
        "WHERE d.node = ?",
        (node,),
    )
    name, expires = rows[0] if rows else ("", None)
    return name or "", expires


def _within(conn: Any, scope: Scope | None) -> tuple[str, list[Any]]:
    """The devices of the people of ``scope`` (every device for None)."""
    from server.db.scopes import people_filter

    return ("1 = 1", []) if scope is None else people_filter(scope, "d.person", conn.dialect)


def _listing_in(conn: Any, scope: Scope | None, limit: int) -> list[DeviceRow]:
    within, args = _within(conn, scope)
    # NULLS LAST: SQLite's default for a descending order, said for PostgreSQL's sake.
    rows = conn.execute(
        "SELECT d.node, d.person, p.name, d.role, d.label, d.created_at, d.last_seen, "
        "d.revoked_at, d.expires_at FROM devices d LEFT JOIN people p ON p.id = d.person "
        f"WHERE {within} ORDER BY d.created_at DESC NULLS LAST LIMIT ?",
        (*args, limit),
    )
    return [DeviceRow(*r) for r in rows]


async def listing(
    db: AnyDatabase, scope: Scope | None = None, limit: int = 1000
) -> list[DeviceRow]:
    """Enrolled phones and browser sessions of the people of ``scope``, newest first."""
    return await db.read_tx(lambda conn: _listing_in(conn, scope, limit))


async def revoke(db: AnyDatabase, node: str, at: str) -> bool:
    """Revoke a device; False if there is no such device or it was already revoked."""
    sql = "UPDATE devices SET revoked_at = ? WHERE node = ? AND revoked_at IS NULL"
    return await db.execute(sql, (at, node)) == 1


def _revoked_at_in(conn: Any, node: str, scope: Scope | None) -> tuple[bool, str | None]:
    within, args = _within(conn, scope)
    row = conn.execute(
        f"SELECT d.revoked_at FROM devices d WHERE d.node = ? AND {within}", (node, *args)
    ).fetchone()
    return (True, row[0]) if row is not None else (False, None)


async def revoked_at(
    db: AnyDatabase, node: str, scope: Scope | None = None
) -> tuple[bool, str | None]:
    """(exists within ``scope``, when it was revoked) of a device."""
    return await db.read_tx(lambda conn: _revoked_at_in(conn, node, scope))


async def invalid_among(db: AnyDatabase, nodes: list[str], now: str) -> set[str]:
    """The nodes among ``nodes`` that are revoked, expired or unknown now."""
    if not nodes:
        return set()
    ids = msgspec.json.encode(sorted(set(nodes))).decode()
    rows = await db.select(
        f"SELECT node FROM devices WHERE node IN (SELECT value FROM {db.sql.each()}) "
        "AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)",
        (ids, now),
        live=True,
    )
    return set(nodes) - {r[0] for r in rows}


async def everything(db: AnyDatabase) -> list[dict[str, str | None]]:
    """Every device, oldest first, for the command line."""
    keys = ("node", "role", "person", "name", "label", "created_at", "last_seen", "revoked_at")
    # NULLS FIRST: SQLite's default, said for PostgreSQL's sake.
    rows = await db.select(
        "SELECT d.node, d.role, d.person, p.name, d.label, d.created_at, d.last_seen,"
        " d.revoked_at FROM devices d LEFT JOIN people p ON p.id = d.person"
        " ORDER BY d.created_at NULLS FIRST"
    )
    return [dict(zip(keys, r, strict=True)) for r in rows]
