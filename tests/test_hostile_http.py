"""Hostile HTTP (#22): odd paths, slow bodies, bad resident links, login floods.

Each test runs against a real server process (LiveServer) unless it pins where code runs.
"""

import logging
import socket

import httpx
import pytest
from conftest import LiveServer
from test_errors import assert_error

from server.security import escape_logged_text


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory):
    """A real server on an empty database, shared by this module's tests that need no
    special options."""
    server = LiveServer(str(tmp_path_factory.mktemp("hostile") / "hostile.db")).start()
    try:
        yield server
    finally:
        server.stop()


def _raw_get(port: int, path: str) -> bytes:
    """A GET with ``path`` exactly as given (no client normalises it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    "path",
    ["/x%00", "/" + "a" * 256, "/r/" + "b" * 300, "/x%0aFORGED%20line", "/api/v1/public/%1b[2J"],
)
def test_odd_paths_get_a_400_and_leave_no_traceback_in_the_log(plain, path) -> None:
    before = plain.log_path.read_text(errors="replace")
    r = httpx.get(f"{plain.url}{path}", timeout=30)
    assert_error(r, 400, "bad_path")
    assert httpx.get(f"{plain.url}/healthz", timeout=30).status_code == 200
    new = plain.log_path.read_text(errors="replace")[len(before) :]
    assert "Traceback" not in new and "FORGED" not in new, new[:2000]


def test_a_raw_newline_in_the_request_line_forges_no_log_line(plain) -> None:
    before = plain.log_path.read_text(errors="replace")
    answer = _raw_get(plain.port, "/x%0a%0dERROR%20-%20FORGED")
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    new = plain.log_path.read_text(errors="replace")[len(before) :]
    assert "FORGED" not in new, new


def test_every_log_line_escapes_control_characters() -> None:
    """One place (the record factory) escapes what any logger writes, exceptions too."""
    escape_logged_text()
    log = logging.getLogger("doorstep.test")
    handler = logging.StreamHandler(stream := _Lines())
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log.addHandler(handler)
    try:
        log.warning("went away during GET %s", "/x\nERROR forged\x1b[2J")
        try:
            raise ValueError("bad\nERROR forged too")
        except ValueError:
            log.exception("failed on %s", "/y\r\nERROR forged three")
    finally:
        log.removeHandler(handler)
    lines = stream.text.splitlines()
    assert lines[0] == "WARNING went away during GET /x\\x0aERROR forged\\x1b[2J"
    assert not any(line.startswith("ERROR forged") for line in lines), lines
    assert "ValueError: bad\\x0aERROR forged too" in lines


class _Lines:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass
