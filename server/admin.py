"""Synchronous storage functions for the command line (invite, revoke, demo).

The server uses ``server.store`` (async); these run in a short-lived CLI process against
the same file, with the same SQL for writing changes.
"""

import secrets
import sqlite3
import uuid
from collections.abc import Iterable
from contextlib import closing
from datetime import UTC, datetime, timedelta

import msgspec

from server.migrations import migrate
from server.store import INSERT_HISTORY_SQL, MERGE_SQL, normalise_code, token_hash
from sync import clock

__all__ = [
    "create_invite",
    "list_devices",
    "meta_get",
    "meta_set",
    "revoke",
    "server_node",
    "write_records",
]

#: No 0/O, 1/I/L: codes are read aloud and typed on phones.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def connect(path: str) -> sqlite3.Connection:
    migrate(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def now_iso(at: datetime | None = None) -> str:
    at = at or datetime.now(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def meta_get(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def meta_set(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def server_node(conn: sqlite3.Connection) -> str:
    """The HLC node id the server stamps its own changes with (created once)."""
    node = meta_get(conn, "server_node")
    if node is None:
        node = secrets.token_hex(8)
        meta_set(conn, "server_node", node)
    return node


def create_invite(
    path: str,
    role: str,
    *,
    name: str | None = None,
    person: str | None = None,
    ttl_hours: float = 72,
) -> tuple[str, str]:
    """Create a single-use invite code for a new or existing person.

    Returns:
        (code, person id)
    """
    with closing(connect(path)) as conn:
        now = datetime.now(UTC)
        conn.execute("BEGIN IMMEDIATE")
        if person is None:
            person = str(uuid.uuid4())
            conn.execute(
                "INSERT INTO people (id, name, role, created_at) VALUES (?, ?, ?, ?)",
                (person, name or "", role, now_iso(now)),
            )
        elif conn.execute("SELECT 1 FROM people WHERE id = ?", (person,)).fetchone() is None:
            conn.execute("ROLLBACK")
            raise LookupError(f"no person {person}")
        raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
        conn.execute(
            "INSERT INTO invites (code_hash, role, person, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                token_hash(normalise_code(raw)),
                role,
                person,
                now_iso(now),
                now_iso(now + timedelta(hours=ttl_hours)),
            ),
        )
        conn.execute("COMMIT")
    return f"{raw[:4]}-{raw[4:]}", person


def revoke(path: str, node: str) -> bool:
    """Revoke a device; its next request gets 401. Returns False if no such device."""
    with closing(connect(path)) as conn:
        cur = conn.execute(
            "UPDATE devices SET revoked_at = ? WHERE node = ? AND revoked_at IS NULL",
            (now_iso(), node),
        )
        return cur.rowcount == 1


def list_devices(path: str) -> list[dict[str, str | None]]:
    with closing(connect(path)) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT d.node, d.role, d.person, p.name, d.label, d.created_at, d.last_seen,"
            " d.revoked_at FROM devices d LEFT JOIN people p ON p.id = d.person"
            " ORDER BY d.created_at"
        ).fetchall()
        return [dict(r) for r in rows]


def write_records(
    conn: sqlite3.Connection,
    records: Iterable[tuple[str, str, dict[str, object]]],
    *,
    at: datetime | None = None,
) -> int:
    """Write whole records as field changes stamped by the server's own node.

    They go through the same history and merge SQL as a device's sync, so devices pull
    them like any other change.

    Returns:
        The number of field changes written.
    """
    node = server_node(conn)
    state = clock.Timestamp(0, 0, node)
    now_ms = int((at or datetime.now(UTC)).timestamp() * 1000)
    received = now_iso()
    rows = []
    for coll, rid, fields in records:
        for field, value in fields.items():
            if state.counter >= clock.MAX_COUNTER - 1:
                now_ms += 1
            state = clock.send(state, now_ms)
            rows.append(
                (
                    clock.format_stamp(state),
                    coll,
                    rid,
                    field,
                    msgspec.json.encode(value).decode(),
                    node,
                    None,
                    received,
                )
            )
    conn.execute("BEGIN IMMEDIATE")
    (before,) = conn.execute("SELECT coalesce(max(seq), 0) FROM history").fetchone()
    conn.executemany(INSERT_HISTORY_SQL, rows)
    conn.execute(MERGE_SQL, (before,))
    conn.execute("COMMIT")
    return len(rows)
