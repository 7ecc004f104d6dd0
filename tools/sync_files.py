"""Which files of server/, sync/ and schemas/ one volunteer sync runs code in.

For the closing note of issue 21 ("the files that one sync passes through"). On the demo
community, with a coordinator's stream open, a volunteer assigned to a building of an
incident pushes one visit; every Python function call is recorded from the request until
its answer, then until the broker has derived the incident's progress (the live fan-out).
The split between the two lists depends on timing; their union does not.

    .venv/bin/python tools/sync_files.py [REPO_ROOT]   # default: this checkout

REPO_ROOT may be an older checkout (``git archive <commit> | tar -x -C DIR``): its modules
are imported instead of this one's, for a before/after figure by the same method.
"""

import contextlib
import importlib
import io
import json
import os
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any


def _entry_points() -> tuple[Any, Any]:
    """``doorstep``'s main and ``create_app``, wherever the checkout keeps them."""
    for cli, app in (("server.ops.cli", "server.http.app"), ("server.cli", "server.app")):
        try:
            return importlib.import_module(cli).main, importlib.import_module(app).create_app
        except ImportError:
            continue
    raise SystemExit("no doorstep command line found")


def main(root: Path) -> None:
    sys.path.insert(0, str(root))
    os.chdir(root)
    cli_main, create_app = _entry_points()
    server = importlib.import_module("server")
    assert server.__file__.startswith(str(root)), server.__file__
    from litestar.testing import TestClient

    from sync.clock import Timestamp, format_stamp
    from sync.ids import uuid7

    seen: set[str] = set()
    on = [False]
    prefixes = tuple(f"{root / d}/" for d in ("server", "sync", "schemas"))

    def record(frame: Any, event: str, _arg: Any) -> None:
        if on[0] and event == "call" and frame.f_code.co_filename.startswith(prefixes):
            seen.add(os.path.relpath(frame.f_code.co_filename, root))

    def cli(*args: str) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert cli_main(list(args)) in (0, None)
        return out.getvalue()

    db = os.path.join(tempfile.mkdtemp(), "trace.db")
    cli("demo", "--db", db)
    with contextlib.closing(sqlite3.connect(db)) as con:
        incident_of = {
            building: incident
            for incident, value in con.execute(
                "SELECT id, value FROM winners WHERE coll='incidents' AND field='buildings'"
            )
            for building in json.loads(value)
        }
        household, building = next(
            (rid, json.loads(value))
            for rid, value in con.execute(
                "SELECT id, value FROM winners WHERE coll='households' AND field='building'"
            )
            if json.loads(value) in incident_of
        )
    invite = json.loads(cli("invite", "--db", db, "--role", "volunteer", "--name", "张三"))
    cli("assign", "--db", db, "--person", invite["person"], "--building", building)

    sys.setprofile(record)
    threading.setprofile(record)
    with TestClient(app=create_app(db=db)) as client:
        phone = client.post("/api/v1/enroll", json={"code": invite["code"], "device": "t"})
        device = phone.json()
        headers = {"Authorization": f"Bearer {device['token']}"}
        counter = [0]

        def stamp() -> str:
            counter[0] += 1
            return format_stamp(Timestamp(int(time.time() * 1000), counter[0], device["node"]))

        def visit() -> dict[str, Any]:
            vid = uuid7()
            fields = {"household": household, "incident": incident_of[building]}
            changes = [
                {"coll": "visits", "id": vid, "field": f, "value": v, "hlc": stamp()}
                for f, v in {**fields, "outcome": "reached"}.items()
            ]
            return {"node": device["node"], "cursor": 0, "changes": changes}

        def fanned_out(cursor: int) -> None:
            deadline = time.monotonic() + 30
            while broker._refreshed_upto < cursor and time.monotonic() < deadline:
                time.sleep(0.05)

        broker = client.app.state.broker
        client.blocking_portal.call(broker.subscribe, "coord")  # a coordinator's stream
        first = client.post("/api/v1/sync", json=visit(), headers=headers)
        fanned_out(first.json()["cursor"])  # first calls (key loading, caches) left out
        on[0] = True
        answer = client.post("/api/v1/sync", json=visit(), headers=headers)
        on[0] = False
        assert answer.status_code == 200 and answer.json()["accepted"] == 3, answer.text
        request = set(seen)
        on[0] = True
        fanned_out(answer.json()["cursor"])
        time.sleep(1.0)  # the push hook, a task of its own
        on[0] = False
    sys.setprofile(None)
    print(f"request → response: {len(request)} files")
    for name in sorted(request):
        print("  ", name)
    print(f"with the live fan-out: {len(seen)} files")
    for name in sorted(seen - request):
        print("  +", name)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parents[1]).resolve())
