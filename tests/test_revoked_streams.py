"""A coordinator stream ends when its device is revoked or its session ends (#9, hole 2):
within 2 s, and no frame carries anything written afterwards. Real server processes."""

import json
import time
from collections.abc import Callable

import httpx
import pytest
from conftest import LiveServer, Phone, Stamper, run_cli
from httpx_sse import connect_sse

from server.ops.access_commands import add_coordinator
from sync.ids import uuid7

PASSWORD = "night shift 3am"
#: The promise: the stream is closed within 2 s of the revocation or logout.
CLOSE_WITHIN = 2.0


@pytest.fixture(scope="module")
def live_server(module_live_server: LiveServer) -> LiveServer:
    """One demo server for the module: each test logs in a coordinator of its own."""
    return module_live_server


def _household(server: LiveServer) -> str:
    return server.query(
        "SELECT id FROM winners WHERE coll = 'households' AND field = 'building' "
        "ORDER BY id LIMIT 1"
    )[0][0]


def _note(writer: Phone, stamp: Stamper, hid: str, text: str) -> None:
    change = {"coll": "households", "id": hid, "field": "notes", "value": text, "hlc": stamp()}
    r = writer.sync([change])
    assert r.status_code == 200 and r.json()["rejected"] == [], r.text


def _run(server: LiveServer, end: Callable[[httpx.Client, dict, str], None]) -> list[str]:
    """Open a logged-in coordinator's stream, see it live, end the session with ``end``,
    write a note, and return every value the stream sent after the end. Fails if the
    stream is still open ``CLOSE_WITHIN`` seconds after the end."""
    login = f"night-{uuid7()[-8:]}"
    add_coordinator(server.db_path, login, PASSWORD, name="夜班")  # all communities
    writer = server.enroll("coordinator", "街道办")
    stamp = Stamper(writer.node)
    hid = _household(server)
    with httpx.Client(base_url=server.url, timeout=httpx.Timeout(30.0)) as client:
        r = client.post("/api/v1/login", json={"login": login, "password": PASSWORD})
        assert r.status_code == 200, r.text
        csrf, node = {"X-CSRF-Token": r.json()["csrf"]}, r.json()["node"]
        with connect_sse(client, "GET", "/api/v1/events") as source:
            assert source.response.status_code == 200
            events = source.iter_sse()
            _note(writer, stamp, hid, "before the end")
            for ev in events:  # live: the note written before the end arrives
                if ev.event == "change" and "before the end" in ev.data:
                    break
            end(client, csrf, node)
            ended = time.monotonic()
            _note(writer, stamp, hid, "after the end")
            after: list[str] = []
            for ev in events:  # until the server closes the stream
                if ev.event == "change":
                    after += [str(c["value"]) for c in json.loads(ev.data)["changes"]]
            open_for = time.monotonic() - ended
    assert open_for < CLOSE_WITHIN, f"the stream stayed open {open_for:.1f} s after the end"
    return after


def test_stream_of_a_session_revoked_from_the_dashboard_closes(live_server: LiveServer) -> None:
    admin = live_server.enroll("coordinator", "总协调")

    def end(client: httpx.Client, csrf: dict, node: str) -> None:
        r = httpx.post(f"{live_server.url}/api/v1/devices/{node}/revoke", headers=admin.headers)
        assert r.status_code == 200, r.text

    assert "after the end" not in _run(live_server, end)


def test_stream_of_a_logged_out_session_closes(live_server: LiveServer) -> None:
    def end(client: httpx.Client, csrf: dict, node: str) -> None:
        r = client.post("/api/v1/logout", headers=csrf)
        assert r.status_code == 200, r.text

    assert "after the end" not in _run(live_server, end)


def test_stream_of_a_device_revoked_by_another_process_closes(live_server: LiveServer) -> None:
    def end(client: httpx.Client, csrf: dict, node: str) -> None:
        run_cli("revoke", "--db", live_server.db_path, node)

    assert "after the end" not in _run(live_server, end)
