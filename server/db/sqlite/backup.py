"""``doorstep backup`` and ``doorstep restore`` on SQLite: the file work of
``server.db.backup``, which names the files, keeps the newest N and replays decisions.

A backup is an online, consistent copy made with SQLite's backup API while the server
runs (one read snapshot: a sync committed during the copy is either wholly in it or not),
written to a temporary name, checked with ``PRAGMA integrity_check`` and only then renamed
into place. A restore moves the database aside as ``<db>.replaced-<time>`` (with its -wal
and -shm, never deleted), copies the backup into place and brings its schema up to date,
as at every start (``migrate``): an older backup gets the newer schema; ``replay`` then
applies the decision journal file beside it.
"""

import os
import sqlite3
from contextlib import closing
from pathlib import Path

from server.db.sqlite.engine import connect_readonly, connect_sync, migrate

__all__ = ["SUFFIX", "install", "integrity", "take"]

SUFFIX = ".db"


def integrity(path: str | Path) -> str:
    """``PRAGMA integrity_check`` of a database file: ``ok`` or the first problems."""
    try:
        with closing(connect_readonly(path)) as conn:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError as exc:  # not a database at all, or unreadable
        return str(exc)
    return "; ".join(r[0] for r in rows[:5])


def _copy(src_path: str | Path, dst_path: Path) -> None:
    """Copy a database with the backup API into a fresh single file (no WAL)."""
    dst_path.unlink(missing_ok=True)
    with (
        closing(connect_readonly(src_path)) as src,
        closing(connect_sync(str(dst_path))) as dst,
    ):
        src.backup(dst)  # one step: one read snapshot, so the copy is consistent
        dst.execute("PRAGMA journal_mode=DELETE")
    with open(dst_path, "rb") as f:
        os.fsync(f.fileno())


def take(db: str | Path, final: Path, meta: list[tuple[str, str]]) -> None:
    """Copy the live database ``db`` into ``final``, checked, and note ``meta`` in it.

    Raises:
        RuntimeError: the copy failed its integrity check (nothing is left at ``final``).
    """
    partial = final.with_name(final.name + ".partial")
    _copy(db, partial)
    verdict = integrity(partial)
    if verdict != "ok":
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"the copy of {db} failed its integrity check: {verdict}")
    partial.rename(final)
    with closing(connect_sync(str(db))) as conn:
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            meta,
        )


def install(src: Path, db: Path, stamp: str) -> Path | None:
    """Put the backup ``src`` in place of ``db`` (no other process has it open) with the
    newest schema; the path the replaced database was moved to, if there was one."""
    replaced = None
    if db.exists():
        replaced = db.with_name(f"{db.name}.replaced-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{db}{suffix}")
            if part.exists():
                part.rename(f"{replaced}{suffix}")
    staged = db.with_name(db.name + ".restoring")
    _copy(src, staged)
    staged.rename(db)
    migrate(str(db))  # an older backup gets the newer schema, as at every start
    return replaced
