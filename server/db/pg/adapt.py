"""Small PostgreSQL helpers the ported data modules share (docs/postgresql.md, "How a
module is ported"): row counts from status strings, JSON-quoted id lists, and the
numbering of SQLite WHERE fragments built by ``server.db.scopes``.

``sqlite_fragment`` is a stopgap: it turns a fragment of ``scopes.people_filter`` /
``scopes.record_filter`` (SQLite text, ``?`` placeholders) into PostgreSQL text with
``$n`` placeholders, until ``scopes`` offers PostgreSQL variants of them. It knows
exactly the constructs those fragments use and refuses anything else, so a new
construct in ``scopes`` fails loudly in the differential tests instead of silently.
"""

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

__all__ = ["changed", "quoted", "sqlite_fragment"]

_encode = msgspec.json.encode


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


# The constructs of scopes' fragments, in the order they may appear.
_TOKENS = re.compile(
    r"\(SELECT json_quote\(value\) FROM json_each\(\?\)\)"  # quoted ids of a JSON array
    r"|\(SELECT value FROM json_each\(\?\)\)"  # ids of a JSON array
    r"|substr\((?P<a>[\w.]+), 1, instr\((?P=a), '~'\) - 1\)"  # the part before '~'
    r"|instr\("
    r"|\?"
)
_UNKNOWN = re.compile(r"json_\w+\(|instr\(|\bCAST\(|\bLIKE\b|\bGLOB\b", re.IGNORECASE)


def sqlite_fragment(sql: str, args: Sequence[Any], start: int) -> tuple[str, list[Any]]:
    """A SQLite WHERE fragment of ``scopes`` as PostgreSQL text numbered from ``$start``.

    - ``(SELECT value FROM json_each(?))`` → ``(SELECT unnest($n::text[]))``, the JSON
      array argument decoded to a list;
    - ``(SELECT json_quote(value) FROM json_each(?))`` → the same with each element
      quoted in Python (``quoted``), so it compares byte for byte with ``winners.value``;
    - ``substr(x, 1, instr(x, '~') - 1)`` → ``substr(x, 1, greatest(strpos(x, '~') - 1,
      0))``: SQLite answers '' when there is no '~', PostgreSQL refuses a negative length;
    - ``instr(`` → ``strpos(`` (same argument order; ``winners_tail``'s expression);
    - the fragment ``1`` (everyone) → ``true``.

    Raises:
        ValueError: the fragment uses a construct this function does not know.
    """
    if sql.strip() == "1":
        return "true", []
    out: list[Any] = []
    it = iter(args)

    def sub(m: re.Match[str]) -> str:
        token = m.group(0)
        if m.group("a"):
            col = m.group("a")
            return f"substr({col}, 1, greatest(strpos({col}, '~') - 1, 0))"
        if token == "instr(":
            return "strpos("
        arg = next(it)
        if token == "?":
            out.append(arg)
            return f"${start + len(out) - 1}"
        values = json.loads(arg)
        out.append(quoted(values) if "json_quote" in token else [str(v) for v in values])
        return f"(SELECT unnest(${start + len(out) - 1}::text[]))"

    text = _TOKENS.sub(sub, sql)
    if next(it, _END) is not _END or _UNKNOWN.search(text):
        raise ValueError(f"scope fragment not understood for PostgreSQL: {sql[:80]!r}")
    return text, out


_END = object()
