"""The decision journal: server-side decisions kept beside the database, to survive a restore.

A restore from backup brings the database back to the moment of the backup. Phones re-send
what they wrote since (docs/protocol.md, "Epochs"), but decisions taken on the server
itself would silently come undone: a revoked phone would work again, a logged-out session
too, an ended assignment would hand personal data back, an enrolled phone would be
unknown.

So the writer connection of every process (``Database.open``) attaches a small second
SQLite file, ``<db>-decisions``, and installs TEMP triggers that copy each such decision
into its append-only table ``decisions`` in the same transaction as the decision itself.
No handler has to remember to journal anything: whatever code path writes a device, a
revocation, a person, an invite, a resident link or an assignment change, the trigger
journals it. ``doorstep
restore`` replays the journal into the restored copy (``replay``); every step is
idempotent, so replaying decisions the backup already holds changes nothing.

On PostgreSQL the journal is the table ``decisions`` of the same database, filled by
permanent triggers (``server/db/postgresql/sql/003_decisions.sql``) with the same kinds and
payloads; ``server.db.postgresql.decisions`` replays it and ``doorstep migrate-db`` copies this
file's rows into it.

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
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["KINDS", "attach_sql", "journal_path", "replay"]

KINDS = ("device", "revoke", "person", "invite", "share", "assignment")


def journal_path(db: str | Path) -> str:
    """The journal of the database at ``db``: ``<db>-decisions`` beside it."""
    return f"{db}-decisions"


_TABLE = """CREATE TABLE IF NOT EXISTS journal.decisions (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    kind TEXT NOT NULL,
    data TEXT NOT NULL
)"""


def _trigger(name: str, event: str, table: str, when: str, kind: str, data: str) -> str:
    return (
        f"CREATE TEMP TRIGGER IF NOT EXISTS journal_{name} AFTER {event} ON main.{table} "
        f"{'WHEN ' + when if when else ''} BEGIN "
        f"INSERT INTO decisions (kind, data) VALUES ('{kind}', json_object({data})); "
        "END"
    )


_DEVICE = (
    "'node', NEW.node, 'token_hash', NEW.token_hash, 'person', NEW.person, 'role', NEW.role, "
    "'label', NEW.label, 'created_at', NEW.created_at, 'expires_at', NEW.expires_at"
)
_PERSON = (
    "'id', NEW.id, 'name', NEW.name, 'role', NEW.role, 'created_at', NEW.created_at, "
    "'community', NEW.community, 'login', NEW.login, 'password_hash', NEW.password_hash"
)
_INVITE = (
    "'code_hash', NEW.code_hash, 'role', NEW.role, 'person', NEW.person, "
    "'created_at', NEW.created_at, 'expires_at', NEW.expires_at, 'used_at', NEW.used_at, "
    "'node', NEW.node"
)
_SHARE = (
    "'token', NEW.token, 'incident', NEW.incident, 'created_at', NEW.created_at, "
    "'created_by', NEW.created_by, 'revoked_at', NEW.revoked_at"
)
_HISTORY = (
    "'hlc', NEW.hlc, 'coll', NEW.coll, 'id', NEW.id, 'field', NEW.field, 'value', NEW.value, "
    "'node', NEW.node, 'person', NEW.person, 'received_at', NEW.received_at"
)

_TRIGGERS = [
    _trigger("device", "INSERT", "devices", "", "device", _DEVICE),
    _trigger(
        "revoke",
        "UPDATE OF revoked_at",
        "devices",
        "NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL",
        "revoke",
        "'node', NEW.node, 'revoked_at', NEW.revoked_at",
    ),
    _trigger("person_new", "INSERT", "people", "", "person", _PERSON),
    _trigger("person_set", "UPDATE", "people", "", "person", _PERSON),
    _trigger("invite_new", "INSERT", "invites", "", "invite", _INVITE),
    _trigger("invite_set", "UPDATE OF used_at", "invites", "", "invite", _INVITE),
    _trigger("share_new", "INSERT", "shares", "", "share", _SHARE),
    _trigger("share_set", "UPDATE OF revoked_at", "shares", "", "share", _SHARE),
    _trigger("assignment", "INSERT", "history", "NEW.coll = 'assignments'", "assignment", _HISTORY),
]


def attach_sql(db: str | Path) -> list[tuple[str, tuple[Any, ...]]]:
    """Statements that attach the journal to a connection and install its triggers.

    Run them on every connection that may write, right after it opens (ATTACH cannot run
    inside a transaction). TEMP triggers live and die with the connection; they may write
    to an attached database (ordinary triggers may not), and their unqualified
    ``decisions`` resolves to the journal's table.
    """
    return [
        ("ATTACH DATABASE ? AS journal", (journal_path(db),)),
        ("PRAGMA journal.journal_mode=WAL", ()),
        ("PRAGMA journal.synchronous=FULL", ()),
        (_TABLE, ()),
        *((sql, ()) for sql in _TRIGGERS),
    ]


_REPLAY = {
    "device": (
        "INSERT OR IGNORE INTO devices (node, token_hash, person, role, label, created_at, "
        "last_seen, expires_at) VALUES (:node, :token_hash, :person, :role, :label, "
        ":created_at, :created_at, :expires_at)"
    ),
    "revoke": (
        "UPDATE devices SET revoked_at = coalesce(revoked_at, :revoked_at) WHERE node = :node"
    ),
    "person": (
        "INSERT INTO people (id, name, role, created_at, community, login, password_hash) "
        "VALUES (:id, :name, :role, :created_at, :community, :login, :password_hash) "
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name, role = excluded.role, "
        "community = excluded.community, login = excluded.login, "
        "password_hash = excluded.password_hash"
    ),
    "invite": (
        "INSERT INTO invites (code_hash, role, person, created_at, expires_at, used_at, node) "
        "VALUES (:code_hash, :role, :person, :created_at, :expires_at, :used_at, :node) "
        "ON CONFLICT (code_hash) DO UPDATE SET used_at = coalesce(invites.used_at, "
        "excluded.used_at), node = coalesce(invites.node, excluded.node)"
    ),
    "share": (
        "INSERT INTO shares (token, incident, created_at, created_by, revoked_at) "
        "VALUES (:token, :incident, :created_at, :created_by, :revoked_at) "
        "ON CONFLICT (token) DO UPDATE SET revoked_at = coalesce(shares.revoked_at, "
        "excluded.revoked_at)"
    ),
}


def replay(conn: sqlite3.Connection, journal: str | Path) -> Counter[str]:
    """Apply every decision of ``journal`` to the database of ``conn``, in order, at once.

    ``conn`` must not have the journal attached (replaying must not journal again). The
    caller holds no transaction; this runs one. Assignment changes go through the same
    history insert and stamp-guarded merge as a sync, so an older change never wins.

    Returns:
        How many decisions of each kind were read.
    """
    from server.db.changes import apply_in
    from server.db.sqlite.engine import connect_readonly

    counts: Counter[str] = Counter()
    if not Path(journal).exists():
        return counts
    src = connect_readonly(journal)
    try:
        rows = src.execute("SELECT kind, data FROM decisions ORDER BY id").fetchall()
    finally:
        src.close()
    conn.execute("BEGIN IMMEDIATE")
    try:
        changes = []
        for kind, data in rows:
            counts[kind] += 1
            d = json.loads(data)
            if kind == "assignment":
                changes.append(
                    (
                        d["hlc"],
                        d["coll"],
                        d["id"],
                        d["field"],
                        d["value"],
                        d["node"],
                        d["person"],
                        d["received_at"],
                    )
                )
            elif kind in _REPLAY:
                conn.execute(_REPLAY[kind], d)
        if changes:
            apply_in(conn, changes)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return counts
