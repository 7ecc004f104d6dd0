"""Small PostgreSQL helpers the ported data modules share (docs/postgresql.md, "How a
module is ported"): both dialects of a statement that differs only in its placeholders,
row counts from status strings, and JSON-quoted id lists.

No driver is imported here: the SQLite modules import this one at start.
"""

import re
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

__all__ = ["changed", "dialects", "execute_in", "fetch_in", "numbered", "quoted"]

_encode = msgspec.json.encode

_PLACEHOLDER = re.compile(r"'[^']*'|\?")


def numbered(sql: str, start: int = 1) -> str:
    """SQLite's ``?`` placeholders as PostgreSQL's ``$start, $start+1, …`` (a ``?`` inside
    a quoted literal stays as it is)."""
    n = start - 1

    def sub(m: re.Match[str]) -> str:
        nonlocal n
        if m.group(0) != "?":
            return m.group(0)
        n += 1
        return f"${n}"

    return _PLACEHOLDER.sub(sub, sql)


def dialects(sql: str) -> dict[str, str]:
    """``{"sqlite": sql, "postgresql": sql numbered}``, for a statement whose dialects
    differ only in their placeholders; modules pick one by ``db.dialect``."""
    return {"sqlite": sql, "postgresql": numbered(sql)}


def changed(status: int | str) -> int:
    """Rows a write changed: SQLite's ``rowcount``, or the count at the end of
    PostgreSQL's status string (``'UPDATE 3'``, ``'INSERT 0 1'``, ``'DELETE 0'``)."""
    if isinstance(status, int):
        return status
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def quoted(values: Iterable[str]) -> list[str]:
    """Each value as JSON text, as ``winners.value`` holds it (msgspec's quoting, which is
    SQLite's ``json_quote`` for the ids compared this way)."""
    return [_encode(v).decode() for v in values]


async def fetch_in(conn: Any, dialect: str, sql: str, args: Sequence[Any] = ()) -> list[Any]:
    """The rows of ``sql`` on either backend's async connection (aiosqlite's or asyncpg's),
    for code written once for both; ``sql`` in the connection's dialect."""
    if dialect == "postgresql":
        return list(await conn.fetch(sql, *args))
    return list(await conn.execute_fetchall(sql, args))


async def execute_in(conn: Any, dialect: str, sql: str, args: Sequence[Any] = ()) -> None:
    """Run a statement on either backend's async connection (see ``fetch_in``)."""
    if dialect == "postgresql":
        await conn.execute(sql, *args)
    else:
        await conn.execute(sql, args)
