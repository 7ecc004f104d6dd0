"""``doorstep backup`` and ``doorstep restore``, on either engine.

A backup is an online, consistent copy of the database while the servers run, written
to a temporary name, checked and only then renamed into place; the oldest copies beyond
``--keep`` are deleted. How it is copied and checked is each engine's own, in its
folder: SQLite's backup API and ``PRAGMA integrity_check`` (``server.db.sqlite.backup``),
``pg_dump`` / ``pg_restore`` (``server.db.postgresql.backup``). This module names the
files, keeps the newest N and, on SQLite, replays the decision journal after a restore.

A restore installs a backup in place of the database and gives it a new **epoch**, which
every sync answer carries. A phone that sees a new epoch re-sends the changes of its own
that the server had accepted (it keeps them for 14 days), resets its cursor and pulls
again, so nothing acknowledged after the backup is lost and no gap in the sequence is
skipped (docs/protocol.md, "Epochs"). Server-side decisions taken after the backup
(revocations, logouts, enrolments, assignments, resident links) come back from the
decision journal beside the database (server/decisions.py).

The backups are ``doorstep-<time>.db`` (SQLite) or ``doorstep-<time>.dump`` (PostgreSQL).
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import time
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from server.db import decisions
from server.db import postgresql as pg
from server.db.sqlite import backup as sqlite_backup
from server.db.sqlite.engine import connect_sync, exclusive

__all__ = ["BackupError", "backup", "prune", "restore"]

PREFIX = "doorstep-"
SUFFIX = sqlite_backup.SUFFIX


class BackupError(Exception):
    """A backup or restore that must not be trusted; the message says why."""


def _stamp(at: datetime) -> str:
    return at.strftime("%Y%m%dT%H%M%S") + f"{at.microsecond // 1000:03d}Z"


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def backups(out: str | Path, suffix: str = SUFFIX) -> list[Path]:
    """Backups in ``out``, oldest first (their names sort by time); ``suffix``: ``.db``
    for SQLite's, ``.dump`` for PostgreSQL's."""
    return sorted(Path(out).glob(f"{PREFIX}*{suffix}"))


def prune(out: str | Path, keep: int, suffix: str = SUFFIX) -> list[Path]:
    """Delete all but the newest ``keep`` backups; returns what was deleted."""
    old = backups(out, suffix)[:-keep] if keep > 0 else []
    for p in old:
        p.unlink(missing_ok=True)
    return old


def backup(db: str | Path, out: str | Path, keep: int = 0, now: datetime | None = None) -> Path:
    """Take one verified backup of ``db`` into the directory ``out``.

    Args:
        db: The live database (the server may be running).
        out: Directory for backups; created if missing.
        keep: Keep only the newest ``keep`` backups (0: keep all).
        now: Time for the file name (tests inject it).

    Returns:
        The path of the new backup.

    Raises:
        BackupError: the database is missing or the copy failed its integrity check.
    """
    if pg.is_url(str(db)):
        return _pg_backup(str(db), out, keep, now)
    if not Path(db).exists():
        raise BackupError(f"no database at {db}; check --db or DOORSTEP_DB")
    at = now or datetime.now(UTC)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    final = out / f"{PREFIX}{_stamp(at)}{SUFFIX}"
    try:
        sqlite_backup.take(
            db, final, [("last_backup_at", _iso(at)), ("last_backup_path", str(final))]
        )
    except RuntimeError as exc:
        raise BackupError(str(exc)) from None
    _fsync_dir(out)
    if keep:
        prune(out, keep)
    return final


def _pg_backup(url: str, out: str | Path, keep: int, now: datetime | None) -> Path:
    from server.db.postgresql import backup as pg_backup

    at = now or datetime.now(UTC)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    final = out / f"{PREFIX}{_stamp(at)}{pg_backup.SUFFIX}"
    try:
        pg_backup.backup(url, final, at)
    except (RuntimeError, FileNotFoundError) as exc:
        raise BackupError(str(exc)) from None
    _fsync_dir(out)
    if keep:
        prune(out, keep, pg_backup.SUFFIX)
    return final


def _fsync_dir(out: Path) -> None:
    dir_fd = os.open(out, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def backup_every(db: str, out: str, keep: int, interval: float, log=print) -> None:
    """Back up every ``interval`` seconds until interrupted; a failed round is retried."""
    while True:
        started = time.monotonic()
        try:
            log(f"backup: {backup(db, out, keep)}")
        except (BackupError, sqlite3.Error, OSError) as exc:
            log(f"backup failed, retrying next round: {exc}")
        time.sleep(max(0.0, interval - (time.monotonic() - started)))


#: What a restore cannot bring back; printed by ``doorstep restore`` and in
#: docs/operations.md.
CANNOT_KNOW = (
    "changes a phone or dashboard sent after the backup come back only when that device "
    "syncs again (it re-sends its accepted changes of the last 14 days on the new epoch); "
    "a device that was wiped, reset or not opened for 14 days cannot re-send them",
    "changes rejected into quarantine after the backup, and their review decisions",
    "Web Push subscriptions made after the backup (residents subscribe again)",
    "device last-seen times and the rate-limit state",
)


def restore(src: str | Path, db: str | Path, now: datetime | None = None) -> dict:
    """Install the backup ``src`` as the database ``db`` with a new epoch; replay decisions.

    The server must be stopped: on SQLite every process that has the database open holds
    a shared lock (``core.exclusive``), and the restore is refused while one does, as
    PostgreSQL's is while servers are connected. The database being replaced is kept
    beside it as ``<db>.replaced-<time>`` (with its -wal and -shm), never deleted; on
    PostgreSQL as the schema ``replaced_<time>`` of the same database
    (``server.db.postgresql.backup``).

    Returns:
        A report: the new epoch, the replaced file, decisions replayed by kind, what the
        restore cannot know, and the decision journal's path (or that there was none).

    Raises:
        BackupError: the backup is missing or fails its integrity check, or a server
            has the database open.
    """
    src = Path(src)
    if not src.exists():
        raise BackupError(f"no backup at {src}")
    if pg.is_url(str(db)):
        from server.db.postgresql import backup as pg_backup

        at = now or datetime.now(UTC)
        try:
            report = pg_backup.restore(src, str(db), at, _stamp(at))
        except (RuntimeError, FileNotFoundError) as exc:
            raise BackupError(str(exc)) from None
        return {**report, "cannot_know": list(CANNOT_KNOW)}
    db = Path(db)
    verdict = sqlite_backup.integrity(src)
    if verdict != "ok":
        raise BackupError(f"{src} fails its integrity check, not restoring it: {verdict}")
    db.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(db) as alone:
        if not alone:
            raise BackupError(
                f"a Doorstep server or command has {db} open; nothing was changed: stop "
                "every server first (systemctl stop 'doorstep@*' doorstep), then restore"
            )
        return _restore_file(src, db, now or datetime.now(UTC))


def _restore_file(src: Path, db: Path, at: datetime) -> dict:
    """``restore`` of a SQLite file, once no other process has it open."""
    replaced = sqlite_backup.install(src, db, _stamp(at))
    epoch = secrets.token_hex(8)
    journal = decisions.journal_path(db)
    with closing(connect_sync(str(db))) as conn:
        replayed: Counter[str] = sqlite_backup.replay(conn, journal)
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [("epoch", epoch), ("restored_at", _iso(at)), ("restored_from", str(src))],
        )
    return {
        "restored": str(src),
        "db": str(db),
        "epoch": epoch,
        "replaced": str(replaced) if replaced else None,
        "journal": journal if Path(journal).exists() else None,
        "replayed": dict(replayed),
        "cannot_know": list(CANNOT_KNOW),
    }
