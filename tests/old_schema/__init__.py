"""The schema of the release before issue 21, frozen, to build the databases the field
holds today: a SQLite file migrated by sqlite-utils to m008 (``sqlite_migrations.py``)
and a PostgreSQL database at 004 by the old SQL runner (``postgresql/NNN_name.sql``,
with its ``schema_migrations`` table: version, name, sha256, applied_at). Never edit."""

import hashlib
from pathlib import Path

from old_schema.sqlite_migrations import migrate as migrate_sqlite

__all__ = ["PG_SQL", "migrate_postgresql", "migrate_sqlite"]

PG_SQL = Path(__file__).resolve().parent / "postgresql"


def migrate_postgresql(url: str) -> None:
    """Bring the empty PostgreSQL database at ``url`` to 004, as the old runner did."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
            "sha256 text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for path in sorted(PG_SQL.glob("*.sql")):
            sql = path.read_text(encoding="utf-8")
            version, name = path.stem.split("_", 1)
            with conn.transaction():
                conn.execute(sql)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, sha256) VALUES (%s, %s, %s)",
                    (int(version), name, hashlib.sha256(sql.encode()).hexdigest()),
                )
