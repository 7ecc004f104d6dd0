"""The decision journal: server-side decisions kept beside the database, to survive a restore.

A restore from backup brings the database back to the moment of the backup. Phones re-send
what they wrote since (docs/protocol.md, "Epochs"), but decisions taken on the server
itself would silently come undone: a revoked phone would work again, a logged-out session
too, an ended assignment would hand personal data back, an enrolled phone would be
unknown.

So each such decision is copied, by a trigger in the same transaction as the decision
itself, into an append-only table ``decisions``: on SQLite in a small second file,
``<db>-decisions``, that the writer connection of every process attaches
(``server.db.sqlite.journal``).
No handler has to remember to journal anything: whatever code path writes a device, a
revocation, a person, an invite, a resident link or an assignment change, the trigger
journals it. ``doorstep restore`` replays the journal into the restored copy
(``replay_all_in``: ``server.db.sqlite.journal.replay``, ``server.db.postgresql.backup``);
every step is idempotent, so replaying decisions the backup already holds changes nothing.

On PostgreSQL the journal is the table ``decisions`` of the same database, filled by
permanent triggers with the same kinds and payloads; ``doorstep migrate-db`` copies this
file's rows into it. How an entry is replayed is written once here (``replay_in``).

What is journaled (``kind``):
    device        a phone enrolled or a browser logged in (the token only as its hash)
    revoke        a device revoked or a session logged out
    person        a person created or changed (name, role, community, login, password hash)
    invite        an invite created or spent
    share         a resident link created or revoked
    assignment    an accepted change to an ``assignments`` record (merged by its stamp)
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from server.db.changes import Incoming

__all__ = ["KINDS", "Entry", "journal_path", "replay_all_in", "replay_in"]

KINDS = ("device", "revoke", "person", "invite", "share", "assignment")

#: One journal row: (id, at, kind, data).
Entry = tuple[int, str, str, str]


def journal_path(db: str | Path) -> str:
    """The journal of the database at ``db``: ``<db>-decisions`` beside it."""
    return f"{db}-decisions"


#: Each kind's statement and the payload keys of its parameters; every one idempotent.
_REPLAY: dict[str, tuple[str, tuple[str, ...]]] = {
    "device": (
        "INSERT INTO devices (node, token_hash, person, role, label, created_at, last_seen, "
        "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        # ``last_seen`` starts as ``created_at``.
        (
            *("node", "token_hash", "person", "role", "label"),
            *("created_at", "created_at", "expires_at"),
        ),
    ),
    "revoke": (
        "UPDATE devices SET revoked_at = coalesce(revoked_at, ?) WHERE node = ?",
        ("revoked_at", "node"),
    ),
    "person": (
        "INSERT INTO people (id, name, role, created_at, community, login, password_hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name, role = excluded.role, "
        "community = excluded.community, login = excluded.login, "
        "password_hash = excluded.password_hash",
        ("id", "name", "role", "created_at", "community", "login", "password_hash"),
    ),
    "invite": (
        "INSERT INTO invites (code_hash, role, person, created_at, expires_at, used_at, node) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (code_hash) DO UPDATE SET used_at = coalesce(invites.used_at, "
        "excluded.used_at), node = coalesce(invites.node, excluded.node)",
        ("code_hash", "role", "person", "created_at", "expires_at", "used_at", "node"),
    ),
    "share": (
        "INSERT INTO shares (token, incident, created_at, created_by, revoked_at) "
        "VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (token) DO UPDATE SET revoked_at = coalesce(shares.revoked_at, "
        "excluded.revoked_at)",
        ("token", "incident", "created_at", "created_by", "revoked_at"),
    ),
}
_HISTORY = ("hlc", "coll", "id", "field", "value", "node", "person", "received_at")


def _text(value: Any) -> str | None:
    """A journaled value as a text column takes it (SQLite's columns may hold numbers)."""
    return None if value is None else value if isinstance(value, str) else str(value)


def replay_in(conn: Any, entries: Sequence[Entry]) -> tuple[Counter[str], list[Incoming]]:
    """Apply ``entries`` in order inside the caller's write transaction, on either
    engine. Every step is idempotent.

    Returns:
        How many entries of each kind were read, and the assignment changes, which the
        caller appends through the change log in the same transaction (the history
        insert and stamp-guarded merge of a sync, so an older change never wins).
    """
    counts: Counter[str] = Counter()
    changes: list[Incoming] = []
    for _id, _at, kind, data in entries:
        counts[kind] += 1
        d = json.loads(data)
        if kind == "assignment":
            changes.append(tuple(_text(d.get(k)) for k in _HISTORY))  # type: ignore[arg-type]
        elif kind in _REPLAY:
            sql, keys = _REPLAY[kind]
            conn.execute(sql, tuple(_text(d.get(k)) for k in keys))
    return counts, changes


def replay_all_in(conn: Any, entries: Sequence[Entry]) -> Counter[str]:
    """``replay_in`` and the append of its assignment changes, inside the caller's write
    transaction (which holds the log's ordering lock on PostgreSQL); what a restore runs
    on either engine. How many entries of each kind were read."""
    from server.db.changes import apply_in

    counts, changes = replay_in(conn, entries)
    apply_in(conn, changes)
    return counts
