"""The decision journal on PostgreSQL: the twin of ``server.db.decisions``.

On SQLite the journal is a second file filled by TEMP triggers; here it is the table
``decisions`` of the same database, filled by the permanent triggers of
``sql/003_decisions.sql`` (same kinds, same payloads). What the journal is for is the
same: ``doorstep restore`` installs a backup, then replays every decision the replaced
database had journaled, so a revocation, a logout, an enrolment, an ended assignment or
a resident link made after the backup holds after the restore (``server.db.postgresql.backup``).

Replaying writes to ``devices``, ``people``, … whose triggers journal again; the replay's
own entries are dropped and the replaced database's journal is carried over whole
(``carry_in``), as SQLite's restore keeps using the same journal file.
"""

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from server.db.changes import Incoming
from server.db.postgresql.core import PgConn

__all__ = ["Entry", "carry_in", "entries_in", "replay_in", "top_in"]

#: One journal row: (id, at, kind, data).
Entry = tuple[int, str, str, str]

_REPLAY: dict[str, tuple[str, tuple[str, ...]]] = {
    "device": (
        "INSERT INTO devices (node, token_hash, person, role, label, created_at, last_seen, "
        "expires_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $7) ON CONFLICT DO NOTHING",
        ("node", "token_hash", "person", "role", "label", "created_at", "expires_at"),
    ),
    "revoke": (
        "UPDATE devices SET revoked_at = coalesce(revoked_at, $2) WHERE node = $1",
        ("node", "revoked_at"),
    ),
    "person": (
        "INSERT INTO people (id, name, role, created_at, community, login, password_hash) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name, role = excluded.role, "
        "community = excluded.community, login = excluded.login, "
        "password_hash = excluded.password_hash",
        ("id", "name", "role", "created_at", "community", "login", "password_hash"),
    ),
    "invite": (
        "INSERT INTO invites (code_hash, role, person, created_at, expires_at, used_at, node) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT (code_hash) DO UPDATE SET used_at = coalesce(invites.used_at, "
        "excluded.used_at), node = coalesce(invites.node, excluded.node)",
        ("code_hash", "role", "person", "created_at", "expires_at", "used_at", "node"),
    ),
    "share": (
        "INSERT INTO shares (token, incident, created_at, created_by, revoked_at) "
        "VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (token) DO UPDATE SET revoked_at = coalesce(shares.revoked_at, "
        "excluded.revoked_at)",
        ("token", "incident", "created_at", "created_by", "revoked_at"),
    ),
}
_HISTORY = ("hlc", "coll", "id", "field", "value", "node", "person", "received_at")


def _text(value: Any) -> str | None:
    """A journaled value as the text column wants it (SQLite's columns may hold numbers)."""
    return None if value is None else value if isinstance(value, str) else str(value)


async def entries_in(conn: PgConn, schema: str | None = None) -> list[Entry] | None:
    """Every journal entry, in order: of the current schema, or of ``schema`` (the
    replaced database kept aside by a restore); None if it has no journal."""
    table = f'"{schema}".decisions' if schema else "decisions"
    exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table)
    if not exists:
        return None
    rows = await conn.fetch(f"SELECT id, at, kind, data FROM {table} ORDER BY id")
    return [(int(r[0]), r[1], r[2], r[3]) for r in rows]


async def replay_in(conn: PgConn, entries: Sequence[Entry]) -> Counter[str]:
    """Apply ``entries`` in order inside the caller's transaction, which must hold the
    log's ordering lock (``write_fn(..., appends=True)``): assignment changes go through
    the same history insert and stamp-guarded merge as a sync, so an older one never wins.
    Every step is idempotent. Returns how many entries of each kind were read."""
    from server.db.postgresql.changes import apply_in

    counts: Counter[str] = Counter()
    changes: list[Incoming] = []
    for _id, _at, kind, data in entries:
        counts[kind] += 1
        d = json.loads(data)
        if kind == "assignment":
            changes.append(tuple(_text(d.get(k)) for k in _HISTORY))  # type: ignore[arg-type]
        elif kind in _REPLAY:
            sql, keys = _REPLAY[kind]
            await conn.execute(sql, *(_text(d.get(k)) for k in keys))
    if changes:
        await apply_in(conn, changes)
    return counts


async def carry_in(conn: PgConn, entries: Sequence[Entry], after: int) -> None:
    """Make ``entries`` (the replaced database's journal) this database's journal: drop
    what was journaled after id ``after`` (the replay's own echoes), add the entries this
    journal lacks with their ids, and move the identity past them."""
    await conn.execute("DELETE FROM decisions WHERE id > $1", after)
    if entries:
        await conn.executemany(
            "INSERT INTO decisions (id, at, kind, data) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (id) DO NOTHING",
            list(entries),
        )
    await conn.execute(
        "SELECT setval(pg_get_serial_sequence('decisions', 'id'), "
        "coalesce((SELECT max(id) FROM decisions), 0) + 1, false)"
    )


async def top_in(conn: PgConn) -> int:
    """The journal's last id (0 when empty)."""
    return int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM decisions"))
