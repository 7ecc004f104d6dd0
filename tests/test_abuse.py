"""Abuse through volume (#9): login floods, slow clients, a neighbourhood behind one address.

Each test runs against a real server process (LiveServer) unless it pins where code runs.
"""

import asyncio
import selectors
import socket
import threading
import time

import httpx
import pytest
from conftest import LiveServer, Stamper, eventually, put_record, run_async
from test_errors import assert_error

from server.guards import sessions
from server.ops.access_commands import add_coordinator
from server.ops.demo import HEATING
from sync.ids import uuid7

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, backend: str):
    """A real server with one coordinator login ``office``, shared by this module's tests.

    Rate limits count per client address, so each test speaks from its own loopback
    address (``source``): one test's attempts never use up another's.
    """
    db = str(tmp_path_factory.mktemp("abuse") / "abuse.db")
    server = LiveServer(db).start()
    add_coordinator(server.db_path, "office", PASSWORD, name="街道办")
    try:
        yield server
    finally:
        server.stop()


def from_(source: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=60)


async def _burst(url: str, n: int, body: dict, source: str = "127.0.0.1") -> list[int]:
    """``n`` login requests sent at the same moment, each on its own connection."""
    transport = httpx.AsyncHTTPTransport(local_address=source)
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
    async with httpx.AsyncClient(transport=transport, limits=limits, timeout=120) as client:
        answers = await asyncio.gather(
            *(client.post(f"{url}/api/v1/login", json=body) for _ in range(n))
        )
    return [r.status_code for r in answers]


def test_a_concurrent_burst_of_wrong_logins_gets_no_more_guesses_than_the_limit(desk) -> None:
    wrong = {"login": "office", "password": "guess guess"}
    codes = run_async(_burst(desk.url, 100, wrong, source="127.0.3.1"))
    assert len(codes) == 100 and set(codes) <= {401, 429}
    # The wrong-password rule allows 5 per 5 minutes: attempts count when they start.
    assert codes.count(401) <= 5, codes
    with from_("127.0.3.1") as c:
        r = c.post(f"{desk.url}/api/v1/login", json={"login": "office", "password": PASSWORD})
    assert_error(r, 429, "rate_limited")  # even the right password waits


def test_right_logins_give_their_slot_back(desk) -> None:
    """Each attempt holds a wrong-password slot while it runs; a success returns it."""
    url = f"{desk.url}/api/v1/login"
    right = {"login": "office", "password": PASSWORD}
    wrong = {"login": "office", "password": "guess guess"}
    with from_("127.0.3.2") as c:
        assert [c.post(url, json=right).status_code for _ in range(8)] == [200] * 8
        assert [c.post(url, json=wrong).status_code for _ in range(4)] == [401] * 4
        assert c.post(url, json=right).status_code == 200


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"content-type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
        ({"content-type": "text/plain"}, 415, "unsupported_media_type"),
        ({"origin": "https://evil.example"}, 403, "cross_origin"),
        ({"sec-fetch-site": "cross-site"}, 403, "cross_origin"),
        ({"sec-fetch-site": "same-site"}, 403, "cross_origin"),
    ],
)
def test_login_refuses_forms_and_other_sites(desk, headers, status, code) -> None:
    """No login CSRF: another site can neither post a form nor pass the origin check."""
    body = f'{{"login": "office", "password": "{PASSWORD}"}}'
    sent = {"content-type": "application/json", **headers}
    with from_("127.0.3.3") as c:  # 5 refusals: the wrong-password rule's limit
        r = c.post(f"{desk.url}/api/v1/login", content=body, headers=sent)
    assert_error(r, status, code)
    assert not any(c.startswith(sessions.SESSION_COOKIE) for c in r.headers.get_list("set-cookie"))


def test_login_from_the_own_page_is_accepted(desk) -> None:
    with from_("127.0.3.4") as c:
        r = c.post(
            f"{desk.url}/api/v1/login",
            json={"login": "office", "password": PASSWORD},
            headers={"origin": desk.url, "sec-fetch-site": "same-origin"},
        )
    assert r.status_code == 200, r.text


def test_password_checks_run_off_the_event_loop(client, monkeypatch) -> None:
    """argon2 must never run on the thread that serves every other request."""
    add_coordinator(client.db_path, "office", PASSWORD, name="街道办")
    seen: list[str] = []
    real = sessions.verify_password

    def spy(stored, password):
        seen.append(threading.current_thread().name)
        return real(stored, password)

    monkeypatch.setattr(sessions, "verify_password", spy)
    loop_thread = client.blocking_portal.call(_current_thread_name)
    r = client.post("/api/v1/login", json={"login": "office", "password": PASSWORD})
    assert r.status_code == 200, r.text
    assert seen and loop_thread not in seen, (seen, loop_thread)


async def _current_thread_name() -> str:
    """The name of the thread running the in-process app's event loop."""
    return threading.current_thread().name


# -- slow clients -----------------------------------------------------------------------

