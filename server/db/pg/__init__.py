"""The PostgreSQL backend (issue 14), selected by a ``postgresql://…`` value of ``--db``.

This is the foundation the rest of the port builds on, not the whole port:

- ``core``: the one way to open PostgreSQL (``connect``, ``PgDatabase``: a pool with the
  settings in one place) and the ordering lock every log append takes;
- ``migrations``: the versioned SQL runner over ``sql/NNN_name.sql``;
- ``changes``: the change log's write path (history + merge into winners) and its pull.

What is not ported yet refuses with ``NotPortedError`` (one line, no traceback);
docs/postgresql.md lists it module by module. This module imports no driver, so the
command line can tell a URL from a file for free.
"""

__all__ = ["NotPortedError", "is_url", "not_ported"]

_SCHEMES = ("postgresql://", "postgres://")


def is_url(db: str) -> bool:
    """True when ``--db`` names a PostgreSQL database rather than a SQLite file."""
    return db.startswith(_SCHEMES)


class NotPortedError(RuntimeError):
    """A command or feature that does not run on PostgreSQL yet (docs/postgresql.md)."""


def not_ported(what: str) -> NotPortedError:
    """The one-line refusal for ``what`` on PostgreSQL."""
    return NotPortedError(
        f"{what} does not run on PostgreSQL yet: server/db/ is being ported "
        "(docs/postgresql.md, 'What is left to port'); use a SQLite file for now, or "
        "`doorstep migrate --db postgresql://…` to prepare the database"
    )
