"""FROZEN: the release before issue 21's SQLite schema (sqlite-utils migrations m001-m008),
copied from server/db/migrations.py as it was at f902f6e. The upgrade tests build a
database "made by the current release" with it; never edit it."""

import sqlite_utils
from sqlite_utils.migrations import Migrations

__all__ = ["migrate", "migrations"]

migrations = Migrations("doorstep")


@migrations()
def m001_core(db: sqlite_utils.Database) -> None:
    # history: every accepted change once, in receive order. seq is the server sequence
    # (the rowid, so max(seq) is O(1)); hlc UNIQUE makes a re-sent change a no-op.
    db.execute(
        """CREATE TABLE history (
            seq INTEGER PRIMARY KEY,
            hlc TEXT NOT NULL UNIQUE,
            coll TEXT NOT NULL,
            id TEXT NOT NULL,
            field TEXT NOT NULL,
            value TEXT NOT NULL,
            node TEXT NOT NULL,
            person TEXT,
            received_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX history_record ON history (coll, id)")
    # winners: the current value of every field and the seq at which it last changed.
    db.execute(
        """CREATE TABLE winners (
            coll TEXT NOT NULL,
            id TEXT NOT NULL,
            field TEXT NOT NULL,
            value TEXT NOT NULL,
            hlc TEXT NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY (coll, id, field)
        ) WITHOUT ROWID"""
    )
    db.execute("CREATE UNIQUE INDEX winners_seq ON winners (seq)")
    db["quarantine"].create(
        {
            "qid": int,
            "hlc": str,
            "node": str,
            "person": str,
            "coll": str,
            "id": str,
            "field": str,
            "raw": str,
            "error": str,
            "message": str,
            "received_at": str,
            "resolved_at": str,
        },
        pk="qid",
    )
    db.execute("CREATE UNIQUE INDEX quarantine_stamp ON quarantine (node, hlc, error)")
    db["people"].create({"id": str, "name": str, "role": str, "created_at": str}, pk="id")
    db["devices"].create(
        {
            "node": str,
            "token_hash": str,
            "person": str,
            "role": str,
            "label": str,
            "created_at": str,
            "last_seen": str,
            "revoked_at": str,
        },
        pk="node",
        foreign_keys=[("person", "people", "id")],
    )
    db["devices"].create_index(["token_hash"], unique=True)
    db["invites"].create(
        {
            "code_hash": str,
            "role": str,
            "person": str,
            "created_at": str,
            "expires_at": str,
            "used_at": str,
            "node": str,
        },
        pk="code_hash",
    )
    db["meta"].create({"key": str, "value": str}, pk="key")


@migrations()
def m002_live(db: sqlite_utils.Database) -> None:
    # Live progress (issue 4). Records reference each other by id, stored as JSON text in
    # winners.value; this index finds "every visit of incident X" without scanning all
    # visits, which progress needs on every change.
    db.execute("CREATE INDEX winners_ref ON winners (coll, field, value)")
    # One public link per incident; the token is a read capability for public data only.
    db.execute(
        """CREATE TABLE shares (
            token TEXT PRIMARY KEY,
            incident TEXT NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT,
            revoked_at TEXT
        )"""
    )
    db.execute("CREATE INDEX shares_incident ON shares (incident)")
    db.execute(
        """CREATE TABLE push_subs (
            endpoint TEXT PRIMARY KEY,
            incident TEXT NOT NULL,
            p256dh TEXT NOT NULL,
            auth TEXT NOT NULL,
            created_at TEXT NOT NULL,
            failures INTEGER NOT NULL DEFAULT 0
        )"""
    )
    db.execute("CREATE INDEX push_subs_incident ON push_subs (incident)")
    # A notification is sent once even when several server processes tail the same log:
    # the process whose INSERT claims the key sends it.
    db.execute(
        """CREATE TABLE push_sent (
            key TEXT PRIMARY KEY,
            incident TEXT NOT NULL,
            sent_at TEXT NOT NULL
        )"""
    )


@migrations()
def m003_access(db: sqlite_utils.Database) -> None:
    # Access control (issue 5). A coordinator's community scopes what they see (NULL: all
    # communities); password_hash is an argon2id hash for coordinators who log in.
    db.execute("ALTER TABLE people ADD COLUMN community TEXT")
    db.execute("ALTER TABLE people ADD COLUMN password_hash TEXT")
    db.execute("ALTER TABLE people ADD COLUMN login TEXT")
    db.execute("CREATE UNIQUE INDEX people_login ON people (login)")
    # A browser login is a device like a phone (it needs an HLC node to write); its token
    # travels in an HttpOnly cookie and expires.
    db.execute("ALTER TABLE devices ADD COLUMN expires_at TEXT")
    # The scope a device was last served, by the token it holds, so the next sync can tell
    # it what to delete when the scope shrinks (docs/protocol.md, "Scopes").
    db.execute(
        """CREATE TABLE scope_snapshots (
            node TEXT NOT NULL,
            token TEXT NOT NULL,
            households TEXT,
            incidents TEXT,
            created_at TEXT NOT NULL,
            PRIMARY KEY (node, token)
        ) WITHOUT ROWID"""
    )
    db.execute("CREATE INDEX quarantine_open ON quarantine (error, resolved_at)")


@migrations()
def m004_console(db: sqlite_utils.Database) -> None:
    # The coordinator's roster (#12): entries a phone reported waiting to upload at its
    # last sync, and when it said so.
    db.execute("ALTER TABLE devices ADD COLUMN pending INTEGER")
    db.execute("ALTER TABLE devices ADD COLUMN pending_at TEXT")


@migrations()
def m005_snapshot_seq(db: sqlite_utils.Database) -> None:
    # The log's top when a device was given a scope: its own writes up to there may have
    # been evicted from it, so a re-pull must include them (issue 9).
    db.execute("ALTER TABLE scope_snapshots ADD COLUMN seq INTEGER")


#: Changes that can move a record into or out of someone's scope (``access.read_scope``):
#: assignments, buildings and incidents (community, buildings), a household's building.
SCOPE_CHANGES = (
    "new.coll IN ('assignments', 'buildings', 'incidents') "
    "OR (new.coll = 'households' AND new.field = 'building')"
)


@migrations()
def m006_scoped_pulls(db: sqlite_utils.Database) -> None:
    # The scope sequence (#10): bumped, in the same transaction, by every write that can
    # change a scope, whichever process or command makes it; a scope computed at one
    # value stays right until the value moves (server/db/scopes.py caches by it).
    db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('scope_seq', '0')")
    bump = "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'scope_seq';"
    db.execute(
        f"CREATE TRIGGER scope_seq_history AFTER INSERT ON history WHEN {SCOPE_CHANGES} "
        f"BEGIN {bump} END"
    )
    for name, event in (
        ("insert", "INSERT"),
        ("update", "UPDATE OF community, role"),
        ("delete", "DELETE"),
    ):
        db.execute(
            f"CREATE TRIGGER scope_seq_people_{name} AFTER {event} ON people BEGIN {bump} END"
        )
    # Scoped pulls as index range scans (docs/performance.md): what changed since a
    # cursor in one collection, and the records keyed by the household (or building,
    # incident) after the ``~`` of their id: household status, assignments.
    db.execute("CREATE INDEX winners_coll_seq ON winners (coll, seq)")
    db.execute("CREATE INDEX winners_tail ON winners (coll, substr(id, instr(id, '~') + 1))")
    # Evictions: the records a device's scope anchored before its cursor (a visit's
    # households, a repair's incident), only for the fields that anchor (partial).
    db.execute(
        "CREATE INDEX history_anchor ON history (coll, field, value) WHERE "
        "field = 'household' OR field = 'incident' OR field = 'public'"
    )


@migrations()
def m007_rate_limits(db: sqlite_utils.Database) -> None:
    # Rate-limit counters shared by every server process on the file (#14): one row per
    # counted attempt, pruned after the longest window (server/db/ratelimits.py).
    db.execute(
        """CREATE TABLE rate_hits (
            id INTEGER PRIMARY KEY,
            rule TEXT NOT NULL,
            client TEXT NOT NULL,
            at REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX rate_hits_window ON rate_hits (rule, client, at)")
    db.execute("CREATE INDEX rate_hits_at ON rate_hits (at)")


@migrations()
def m008_device_budgets(db: sqlite_utils.Database) -> None:
    # Per-device write budgets (#22 M1): what each device wrote in the current window of
    # each span (a minute, an hour), updated by the sync's own transaction
    # (server/db/budgets.py). Counters, not a log: two rows per device at most.
    db.execute(
        """CREATE TABLE device_budgets (
            node TEXT NOT NULL,
            span INTEGER NOT NULL,
            win INTEGER NOT NULL,
            changes INTEGER NOT NULL,
            bytes INTEGER NOT NULL,
            PRIMARY KEY (node, span)
        )"""
    )


def migrate(path: str) -> None:
    """Create the database at ``path`` as the release before issue 21 did (WAL mode)."""
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    db = sqlite_utils.Database(conn)
    try:
        migrations.apply(db)
    finally:
        db.close()
