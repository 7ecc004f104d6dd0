"""The rooms of ``server/`` keep their order, and the two engines stay apart.

The contracts are ``[tool.importlinter]`` in pyproject.toml (README, "Layout"): each room
imports only the rooms below it, ``sync/`` and ``schemas/`` import nothing from the server,
the SQLite and PostgreSQL engines never import each other, and only ``server.db`` opens an
engine. ``lint-imports`` reads the imports without running them; on a broken contract its
output names the chain of imports that breaks it.

One name, one thing: there were three classes called ``Scope`` and two called ``Rule``.
"""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_import_keeps_the_rooms_layered_and_the_engines_independent() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    run = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_no_two_classes_of_the_server_share_a_name() -> None:
    where: dict[str, list[str]] = {}
    for path in sorted((ROOT / "server").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                where.setdefault(node.name, []).append(str(path.relative_to(ROOT)))
    assert {name: files for name, files in where.items() if len(files) > 1} == {}
