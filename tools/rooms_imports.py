"""Rewrite references to the server modules that moved into rooms (issue 21); one-off.

Branches made before the move still name ``server.cli``, ``server/guards.py`` and so on.
Run this on their files after merging them; then delete this script.

    .venv/bin/python tools/rooms_imports.py $(git ls-files '*.py' '*.md' '*.toml' '*.mjs')

It rewrites dotted names (``server.live`` → ``server.live.broker``), paths
(``server/live.py`` → ``server/live/broker.py``) and ``from server import x`` lines, and
prints the lines that still import a renamed class or function, to be fixed by hand.
"""

import re
import sys
from pathlib import Path

MOVES = {
    "app": "http.app",
    "config": "http.config",
    "listener": "http.listener",
    "api": "http.phones",
    "coord": "http.coord",
    "console": "http.console",
    "public": "http.public",
    "people": "http.people",
    "devices": "http.devices",
    "export": "http.export",
    "snapshot": "http.snapshot",
    "metrics": "http.metrics",
    "guards": "guards.caller",
    "auth": "guards.sessions",
    "ratelimit": "guards.ratelimit",
    "security": "guards.security",
    "exchange": "syncing.round_trip",
    "live": "live.broker",
    "resident_stream": "live.residents",
    "push": "live.push",
    "wiring": "live.wiring",
    "progress": "derived.progress",
    "checks": "derived.checks",
    "cli": "ops.cli",
    "admin": "ops.admin",
    "admin_access": "ops.access_commands",
    "demo": "ops.demo",
    "jsonschema": "ops.jsonschema",
}
#: Renamed names: (module after the move, old name) → new name.
RENAMES = {
    ("server.guards.caller", "Scope"): "Caller",
    ("server.guards.caller", "Rule"): "RouteAccess",
    ("server.guards.caller", "rule_of"): "route_access_of",
    ("server.guards.caller", "provide_scope"): "provide_caller",
    ("server.guards.ratelimit", "Rule"): "LimitRule",
    ("server.guards.ratelimit", "Scope"): "ASGIScope",
    ("server.syncing.round_trip", "sync"): "run",
}

_ALT = "|".join(sorted(MOVES, key=len, reverse=True))
_DOTTED = re.compile(rf"(?<![\w./-])server\.({_ALT})\b(?![\w/-])")
_PATH = re.compile(rf"(?<![\w./-])server/({_ALT})\.py\b")
_FROM = re.compile(r"^(\s*)from server import ([\w, ]+)$", re.M)


def _from_server(m: re.Match[str]) -> str:
    indent, names = m.group(1), [n.strip() for n in m.group(2).split(",")]
    lines = []
    for name in names:
        if name in MOVES:
            room, module = MOVES[name].split(".")
            alias = "" if module == name else f" as {name}"
            lines.append(f"{indent}from server.{room} import {module}{alias}")
        else:
            lines.append(f"{indent}from server import {name}")
    return "\n".join(lines)


def rewrite(text: str) -> str:
    text = _DOTTED.sub(lambda m: "server." + MOVES[m.group(1)], text)
    text = _PATH.sub(lambda m: "server/" + MOVES[m.group(1)].replace(".", "/") + ".py", text)
    return _FROM.sub(_from_server, text)


def main(paths: list[str]) -> None:
    for name in paths:
        path = Path(name)
        old = path.read_text()
        new = rewrite(old)
        if new != old:
            path.write_text(new)
            print("rewrote", name)
        for n, line in enumerate(new.splitlines(), 1):
            for (module, was), now in RENAMES.items():
                if f"from {module} import" in line and re.search(rf"\b{was}\b", line):
                    print(f"{name}:{n}: {was} is now {now}: {line.strip()}")
            if re.search(r"\b(exchange|round_trip)\.sync\(", line):
                print(f"{name}:{n}: the round trip is round_trip.run: {line.strip()}")


if __name__ == "__main__":
    main(sys.argv[1:])
