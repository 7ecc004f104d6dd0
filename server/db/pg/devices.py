"""Devices on PostgreSQL: what cannot share its code with ``server.db.devices``."""

import secrets

from server.db.devices import Device, token_hash
from server.db.pg.core import PgConn, PgDatabase

__all__ = ["enroll"]


async def enroll(db: PgDatabase, code_hash: str, label: str, now: str) -> tuple[str, Device] | str:
    """``server.db.devices.enroll`` after the code is hashed.

    SQLite's ``BEGIN IMMEDIATE`` lets one enrolment in at a time. Under READ COMMITTED two
    requests with one code (a double tap on two app servers) would both read the invite
    unused and both enrol a device: ``FOR UPDATE`` makes the second wait for the first
    and then read the invite as the first left it (used).
    """

    async def run(conn: PgConn) -> tuple[str, Device] | str:
        row = await conn.fetchrow(
            "SELECT role, person, expires_at, used_at FROM invites WHERE code_hash = $1 FOR UPDATE",
            code_hash,
        )
        if row is None:
            return "invite_unknown"
        role, person, expires_at, used_at = row
        if used_at is not None:
            return "invite_used"
        if expires_at <= now:
            return "invite_expired"
        token = secrets.token_urlsafe(32)
        while True:
            node = secrets.token_hex(8)
            if await conn.fetchval("SELECT 1 FROM devices WHERE node = $1", node) is None:
                break
        await conn.execute(
            "INSERT INTO devices (node, token_hash, person, role, label, "
            "created_at, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            node,
            token_hash(token),
            person,
            role,
            label,
            now,
            now,
        )
        await conn.execute(
            "UPDATE invites SET used_at = $1, node = $2 WHERE code_hash = $3",
            now,
            node,
            code_hash,
        )
        return token, Device(node, person, role, False)

    return await db.write_fn(run)
