"""SQLite's decision journal (``server.db.decisions``): a second file beside the
database, ``<db>-decisions``, ATTACHed to every writer connection, and TEMP triggers that
copy each server-side decision into its append-only table ``decisions`` in the same
transaction as the decision itself. PostgreSQL's is a table of the same database filled
by permanent triggers (``server/db/postgresql/schema.py``): same kinds, same payloads.
"""

from collections import Counter
from pathlib import Path
from typing import Any

from server.db.changes import apply_in
from server.db.decisions import journal_path, replay_in
from server.db.sqlite.engine import connect_readonly

__all__ = ["attach_sql", "replay"]


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


def replay(conn: Any, journal: str | Path) -> Counter[str]:
    """Apply every decision of the SQLite journal file ``journal`` to the database of
    ``conn`` (a blocking SQLite connection), in order, at once.

    ``conn`` must not have the journal attached (replaying must not journal again). The
    caller holds no transaction; this runs one.

    Returns:
        How many decisions of each kind were read.
    """
    if not Path(journal).exists():
        return Counter()
    src = connect_readonly(journal)
    try:
        entries = src.execute("SELECT id, at, kind, data FROM decisions ORDER BY id").fetchall()
    finally:
        src.close()
    conn.execute("BEGIN IMMEDIATE")
    try:
        counts, changes = replay_in(conn, entries)
        apply_in(conn, changes)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return counts
