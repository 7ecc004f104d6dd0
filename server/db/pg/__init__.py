"""The PostgreSQL backend (issue 14), selected by a ``postgresql://…`` value of ``--db``
(``server.db.open_database``). Each module of ``server/db`` runs on either backend: SQL
side by side chosen by ``db.dialect``, or a twin here where the code differs
(docs/postgresql.md, "How a module is ported").

- ``core``: the one way to open PostgreSQL (``connect``, ``PgDatabase``: a pool with the
  settings in one place) and the ordering lock every log append takes (``LOG_LOCK``);
- ``migrations``: the versioned SQL runner over ``sql/NNN_name.sql``;
- ``changes``, ``syncs``, ``scopes``: the sync path; ``listen``: the tailer's wake-ups;
- ``devices``, ``people``, ``meta``, ``ratelimits``, ``decisions``, ``backup``: twins of
  their SQLite modules; ``adapt``: small helpers shared by the dialects;
- ``migrate_db``: ``doorstep migrate-db``, a community moved from a SQLite file.

This module imports no driver, so the command line can tell a URL from a file for free.
"""

__all__ = ["is_url"]

_SCHEMES = ("postgresql://", "postgres://")


def is_url(db: str) -> bool:
    """True when ``--db`` names a PostgreSQL database rather than a SQLite file."""
    return db.startswith(_SCHEMES)
