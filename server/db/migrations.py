"""The schema of both engines, and the one runner that applies it (docs/database.md,
"Schema and migrations").

A step is a numbered blocking function of a ``Conn`` (``server.db.dialect``), written
once for both engines in SQLite's spelling. The few words of DDL that differ (an
integer key that counts, text compared byte by byte, ``WITHOUT ROWID``, a partial
index's size limit) are filled in by ``conn.dialect.ddl``; what exists on one engine
only (PostgreSQL's trigger functions, its decision journal table) is
``conn.dialect.engine_schema``, in the engine's folder (``schema.py``).

The runner's promises, the same on both engines:

- each step runs once, in one write transaction together with its row in
  ``schema_history`` (version, name, when), so a failed step leaves nothing behind and
  is retried whole at the next start;
- the history is read again inside each step's transaction, and the engine makes
  concurrent starts wait for each other (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: the
  session advisory lock ``MIGRATE_LOCK`` around the whole run), so three servers
  starting at once apply each step once;
- a database whose history names a step this version does not know was upgraded by a
  newer Doorstep and is refused by name;
- a database made before this runner (issue 21) is recognised by its old bookkeeping
  (sqlite-utils' ``_sqlite_migrations`` up to m008, or PostgreSQL's ``schema_migrations``
  up to 004), recorded as at the baseline, and goes on from there; step 002 then drops
  the old bookkeeping. Its rows are not touched.

Append new steps to ``STEPS``; never edit one that has shipped.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from server.db.dialect import Conn

__all__ = ["STEPS", "MigrationError", "Step", "applied_in", "migrate_in"]

T = TypeVar("T")


class MigrationError(RuntimeError):
    """The database's schema cannot be brought up to date by this version; says why."""


@dataclass(frozen=True, slots=True)
class Step:
    version: int
    name: str
    run: Callable[[Any], None]

    @property
    def label(self) -> str:
        return f"{self.version:03d}_{self.name}"


