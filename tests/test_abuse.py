"""Abuse through volume (#9): login floods, slow clients, a neighbourhood behind one address.

Each test runs against a real server process (LiveServer) unless it pins where code runs.
"""

import asyncio
import threading

import httpx
import pytest
from conftest import LiveServer
from test_errors import assert_error

import server.auth
from server.admin_access import add_coordinator

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory):
    """A real server with one coordinator login ``office``, shared by this module's tests.

    Rate limits count per client address, so each test speaks from its own loopback
    address (``source``): one test's attempts never use up another's.
    """
    db = str(tmp_path_factory.mktemp("abuse") / "abuse.db")
    server = LiveServer(db).start()
    add_coordinator(db, "office", PASSWORD, name="街道办")
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
    codes = asyncio.run(_burst(desk.url, 100, wrong, source="127.0.3.1"))
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
    assert not any(
        c.startswith(server.auth.SESSION_COOKIE) for c in r.headers.get_list("set-cookie")
    )


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
    real = server.auth.verify_password

    def spy(stored, password):
        seen.append(threading.current_thread().name)
        return real(stored, password)

    monkeypatch.setattr(server.auth, "verify_password", spy)
    loop_thread = client.blocking_portal.call(_current_thread_name)
    r = client.post("/api/v1/login", json={"login": "office", "password": PASSWORD})
    assert r.status_code == 200, r.text
    assert seen and loop_thread not in seen, (seen, loop_thread)


async def _current_thread_name() -> str:
    """The name of the thread running the in-process app's event loop."""
    return threading.current_thread().name