#: The usual service default, and more half-sent headers than it has files for.
OPEN_FILES, SLOW = 1024, 1100


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory, backend: str):
    """A real server under a 1,024 open-file limit with short read deadlines."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < SLOW + 200:  # this test process holds the other ends of the sockets
        if hard != resource.RLIM_INFINITY and hard < SLOW + 200:
            pytest.skip(f"needs {SLOW + 200} open files in the test process; hard limit {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (SLOW + 200, hard))
    db = str(tmp_path_factory.mktemp("tight") / "tight.db")
    args = ("--header-timeout", "2", "--body-timeout", "2")
    server = LiveServer(db, args=args, open_files=OPEN_FILES).start()
    try:
        yield server
    finally:
        server.stop()


def _closed_by_server(socks: list[socket.socket], within: float) -> int:
    """How many of ``socks`` the server closes (EOF or reset) within ``within`` seconds."""
    pending = {s.fileno(): s for s in socks}
    with selectors.DefaultSelector() as sel:
        for s in socks:
            sel.register(s, selectors.EVENT_READ)
        deadline = time.monotonic() + within
        closed = 0
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1):
                s = pending[key.fd]
                try:
                    data = s.recv(4096)
                except OSError:  # reset: closed to make room
                    data = b""
                if data and not data.startswith(b"HTTP/1.1 408"):
                    continue
                if data:  # the 408; the end follows
                    continue
                sel.unregister(s)
                del pending[key.fd]
                closed += 1
    return closed


def test_half_sent_headers_cannot_exhaust_the_server(tight) -> None:
    socks = []
    try:
        for _ in range(SLOW):
            s = socket.create_connection(("127.0.0.1", tight.port))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the end
            socks.append(s)
        r = httpx.get(f"{tight.url}/healthz", timeout=30)
        assert r.status_code == 200
        # Every half-open connection is closed: evicted for room, or at the deadline.
        assert _closed_by_server(socks, within=60) == SLOW
    finally:
        for s in socks:
            s.close()
    assert httpx.get(f"{tight.url}/healthz", timeout=30).status_code == 200
    log = tight.log_path.read_text(errors="replace")
    assert "Traceback" not in log and len(log.splitlines()) < 20, log[:2000]


def test_a_body_sent_too_slowly_is_cut_off_without_a_traceback(tight) -> None:
    phone = tight.enroll()
    head = (
        "POST /api/v1/sync HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {phone.token}\r\nContent-Length: 100000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", tight.port)) as s:
        s.sendall(head.encode() + b'{"node": "')
        assert _closed_by_server([s], within=60) == 1
    assert phone.sync().status_code == 200
    log = tight.log_path.read_text(errors="replace")
    assert "Traceback" not in log and "went away during POST /api/v1/sync" in log, log[:2000]


def test_an_aborted_upload_is_one_log_line(desk) -> None:
    before = desk.log_path.read_text(errors="replace").splitlines()
    phone = desk.enroll()
    head = (
        "POST /api/v1/sync HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {phone.token}\r\nContent-Length: 100000\r\n\r\n"
    )

    def abort() -> None:
        with socket.create_connection(("127.0.0.1", desk.port)) as s:
            s.sendall(head.encode() + b'{"node": "')
        assert phone.sync().status_code == 200  # the server is fine

    def logged() -> list[str]:
        return desk.log_path.read_text(errors="replace").splitlines()[len(before) :]

    # Two aborts one after the other: whatever the server logs of the first (a traceback
    # included) is written before the second's line, so once that is in, the log is whole.
    abort()
    first = eventually(logged, "a log line about the aborted upload")
    abort()
    new = eventually(lambda: len(logged()) > len(first) and logged(), "the second abort's line")
    assert len(new) == 2, new
    assert all("went away during POST /api/v1/sync" in line for line in new), new


# -- residents behind one carrier address -----------------------------------------------


async def _residents(url: str, token: str, n: int) -> list[int]:
    """``n`` residents on one address: each loads the page and then its data."""
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:

        async def one() -> list[int]:
            page = await client.get(f"/r/{token}")
            data = await client.get(f"/api/v1/public/{token}")
            return [page.status_code, data.status_code]

        answers = await asyncio.gather(*(one() for _ in range(n)))
    return [code for pair in answers for code in pair]


def test_four_hundred_residents_behind_one_address_all_get_the_page(live_server) -> None:
    # 800 requests: the per-address limit this test was written against let 600 of 2,000
    # through (docs/security.md), and every per-address rule left counts failures or
    # sign-ups. A thousand residents took 70–85 s an engine on a loaded CI box.
    coord = live_server.enroll("coordinator", "主任")
    token = share(live_server, coord)
    codes = run_async(_residents(live_server.url, token, 400))
    assert len(codes) == 800 and set(codes) == {200}, {c: codes.count(c) for c in set(codes)}


def test_the_cached_public_answer_follows_the_incident(live_server) -> None:
    coord = live_server.enroll("coordinator", "主任")
    token = share(live_server, coord)
    url = f"{live_server.url}/api/v1/public/{token}"
    first = httpx.get(url)
    etag = first.headers["etag"]
    assert httpx.get(url, headers={"if-none-match": etag}).status_code == 304
    page = httpx.get(f"{live_server.url}/r/{token}")
    seen = {"if-none-match": page.headers["etag"]}
    again = httpx.get(f"{live_server.url}/r/{token}", headers=seen)
    assert page.status_code == 200 and again.status_code == 304
    text = f"今晚八点恢复供暖 {uuid7()}"
    stamp = Stamper(coord.node)
    put_record(coord, stamp, "updates", incident=HEATING, at=_now(), text=text, public=True)
    r = eventually(  # the tailer polls the change log
        lambda: (r := httpx.get(url, headers={"if-none-match": etag})).status_code == 200 and r,
        "the public answer to follow the update",
    )
    assert r.headers["etag"] != etag
    assert text in r.text


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def share(server: LiveServer, coord) -> str:
    r = httpx.post(f"{server.url}/api/v1/incidents/{HEATING}/share", headers=coord.headers)
    assert r.status_code == 200, r.text
    return r.json()["token"]
