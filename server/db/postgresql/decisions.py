"""The decision journal on PostgreSQL: what only PostgreSQL's restore needs.

On SQLite the journal is a second file filled by TEMP triggers; here it is the table
``decisions`` of the same database, filled by permanent triggers (same kinds, same
payloads). ``doorstep restore`` installs a backup, then replays every decision the
replaced database had journaled (``server.db.decisions.replay_in``, written once for
both engines), so a revocation, a logout, an enrolment, an ended assignment or a
resident link made after the backup holds after the restore
(``server.db.postgresql.backup``).

Replaying writes to ``devices``, ``people``, … whose triggers journal again; the replay's
own entries are dropped and the replaced database's journal is carried over whole
(``carry_in``), as SQLite's restore keeps using the same journal file.
"""

from collections import Counter
from collections.abc import Sequence

from server.db import changes, decisions
from server.db.decisions import Entry
from server.db.postgresql.dialect import PgConn

__all__ = ["Entry", "carry_in", "entries_in", "replay_in", "top_in"]


def entries_in(conn: PgConn, schema: str | None = None) -> list[Entry] | None:
    """Every journal entry, in order: of the current schema, or of ``schema`` (the
    replaced database kept aside by a restore); None if it has no journal."""
    table = f'"{schema}".decisions' if schema else "decisions"
    if not conn.execute("SELECT to_regclass(?) IS NOT NULL", (table,)).fetchone()[0]:
        return None
    rows = conn.execute(f"SELECT id, at, kind, data FROM {table} ORDER BY id")
    return [(int(r[0]), r[1], r[2], r[3]) for r in rows]


def replay_in(conn: PgConn, entries: Sequence[Entry]) -> Counter[str]:
    """``decisions.replay_in`` inside the caller's transaction, which must hold the log's
    ordering lock: the assignment changes go through the log's append."""
    counts, appended = decisions.replay_in(conn, entries)
    if appended:
        changes.apply_in(conn, appended)
    return counts


def carry_in(conn: PgConn, entries: Sequence[Entry], after: int) -> None:
    """Make ``entries`` (the replaced database's journal) this database's journal: drop
    what was journaled after id ``after`` (the replay's own echoes), add the entries this
    journal lacks with their ids, and move the identity past them."""
    conn.execute("DELETE FROM decisions WHERE id > ?", (after,))
    if entries:
        conn.executemany(
            "INSERT INTO decisions (id, at, kind, data) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO NOTHING",
            list(entries),
        )
    conn.execute(
        "SELECT setval(pg_get_serial_sequence('decisions', 'id'), "
        "coalesce((SELECT max(id) FROM decisions), 0) + 1, false)"
    )


def top_in(conn: PgConn) -> int:
    """The journal's last id (0 when empty)."""
    return int(conn.execute("SELECT coalesce(max(id), 0) FROM decisions").fetchone()[0])
