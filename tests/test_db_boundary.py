"""All SQL lives in ``server/db/``: no other server module holds a query, a connection,
a cursor or a lock, and every connection is opened one way (``server.db.sqlite.engine``)."""

import ast
import re
from pathlib import Path

import pytest

from server.db import connect_sync

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "server"
DB = SERVER / "db"

_SQL = re.compile(
    r"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|PRAGMA|BEGIN|COMMIT|ROLLBACK|WITH)\s",
)
_SQL_ANYWHERE = re.compile(
    r"\b(SELECT \S.* FROM|INSERT (OR \w+ )?INTO|DELETE FROM|UPDATE \w+ SET)\b"
)
#: Names that only code holding a connection would use.
_CONNECTION_NAMES = {
    "execute",
    "executemany",
    "execute_fetchall",
    "fetchone",
    "fetchall",
    "_write_lock",
    "_read_lock",
    "_writer",
    "_reader",
}


def _outside_db() -> list[Path]:
    return sorted(p for p in SERVER.rglob("*.py") if DB not in p.parents)


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append((node.lineno, node.value))
    return out


def _docstrings(tree: ast.AST) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = node.body[0] if node.body else None
            if isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant):
                lines.add(doc.lineno)
    return lines


def test_the_boundary_check_sees_sql_where_it_is() -> None:
    # A check that finds nothing anywhere could not fail: it must find the SQL in db/.
    found = [
        p
        for p in DB.rglob("*.py")
        if any(
            _SQL.match(s) or _SQL_ANYWHERE.search(s) for _, s in _strings(ast.parse(p.read_text()))
        )
    ]
    assert len(found) >= 8


@pytest.mark.parametrize("path", _outside_db(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_sql_outside_server_db(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = _docstrings(tree)
    bad = [
        f"{path.name}:{line}: {text[:60]!r}"
        for line, text in _strings(tree)
        if line not in docs and (_SQL.match(text) or _SQL_ANYWHERE.search(text))
    ]
    assert not bad, "SQL belongs in server/db/: " + "; ".join(bad)


@pytest.mark.parametrize("path", _outside_db(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_connection_cursor_or_lock_outside_server_db(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            drivers = ("sqlite3", "sqlite_utils", "psycopg", "psycopg_pool")
            if any(n.split(".")[0] in drivers for n in names):
                bad.append(f"line {node.lineno}: imports a database driver")
        elif isinstance(node, ast.Attribute) and node.attr in _CONNECTION_NAMES:
            bad.append(f"line {node.lineno}: .{node.attr}")
    assert not bad, f"{path.name} touches the database directly: " + "; ".join(bad)


def test_connections_are_opened_only_by_server_db_core() -> None:
    opened = [
        str(p.relative_to(ROOT))
        for p in SERVER.rglob("*.py")
        if re.search(r"\bsqlite3\.connect\(|sqlite_utils\.Database\(\s*(path|str)", p.read_text())
    ]
    assert opened == ["server/db/sqlite/engine.py"]


def test_postgresql_connections_are_opened_only_by_server_db_postgresql_core() -> None:
    # ``listen`` keeps one asyncio connection of its own, outside the pool, for LISTEN.
    opened = sorted(
        str(p.relative_to(ROOT))
        for p in SERVER.rglob("*.py")
        if re.search(
            r"\bpsycopg\.(connect|AsyncConnection\.connect)\(|\bConnectionPool\(", p.read_text()
        )
    )
    assert opened == ["server/db/postgresql/core.py", "server/db/postgresql/listen.py"]


def test_every_connection_has_foreign_keys_on_and_full_sync(tmp_path: Path) -> None:
    conn = connect_sync(str(tmp_path / "x.db"))
    try:
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
        assert conn.execute("PRAGMA synchronous").fetchone() == (2,)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    finally:
        conn.close()
