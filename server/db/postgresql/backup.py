"""``doorstep backup`` and ``doorstep restore`` on PostgreSQL: the twin of
``server.db.backup``, with the same promises.

A backup is ``pg_dump -Fc``: one consistent snapshot of the database while the servers
run (pg_dump reads in one REPEATABLE READ transaction: a sync committed during the dump
is either wholly in it or not). It is written to a temporary name, checked with
``pg_restore --list`` (the archive is readable and holds the data of ``history``,
``winners`` and ``meta``) and only then renamed into place; the oldest copies beyond
``--keep`` are deleted.

A restore, with every app server stopped, moves the database's schema ``public`` aside
as ``replaced_<time>`` (never deleted: the SQLite restore keeps ``<db>.replaced-<time>``),
restores the backup into a new, empty ``public`` with ``pg_restore`` in one transaction
(a failure puts the old schema back, untouched), upgrades its schema, replays the
decision journal of the replaced schema (``server.db.decisions.replay_all_in``, as on
SQLite; the journal is the table ``decisions``, filled by triggers) and gives the
database a new epoch: phones re-send what they wrote since the backup and pull again
(docs/protocol.md, "Epochs"). Only the database's owner is needed, no superuser and no
CREATEDB: everything happens inside the one database.

pg_dump and pg_restore are PostgreSQL's own client programs: ``$DOORSTEP_PG_BIN``,
else Debian's ``/usr/lib/postgresql/<newest>/bin``, else ``PATH``. pg_dump must be at
least as new as the server. The URL's password is passed in the environment
(``PGPASSWORD``), never on a command line other users can read.
"""

import os
import secrets
import shutil
import subprocess
import tempfile
from collections import Counter
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from server.db.decisions import Entry
from server.db.postgresql.core import connect, redact
from server.db.postgresql.dialect import PgConn

__all__ = ["SUFFIX", "backup", "redact", "restore", "tool"]

SUFFIX = ".dump"
#: The archive must hold these tables' data, or it is not a Doorstep backup.
REQUIRED = ("history", "winners", "meta")


def tool(name: str) -> str:
    """The path of PostgreSQL's client program ``name`` (pg_dump, pg_restore).

    Raises:
        FileNotFoundError: with what to install.
    """
    env = os.environ.get("DOORSTEP_PG_BIN", "").strip()
    candidates = [Path(env) / name] if env else []
    candidates += sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
        reverse=True,
    )
    for path in candidates:
        if path.exists():
            return str(path)
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(
        f"{name} not found: install PostgreSQL's client programs (Debian: apt-get install "
        "postgresql-client) or set DOORSTEP_PG_BIN to their directory"
    )


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, and the environment that carries the password."""
    env = dict(os.environ)
    password = urlsplit(url).password
    if password is not None:
        env["PGPASSWORD"] = unquote(password)
    return redact(url), env


def _run(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)


def _first_line(out: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    return lines[0] if lines else f"exit status {out.returncode}"


def _toc(path: str | Path) -> tuple[str, list[str]]:
    """``pg_restore --list`` of an archive: (``ok`` or why it cannot be trusted, its
    entries)."""
    out = _run([tool("pg_restore"), "--list", str(path)], dict(os.environ))
    if out.returncode != 0:
        return _first_line(out), []
    entries = [line for line in out.stdout.splitlines() if line and not line.startswith(";")]
    data = {line.split()[-2] for line in entries if " TABLE DATA " in line}
    missing = [t for t in REQUIRED if t not in data]
    return (f"it holds no data for {missing}" if missing else "ok"), entries


def check(path: str | Path) -> str:
    """``pg_restore --list`` of an archive: ``ok`` or why it cannot be trusted."""
    return _toc(path)[0]


def _is_schema_public(entry: str) -> bool:
    """The archive's entries that create ``public`` itself (or its comment, its grants):
    the restore makes a new empty ``public`` of its own."""
    words = entry.split()
    return (len(words) > 5 and words[3:6] == ["SCHEMA", "-", "public"]) or (
        len(words) > 6 and words[3] in ("ACL", "COMMENT") and words[5:7] == ["SCHEMA", "public"]
    )


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _set_meta(url: str, pairs: list[tuple[str, str]]) -> None:
    with connect(url) as raw:
        PgConn(raw).executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            pairs,
        )


def backup(url: str, final: Path, at: datetime) -> None:
    """Dump the database at ``url`` into ``final`` (``server.db.backup.backup`` names it,
    rotates and reports); ``final`` appears only once checked.

    Raises:
        RuntimeError: pg_dump failed or the archive failed its check; the message says why.
    """
    import psycopg

    target, env = _libpq(url)
    partial = final.with_name(final.name + ".partial")
    partial.unlink(missing_ok=True)
    # Only ``public``: not the schemas earlier restores set aside.
    out = _run(
        [tool("pg_dump"), "-Fc", "--schema", "public", "-f", str(partial), "--dbname", target],
        env,
    )
    if out.returncode != 0:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"pg_dump failed: {_first_line(out)}")
    verdict = check(partial)
    if verdict != "ok":
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"the dump failed its check (pg_restore --list): {verdict}")
    with open(partial, "rb") as f:
        os.fsync(f.fileno())
    partial.rename(final)
    try:
        _set_meta(url, [("last_backup_at", _iso(at)), ("last_backup_path", str(final))])
    except (OSError, psycopg.Error) as exc:
        raise RuntimeError(f"the backup {final} is good, but recording it failed: {exc}") from exc


def _servers(conn: PgConn) -> int:
    """Other connections of Doorstep servers to this database (application_name)."""
    sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND application_name = 'doorstep'"
    )
    return int(conn.execute(sql).fetchone()[0])


def _aside(url: str, schema: str) -> bool:
    """Move ``public`` aside as ``schema`` and make a new empty ``public``; False when
    the database holds no Doorstep tables (nothing to keep: restore into it as it is).

    Raises:
        RuntimeError: Doorstep servers are still connected.
    """
    with connect(url) as raw:
        conn = PgConn(raw)
        conn.execute("SET application_name = 'doorstep restore'")
        busy = _servers(conn)
        if busy:
            raise RuntimeError(
                f"{busy} connection(s) of Doorstep servers are open on this database: stop "
                "every app server first (systemctl stop 'doorstep@*' doorstep)"
            )
        if not conn.execute("SELECT to_regclass('public.history') IS NOT NULL").fetchone()[0]:
            return False
        with raw.transaction():
            conn.execute(f'ALTER SCHEMA public RENAME TO "{schema}"')
            conn.execute("CREATE SCHEMA public")
        return True


def _back(url: str, schema: str) -> None:
    """Undo ``_aside`` after a failed pg_restore: the old ``public`` comes back."""
    with connect(url) as raw, raw.transaction():
        raw.execute("DROP SCHEMA public CASCADE")
        raw.execute(f'ALTER SCHEMA "{schema}" RENAME TO public')


def _finish(
    url: str, schema: str | None, epoch: str, meta: list[tuple[str, str]]
) -> tuple[Counter[str], bool]:
    """Upgrade the restored schema, replay the replaced schema's journal, set the new
    epoch: one transaction after the migrations. (decisions replayed, journal found)"""
    from server.db.decisions import replay_all_in
    from server.db.postgresql.core import migrate

    # An older backup gets the newer schema, as at every start.
    migrate(url)
    with connect(url) as raw, raw.transaction():
        conn = PgConn(raw)
        conn.dialect.order_in(conn)  # the replay may append assignment changes to the log
        entries = None if schema is None else _entries_in(conn, schema)
        after = conn.execute("SELECT coalesce(max(id), 0) FROM decisions").fetchone()[0]
        replayed = replay_all_in(conn, entries or [])
        if entries is not None:
            _carry_in(conn, entries, after)
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [("epoch", epoch), *meta],
        )
    return replayed, entries is not None


def _entries_in(conn: PgConn, schema: str) -> list[Entry] | None:
    """Every entry of the journal of ``schema`` (the replaced database kept aside by a
    restore), in order; None if it has no journal."""
    table = f'"{schema}".decisions'
    if not conn.execute("SELECT to_regclass(?) IS NOT NULL", (table,)).fetchone()[0]:
        return None
    rows = conn.execute(f"SELECT id, at, kind, data FROM {table} ORDER BY id")
    return [(int(r[0]), r[1], r[2], r[3]) for r in rows]


def _carry_in(conn: PgConn, entries: list[Entry], after: int) -> None:
    """Make ``entries`` (the replaced database's journal) this database's journal: drop
    what was journaled after id ``after`` (the replay's own echoes: replaying writes to
    tables whose triggers journal), add the entries this journal lacks with their ids,
    and move the identity past them, as SQLite's restore keeps its journal file."""
    conn.execute("DELETE FROM decisions WHERE id > ?", (after,))
    if entries:
        conn.executemany(
            "INSERT INTO decisions (id, at, kind, data) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO NOTHING",
            entries,
        )
    conn.execute(
        "SELECT setval(pg_get_serial_sequence('decisions', 'id'), "
        "coalesce((SELECT max(id) FROM decisions), 0) + 1, false)"
    )


def restore(src: Path, url: str, at: datetime, stamp: str) -> dict:
    """Install the archive ``src`` as the database at ``url`` with a new epoch (see the
    module docstring); the report of ``server.db.backup.restore``.

    Raises:
        RuntimeError: the archive fails its check, servers are still connected, or
            pg_restore failed (then the database is as it was).
    """
    import psycopg

    verdict, entries = _toc(src)
    if verdict != "ok":
        raise RuntimeError(
            f"{src} fails its check (pg_restore --list), not restoring it: {verdict}"
        )
    schema = f"replaced_{stamp.lower()}"
    try:
        moved = _aside(url, schema)
    except (OSError, psycopg.Error) as exc:
        raise RuntimeError(f"cannot prepare {redact(url)}: {str(exc).splitlines()[0]}") from exc
    target, env = _libpq(url)
    with tempfile.NamedTemporaryFile("w", suffix=".list", encoding="utf-8") as listing:
        listing.write("".join(f"{e}\n" for e in entries if not _is_schema_public(e)))
        listing.flush()
        out = _run(
            [
                tool("pg_restore"),
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                "--use-list",
                listing.name,
                "--dbname",
                target,
                str(src),
            ],
            env,
        )
    if out.returncode != 0:
        if moved:
            _back(url, schema)
        raise RuntimeError(f"pg_restore failed, the database is as it was: {_first_line(out)}")
    epoch = secrets.token_hex(8)
    meta = [("restored_at", _iso(at)), ("restored_from", str(src))]
    try:
        replayed, found = _finish(url, schema if moved else None, epoch, meta)
    except (RuntimeError, OSError, psycopg.Error) as exc:
        # The replay or the new epoch failed: put the old schema back rather than leave
        # a restored copy whose journal now lives only in the schema set aside.
        if moved:
            _back(url, schema)
        raise RuntimeError(
            f"the journal replay failed, the database is as it was: {str(exc).splitlines()[0]}"
        ) from exc
    return {
        "restored": str(src),
        "db": redact(url),
        "epoch": epoch,
        "replaced": f"schema {schema}" if moved else None,
        "journal": f"{schema}.decisions" if found else None,
        "replayed": dict(replayed),
    }