# The baseline: the schema of the release before issue 21 (SQLite's m001-m008,
# PostgreSQL's 001-004), written once. ``{text}`` is text compared byte by byte (stamps
# are compared as text by the merge, ids scanned as ranges around '~'), ``{int}`` a
# 64-bit integer, ``{key}`` an integer primary key the database counts (SQLite's rowid;
# PostgreSQL's identity BY DEFAULT, so ``doorstep migrate-db`` can copy a log's seq
# values as they are), ``{short}`` / ``{and_short}`` the size limit of an index on values
# (a PostgreSQL B-tree entry holds ~2.7 kB, a note can be longer; the quoted ids such an
# index is read for always fit). See each engine's ``schema.py``.
BASELINE = (
    # history: every accepted change once, in commit order; seq is the server sequence,
    # hlc UNIQUE makes a re-sent change a no-op.
    """CREATE TABLE history (
        seq {key},
        hlc {text} NOT NULL UNIQUE,
        coll {text} NOT NULL,
        id {text} NOT NULL,
        field {text} NOT NULL,
        value {text} NOT NULL,
        node {text} NOT NULL,
        person {text},
        received_at {text} NOT NULL
    )""",
    "CREATE INDEX history_record ON history (coll, id)",
    # winners: the current value of every field and the seq at which it last changed.
    """CREATE TABLE winners (
        coll {text} NOT NULL,
        id {text} NOT NULL,
        field {text} NOT NULL,
        value {text} NOT NULL,
        hlc {text} NOT NULL,
        seq {int} NOT NULL,
        PRIMARY KEY (coll, id, field)
    ){rowless}""",
    "CREATE UNIQUE INDEX winners_seq ON winners (seq)",
    """CREATE TABLE quarantine (
        qid {key},
        hlc {text},
        node {text},
        person {text},
        coll {text},
        id {text},
        field {text},
        raw {text},
        error {text},
        message {text},
        received_at {text},
        resolved_at {text}
    )""",
    "CREATE UNIQUE INDEX quarantine_stamp ON quarantine (node, hlc, error)",
    "CREATE INDEX quarantine_open ON quarantine (error, resolved_at)",
    # A coordinator's community scopes what they see (NULL: all communities);
    # password_hash is an argon2id hash for coordinators who log in.
    """CREATE TABLE people (
        id {text} PRIMARY KEY,
        name {text},
        role {text},
        created_at {text},
        community {text},
        password_hash {text},
        login {text}
    )""",
    "CREATE UNIQUE INDEX people_login ON people (login)",
    # A browser login is a device like a phone; pending/pending_at: what a phone said it
    # had waiting to upload at its last sync (the coordinator's roster).
    """CREATE TABLE devices (
        node {text} PRIMARY KEY,
        token_hash {text},
        person {text} REFERENCES people (id),
        role {text},
        label {text},
        created_at {text},
        last_seen {text},
        revoked_at {text},
        expires_at {text},
        pending {int},
        pending_at {text}
    )""",
    "CREATE UNIQUE INDEX idx_devices_token_hash ON devices (token_hash)",
    """CREATE TABLE invites (
        code_hash {text} PRIMARY KEY,
        role {text},
        person {text},
        created_at {text},
        expires_at {text},
        used_at {text},
        node {text}
    )""",
    "CREATE TABLE meta (key {text} PRIMARY KEY, value {text})",
    "INSERT INTO meta (key, value) VALUES ('scope_seq', '0') ON CONFLICT (key) DO NOTHING",
    # Records reference each other by id, stored as JSON text in winners.value: every
    # visit of incident X without scanning all visits.
    "CREATE INDEX winners_ref ON winners (coll, field, value){short}",
    # Scoped pulls as index range scans (docs/performance.md): what changed since a
    # cursor in one collection, and the records keyed by the household (or building,
    # incident) after the ``~`` of their id. Queries must use this very expression.
    "CREATE INDEX winners_coll_seq ON winners (coll, seq)",
    "CREATE INDEX winners_tail ON winners (coll, {tail})",
    # Evictions: the records a device's scope anchored before its cursor, only for the
    # fields that anchor (partial).
    "CREATE INDEX history_anchor ON history (coll, field, value) WHERE "
    "(field = 'household' OR field = 'incident' OR field = 'public'){and_short}",
    # One public link per incident; the token is a read capability for public data only.
    """CREATE TABLE shares (
        token {text} PRIMARY KEY,
        incident {text} NOT NULL,
        created_at {text} NOT NULL,
        created_by {text},
        revoked_at {text}
    )""",
    "CREATE INDEX shares_incident ON shares (incident)",
    """CREATE TABLE push_subs (
        endpoint {text} PRIMARY KEY,
        incident {text} NOT NULL,
        p256dh {text} NOT NULL,
        auth {text} NOT NULL,
        created_at {text} NOT NULL,
        failures {int} NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX push_subs_incident ON push_subs (incident)",
    # A notification is sent once even when several server processes tail the same log:
    # the process whose INSERT claims the key sends it.
    """CREATE TABLE push_sent (
        key {text} PRIMARY KEY,
        incident {text} NOT NULL,
        sent_at {text} NOT NULL
    )""",
    # The scope a device was last served, by the token it holds, and the log's top then
    # (docs/protocol.md, "Scopes").
    """CREATE TABLE scope_snapshots (
        node {text} NOT NULL,
        token {text} NOT NULL,
        households {text},
        incidents {text},
        created_at {text} NOT NULL,
        seq {int},
        PRIMARY KEY (node, token)
    ){rowless}""",
    # Rate-limit counters shared by every server process (#14): one row per counted
    # attempt, pruned after the longest window; ``at`` is seconds since the epoch.
    """CREATE TABLE rate_hits (
        id {key},
        rule {text} NOT NULL,
        client {text} NOT NULL,
        at {real} NOT NULL
    )""",
    "CREATE INDEX rate_hits_window ON rate_hits (rule, client, at)",
    "CREATE INDEX rate_hits_at ON rate_hits (at)",
    # Per-device write budgets (#22 M1): what each device wrote in the current window of
    # each span, updated by the sync's own transaction (server/db/budgets.py).
    """CREATE TABLE device_budgets (
        node {text} NOT NULL,
        span {int} NOT NULL,
        win {int} NOT NULL,
        changes {int} NOT NULL,
        bytes {int} NOT NULL,
        PRIMARY KEY (node, span)
    )""",
)

#: Changes that can move a record into or out of someone's scope (``access.read_scope``):
#: what the scope sequence's triggers fire on (each engine's ``schema.py``).
SCOPE_CHANGES = (
    "new.coll IN ('assignments', 'buildings', 'incidents') "
    "OR (new.coll = 'households' AND new.field = 'building')"
)


def _baseline(conn: Conn) -> None:
    for sql in BASELINE:
        conn.execute(conn.dialect.ddl(sql))
    # The scope sequence's triggers (#10) and, on PostgreSQL, the decision journal.
    conn.dialect.engine_schema(conn)


def _one_history(conn: Conn) -> None:
    # The old runners' bookkeeping, now recorded in ``schema_history`` (issue 21).
    conn.execute("DROP TABLE IF EXISTS _sqlite_migrations")
    conn.execute("DROP TABLE IF EXISTS schema_migrations")


#: Every step, in order. Append; never edit one that has shipped.
STEPS: tuple[Step, ...] = (
    Step(1, "baseline", _baseline),
    Step(2, "one_history", _one_history),
)

#: What the release before issue 21 recorded when its schema was complete: then the
#: database holds exactly the baseline.
LEGACY_SQLITE = (
    "m001_core",
    "m002_live",
    "m003_access",
    "m004_console",
    "m005_snapshot_seq",
    "m006_scoped_pulls",
    "m007_rate_limits",
    "m008_device_budgets",
)
LEGACY_POSTGRESQL = ("schema", "rate_limits", "decisions", "device_budgets")

_HISTORY = (
    "CREATE TABLE IF NOT EXISTS schema_history ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
)


def _now() -> str:
    at = datetime.now(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _transaction(conn: Conn, fn: Callable[[Conn], T]) -> T:
    """``fn(conn)`` in one write transaction (``conn`` is in autocommit mode)."""
    conn.dialect.begin_write(conn)
    try:
        out = fn(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return out


def _legacy(conn: Conn) -> str | None:
    """What the old bookkeeping says: None (none there), "baseline" (a complete schema
    of the release before issue 21); raises for an incomplete or a newer one."""
    has = conn.dialect.has_table
    if has(conn, "_sqlite_migrations"):
        names = [
            n
            for (n,) in conn.execute(
                "SELECT name FROM _sqlite_migrations WHERE migration_set = 'doorstep'"
            )
        ]
        expected = LEGACY_SQLITE
    elif has(conn, "schema_migrations"):
        names = [n for (n,) in conn.execute("SELECT name FROM schema_migrations")]
        expected = LEGACY_POSTGRESQL
    else:
        return None
    if sorted(names) == sorted(expected):
        return "baseline"
    if set(names) < set(expected):
        last = sorted(names)[-1] if names else "nothing"
        raise MigrationError(
            f"the database was made by an older Doorstep (its schema stops at {last}): "
            "start it once with the previous release to complete it, then with this one"
        )
    raise MigrationError(
        f"the database has migrations this version does not know "
        f"({sorted(set(names) - set(expected))}): it was upgraded by a newer Doorstep"
    )


def _prepare(conn: Conn, known: Sequence[Step]) -> None:
    conn.execute(_HISTORY)
    done = {v for (v,) in conn.execute("SELECT version FROM schema_history")}
    if not done and _legacy(conn) == "baseline":
        conn.execute(
            "INSERT INTO schema_history (version, name, applied_at) VALUES (?, ?, ?)",
            (STEPS[0].version, STEPS[0].name, _now()),
        )
    unknown = sorted(done - {s.version for s in known})
    if unknown:
        raise MigrationError(
            f"the database has migrations this version does not know ({unknown}): "
            "it was upgraded by a newer Doorstep"
        )


def migrate_in(conn: Conn, steps: Sequence[Step] = STEPS) -> list[str]:
    """Create or upgrade the database of ``conn`` (in autocommit mode; the engine holds
    whatever makes concurrent starts wait); the labels of the steps applied now.

    Raises:
        MigrationError: the database is older than the baseline or newer than this
            version; nothing was changed.
    """
    versions = [s.version for s in steps]
    if len(set(versions)) != len(versions) or versions != sorted(versions):
        raise MigrationError(f"steps must have increasing versions, used once: {versions}")
    _transaction(conn, lambda c: _prepare(c, steps))
    ran = []
    for step in steps:

        def one(c: Conn, step: Step = step) -> bool:
            row = c.execute(
                "SELECT 1 FROM schema_history WHERE version = ?", (step.version,)
            ).fetchone()
            if row is not None:
                return False
            step.run(c)
            c.execute(
                "INSERT INTO schema_history (version, name, applied_at) VALUES (?, ?, ?)",
                (step.version, step.name, _now()),
            )
            return True

        if _transaction(conn, one):
            ran.append(step.label)
    return ran


def applied_in(conn: Conn) -> list[str]:
    """The labels of the steps applied to the database of ``conn``, in order."""
    rows = conn.execute("SELECT version, name FROM schema_history ORDER BY version")
    return [f"{v:03d}_{n}" for v, n in rows]
