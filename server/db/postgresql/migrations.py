"""The PostgreSQL schema, as numbered SQL files run in order (``sql/NNN_name.sql``).

A small runner rather than a migration tool: the schema is a handful of plain SQL files,
and what the runner must guarantee fits in this page —

- each file runs once, in one transaction together with its row in
  ``schema_migrations`` (version, name, sha256 of its text, when), so a failed file
  leaves nothing behind and is retried whole at the next start;
- a session advisory lock (``MIGRATE_LOCK``) lets three servers start at once: one
  migrates, the others wait and then find nothing to do;
- an applied file whose text changed is refused by name: append a new file instead.

SQLite's schema lives in ``server/db/migrations.py`` (sqlite-utils); each step added
there needs its twin here, and ``tests/test_pg_schema.py`` compares the two.
"""

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from server.db.postgresql.core import MIGRATE_LOCK, connect

__all__ = ["MigrationError", "Step", "applied", "migrate", "migrate_blocking", "steps"]

SQL_DIR = Path(__file__).resolve().parent / "sql"
_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")

_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    sha256 text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    """The database's migrations disagree with the files (edited or missing)."""


@dataclass(frozen=True, slots=True)
class Step:
    version: int
    name: str
    sql: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def steps(directory: Path = SQL_DIR) -> list[Step]:
    """The migration files in version order; a badly named or duplicate one is an error."""
    out: dict[int, Step] = {}
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise MigrationError(f"{path.name}: migration files are named NNN_name.sql")
        version = int(m.group(1))
        if version in out:
            raise MigrationError(f"{path.name}: version {version} is used twice")
        out[version] = Step(version, m.group(2), path.read_text(encoding="utf-8"))
    return [out[v] for v in sorted(out)]


async def migrate(url: str, directory: Path = SQL_DIR) -> list[str]:
    """Create or upgrade the database at ``url``; the names of the steps applied now."""
    todo = steps(directory)
    conn = await connect(url)
    try:
        # No lock_timeout here: a server starting beside one that migrates (a long index
        # build) waits for it rather than failing to start.
        await conn.execute("SET lock_timeout = 0")
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATE_LOCK)
        try:
            await conn.execute(_TABLE)
            done = {
                r["version"]: r
                for r in await conn.fetch("SELECT version, name, sha256 FROM schema_migrations")
            }
            unknown = sorted(set(done) - {s.version for s in todo})
            if unknown:
                raise MigrationError(
                    f"the database has migrations this version does not know ({unknown}): "
                    "it was upgraded by a newer Doorstep"
                )
            ran = []
            for step in todo:
                row = done.get(step.version)
                if row is not None:
                    if row["sha256"] != step.sha256:
                        raise MigrationError(
                            f"migration {step.version:03d}_{step.name}.sql changed after it "
                            "was applied: never edit an applied migration, add a new file"
                        )
                    continue
                async with conn.transaction():
                    await conn.execute(step.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, sha256) VALUES ($1, $2, $3)",
                        step.version,
                        step.name,
                        step.sha256,
                    )
                ran.append(f"{step.version:03d}_{step.name}")
            return ran
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATE_LOCK)
    finally:
        await conn.close()


async def applied(url: str) -> list[str]:
    """The steps applied to the database at ``url``, in order."""
    conn = await connect(url)
    try:
        rows = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    return [f"{r['version']:03d}_{r['name']}" for r in rows]


def migrate_blocking(url: str) -> tuple[list[str], list[str]]:
    """``migrate`` for the command line: (steps applied now, every step applied).

    Runs in a thread of its own, so it works with or without an event loop running in
    the caller's thread (as ``server.db.run``).

    Raises:
        MigrationError: also for the usual driver failures (no server there, a wrong
            database name or password, a bad URL), with the driver's first line.
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    import asyncpg

    async def both() -> tuple[list[str], list[str]]:
        return await migrate(url), await applied(url)

    with ThreadPoolExecutor(1) as pool:
        try:
            return pool.submit(asyncio.run, both()).result()
        except (OSError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise MigrationError(first) from None
