"""Hostile HTTP (#22): odd paths, slow bodies, bad resident links, login floods.

Each test runs against a real server process (LiveServer) unless it pins where code runs.
"""

import asyncio
import logging
import socket

import httpx
import pytest
from conftest import LiveServer, load_demo, run_async
from test_abuse import _closed_by_server, share
from test_errors import assert_error

from server.guards.security import escape_logged_text
from server.guards.sessions import KNOWN_COOKIE
from server.ops.access_commands import add_coordinator


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory, backend: str):
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


# -- slow bodies (H1) --------------------------------------------------------------------

#: The connection cap of the server below, and more slow bodies than it.
CAP, SLOW_BODIES = 40, 60


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory, backend: str):
    """A real server with the demo community, a cap of ``CAP`` connections and a body
    deadline far away (only the minimum body rate can cut a slow body in time)."""
    db = str(tmp_path_factory.mktemp("capped") / "capped.db")
    load_demo(db)
    args = ("--max-connections", str(CAP), "--body-timeout", "600")
    server = LiveServer(db, args=args).start()
    try:
        yield server
    finally:
        server.stop()


def test_slow_push_bodies_leave_room_for_phones_and_healthz(capped) -> None:
    """The residents' link is public: anyone may start push uploads and never finish
    them. Phones behind the same address still sync, and /healthz answers."""
    coord = capped.enroll("coordinator", "主任")
    phone = capped.enroll()
    token = share(capped, coord)
    head = (
        f"POST /api/v1/public/{token}/push HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
    ).encode()
    socks = []
    try:
        for _ in range(SLOW_BODIES):
            s = socket.create_connection(("127.0.0.1", capped.port))
            s.sendall(head)  # and one byte of the body, never more
            socks.append(s)
        for _ in range(5):  # each on a connection of its own, as phones come and go
            assert httpx.get(f"{capped.url}/healthz", timeout=30).status_code == 200
            body = {"node": phone.node, "cursor": 0, "changes": []}
            r = httpx.post(f"{capped.url}/api/v1/sync", json=body, headers=phone.headers)
            assert r.status_code == 200, r.text
        # Every slow body is closed: shed for room, refused, or below the minimum rate
        # long before the 600 s deadline.
        assert _closed_by_server(socks, within=120) == SLOW_BODIES
    finally:
        for s in socks:
            s.close()
    # Closed bodies are counted in the listener's summary line, not logged one by one.
    log = capped.log_path.read_text(errors="replace")
    assert "Traceback" not in log and "went away" not in log, log[:2000]


def from_(source: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=60)


def test_push_sign_ups_are_limited_per_address(capped) -> None:
    coord = capped.enroll("coordinator", "主任")
    token = share(capped, coord)
    url = f"{capped.url}/api/v1/public/{token}/push"
    with from_("127.0.6.2") as c:
        codes = [c.post(url, content=b"{").status_code for _ in range(60)]
        assert codes == [400] * 60  # not a subscription, but each was an upload
        assert_error(c.post(url, content=b"{"), 429, "rate_limited")
    with from_("127.0.6.3") as c:  # another address is not affected
        assert c.post(url, content=b"{").status_code == 400


# -- bad resident links (M2) ---------------------------------------------------------------


def test_guessed_links_never_lock_an_address_out_of_a_valid_link(capped) -> None:
    """Behind a carrier NAT one address is a whole neighbourhood: someone's typos or
    guesses there are refused, while the valid link keeps opening for everyone."""
    coord = capped.enroll("coordinator", "主任")
    token = share(capped, coord)
    unknown = "x" * len(token)
    with from_("127.0.6.1") as c:
        codes = [c.get(f"{capped.url}/r/{unknown}").status_code for _ in range(25)]
        assert codes[:20] == [404] * 20 and codes[20:] == [429] * 5, codes
        assert c.get(f"{capped.url}/r/{token}").status_code == 200
        assert c.get(f"{capped.url}/api/v1/public/{token}").status_code == 200
        with c.stream("GET", f"{capped.url}/api/v1/public/{token}/events") as stream:
            assert stream.status_code == 200
        body = assert_error(c.get(f"{capped.url}/api/v1/public/{unknown}"), 429, "rate_limited")
        assert body["details"]["retry_after"] >= 1


# -- login floods from many addresses (Low) ------------------------------------------------

PASSWORD = "correct horse battery"
FLOOD = 100


async def _flood_then_login(url: str, port: int, known: str) -> tuple[list[str], int]:
    """``FLOOD`` wrong logins, each from an address of its own, all sent; then the
    coordinator logs in from the browser it used before. Their status codes."""
    wrong = b'{"login": "desk", "password": "not the password"}'
    head = (
        "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(wrong)}\r\nConnection: close\r\n\r\n"
    ).encode()
    conns = [
        await asyncio.open_connection("127.0.0.1", port, local_addr=(f"127.0.8.{n + 1}", 0))
        for n in range(FLOOD)
    ]
    for _, writer in conns:
        writer.write(head + wrong)
    await asyncio.gather(*(writer.drain() for _, writer in conns))
    transport = httpx.AsyncHTTPTransport(local_address="127.0.9.1")
    cookies = {KNOWN_COOKIE: known}
    async with httpx.AsyncClient(transport=transport, cookies=cookies, timeout=120) as c:
        right = await c.post(f"{url}/api/v1/login", json={"login": "desk", "password": PASSWORD})
    codes = []
    for reader, writer in conns:
        codes.append((await reader.readline()).decode().split(" ")[1])
        writer.close()
    return codes, right.status_code


def test_a_coordinator_logs_in_from_a_known_browser_during_a_flood_from_many_addresses(
    plain,
) -> None:
    add_coordinator(plain.db_path, "desk", PASSWORD, name="值班台")
    with from_("127.0.9.1") as browser:
        r = browser.post(f"{plain.url}/api/v1/login", json={"login": "desk", "password": PASSWORD})
        assert r.status_code == 200, r.text
        known = browser.cookies[KNOWN_COOKIE]
    codes, right = run_async(_flood_then_login(plain.url, plain.port, known))
    assert right == 200
    assert set(codes) <= {"401", "429", "503"}, codes
    # The account's budget of wrong passwords is spent: the rest were refused unhashed,
    # and so is the right password from a browser the account does not know.
    assert codes.count("401") <= 20, codes
    with from_("127.0.9.2") as stranger:
        r = stranger.post(f"{plain.url}/api/v1/login", json={"login": "desk", "password": PASSWORD})
    assert_error(r, 429, "rate_limited")
