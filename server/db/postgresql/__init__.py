"""The PostgreSQL engine (issue 14), selected by a ``postgresql://…`` value of ``--db``
(``server.db.open_database``). Every module of ``server/db`` is written once for both
engines (blocking functions of a ``Conn``, run by ``read_tx`` / ``write_tx``); what only
PostgreSQL needs lives here:

- ``core``: the one way to open PostgreSQL (``connect``, ``PgDatabase``: a psycopg pool
  with the settings in one place, worker threads);
- ``dialect``: where its SQL differs (``PgDialect``), the ordering lock every log append
  takes (``LOG_LOCK``) and ``PgConn``, which speaks SQLite's spelling;
- ``schema``: what the schema (``server.db.migrations``) says PostgreSQL's way: its types,
  trigger functions and decision journal;
- ``listen``: the tailer's wake-ups (LISTEN/NOTIFY, ``PgDatabase.follow``); ``backup``:
  pg_dump and pg_restore;
- ``doorstep migrate-db`` (a community moved from a SQLite file) reads one engine and
  writes the other, so it lives outside both: ``server.db.move``.

This module imports no driver, so the command line can tell a URL from a file for free.
"""

__all__ = ["is_url", "redact"]

_SCHEMES = ("postgresql://", "postgres://")


def is_url(db: str) -> bool:
    """True when ``--db`` names a PostgreSQL database rather than a SQLite file."""
    return db.startswith(_SCHEMES)


def redact(url: str) -> str:
    """The URL as it may be printed or logged: without its password, whether in the
    user part or a ``password=`` query parameter. Anything that is not a
    ``postgresql://`` URL (a SQLite path) comes back as it is."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    if not is_url(url):
        return url
    parts = urlsplit(url)
    if parts.password is not None:
        user, host = parts.netloc.rsplit("@", 1)
        parts = parts._replace(netloc=f"{user.split(':', 1)[0]}@{host}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(k.lower() == "password" for k, _ in query):
        kept = [(k, v) for k, v in query if k.lower() != "password"]
        parts = parts._replace(query=urlencode(kept, safe="/"))
    return urlunsplit(parts)
