"""What SQLite's schema says its own way (``server.db.migrations`` holds the schema)."""

from typing import Any

from server.db.migrations import SCOPE_CHANGES

__all__ = ["WORDS", "create"]

#: The engine words of the baseline's DDL.
WORDS = {
    # The rowid: max(seq) is O(1), and a new row takes the next value.
    "key": "INTEGER PRIMARY KEY",
    # SQLite's BINARY collation already compares byte by byte.
    "text": "TEXT",
    "int": "INTEGER",
    "real": "REAL",
    "rowless": " WITHOUT ROWID",
    "tail": "substr(id, instr(id, '~') + 1)",
    # SQLite has no limit on an index entry's size.
    "short": "",
    "and_short": "",
}

_BUMP = "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'scope_seq';"


def create(conn: Any) -> None:
    """The scope sequence (#10): bumped, in the same transaction, by every write that can
    change a scope, whichever process or command makes it (server/db/scopes.py caches
    scopes by it)."""
    conn.execute(
        f"CREATE TRIGGER scope_seq_history AFTER INSERT ON history WHEN {SCOPE_CHANGES} "
        f"BEGIN {_BUMP} END"
    )
    for name, event in (
        ("insert", "INSERT"),
        ("update", "UPDATE OF community, role"),
        ("delete", "DELETE"),
    ):
        conn.execute(
            f"CREATE TRIGGER scope_seq_people_{name} AFTER {event} ON people BEGIN {_BUMP} END"
        )
