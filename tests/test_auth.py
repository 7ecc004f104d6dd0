"""Coordinator login (argon2), session cookies, CSRF, rate limits, headers, revocation, export.

Single-use and expired invites are pinned in tests/test_errors.py; the rate limit on wrong
invite codes is here.
"""

import csv
import io
import json
import sqlite3
import time
from contextlib import closing

import pytest
from conftest import db_for, enroll, load_demo, run_async, run_cli
from litestar.testing import TestClient
from test_errors import assert_error

from server.guards.ratelimit import LimitRule, RateLimiter
from server.guards.security import CSP, csp_allowing, inline_hashes
from server.guards.sessions import CSRF_COOKIE, SESSION_COOKIE
from server.http.app import create_app
from server.ops.access_commands import add_coordinator

PASSWORD = "correct horse battery"


@pytest.fixture
def coordinator(client) -> str:
    add_coordinator(client.db_path, "office", PASSWORD, name="街道办")
    return "office"


def login(client, name: str = "office", password: str = PASSWORD):
    return client.post("/api/v1/login", json={"login": name, "password": password})


@pytest.mark.sqlite_only(reason="reads the SQLite file with sqlite3")
def test_password_is_stored_as_argon2id(client, coordinator) -> None:
    with closing(sqlite3.connect(client.db_path)) as conn:
        (stored,) = conn.execute(
            "SELECT password_hash FROM people WHERE login = ?", (coordinator,)
        ).fetchone()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_login_sets_an_httponly_strict_session_cookie_and_a_csrf_token(client, coordinator) -> None:
    r = login(client)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["role"] == "coordinator" and len(body["node"]) == 16 and len(body["csrf"]) >= 32
    cookies = r.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in session and "samesite=strict" in session.lower() and "Path=/" in session
    assert "Secure" not in session  # plain http in tests; https sets it
    csrf = next(c for c in cookies if c.startswith(CSRF_COOKIE + "="))
    assert "HttpOnly" not in csrf
    # The session works for reads without CSRF.
    who = client.get("/api/v1/session")
    assert who.status_code == 200 and who.json()["person"] == body["person"]


def test_session_cookie_is_secure_over_https(tmp_path, backend) -> None:
    db = db_for(str(tmp_path / "s.db"))
    add_coordinator(db, "office", PASSWORD)
    with TestClient(app=create_app(db=db, base_url="https://doorstep.example")) as c:
        r = login(c)
        assert all("Secure" in x for x in r.headers.get_list("set-cookie"))
        assert r.headers["strict-transport-security"].startswith("max-age=")


@pytest.mark.parametrize(("name", "password"), [("office", "wrong password"), ("nobody", PASSWORD)])
def test_wrong_login_or_password_is_one_401(client, coordinator, name, password) -> None:
    body = assert_error(login(client, name, password), 401, "login_failed")
    assert "wrong login or password" in body["message"]
    assert SESSION_COOKIE not in login(client, name, password).headers.get("set-cookie", "")


def test_cookie_write_without_csrf_is_refused_and_with_it_accepted(client, coordinator) -> None:
    s = login(client).json()
    body = {"node": s["node"], "cursor": 0, "changes": []}
    assert_error(client.post("/api/v1/sync", json=body), 403, "csrf")
    assert_error(
        client.post("/api/v1/sync", json=body, headers={"X-CSRF-Token": "0" * 32}), 403, "csrf"
    )
    ok = client.post("/api/v1/sync", json=body, headers={"X-CSRF-Token": s["csrf"]})
    assert ok.status_code == 200, ok.text


def test_bearer_requests_need_no_csrf(client) -> None:
    phone = enroll(client, client.db_path, "coordinator")
    client.cookies.clear()
    assert phone.sync().status_code == 200


@pytest.mark.sqlite_only(reason="reads the SQLite file with sqlite3")
def test_logged_in_browser_writes_with_its_own_node(client, coordinator) -> None:
    from conftest import Stamper

    s = login(client).json()
    change = {
        "coll": "incidents",
        "id": "inc1",
        "field": "status",
        "value": "restored",
        "hlc": Stamper(s["node"])(),
    }
    r = client.post(
        "/api/v1/sync",
        json={"node": s["node"], "changes": [change]},
        headers={"X-CSRF-Token": s["csrf"]},
    )
    assert r.json()["accepted"] == 1
    with closing(sqlite3.connect(client.db_path)) as conn:
        assert conn.execute("SELECT node, person FROM history").fetchall() == [
            (s["node"], s["person"])
        ]


def test_logout_ends_the_session(client, coordinator) -> None:
    s = login(client).json()
    jar = dict(client.cookies)
    assert client.post("/api/v1/logout", headers={"X-CSRF-Token": s["csrf"]}).status_code == 200
    for k, v in jar.items():
        client.cookies.set(k, v)
    assert_error(client.get("/api/v1/session"), 401, "revoked")


@pytest.mark.sqlite_only(reason="reads the SQLite file with sqlite3")
def test_expired_session_is_refused(client, coordinator) -> None:
    login(client)
    with closing(sqlite3.connect(client.db_path)) as conn:
        conn.execute("UPDATE devices SET expires_at = '2000-01-01T00:00:00.000Z'")
        conn.commit()
    assert_error(client.get("/api/v1/session"), 401, "session_expired")


def test_volunteer_cannot_list_or_revoke_devices(client) -> None:
    v = enroll(client, client.db_path)
    assert_error(client.get("/api/v1/devices", headers=v.headers), 403, "not_coordinator")
    assert_error(
        client.post(f"/api/v1/devices/{v.node}/revoke", headers=v.headers), 403, "not_coordinator"
    )


def test_dashboard_revocation_makes_the_phone_wipe(client, coordinator) -> None:
    phone = enroll(client, client.db_path)
    s = login(client).json()
    listed = client.get("/api/v1/devices").json()
    assert phone.node in {d["node"] for d in listed}
    assert_error(client.post(f"/api/v1/devices/{phone.node}/revoke"), 403, "csrf")
    r = client.post(f"/api/v1/devices/{phone.node}/revoke", headers={"X-CSRF-Token": s["csrf"]})
    assert r.json() == {"revoked": phone.node}
    client.cookies.clear()
    body = assert_error(phone.sync(), 401, "revoked")
    assert body["details"] == {"wipe": True}
    assert_error(
        client.post(
            f"/api/v1/devices/{phone.node}/revoke",
            headers=enroll(client, client.db_path, "coordinator").headers,
        ),
        409,
        "already_revoked",
    )


def test_cli_creates_a_coordinator_from_stdin_and_lists_devices(client) -> None:
    import subprocess
    import sys

    from conftest import ROOT

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "server.ops.cli",
            "coordinator",
            "add",
            "--db",
            client.db_path,
            "--login",
            "zhang",
            "--name",
            "张主任",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert json.loads(out.stdout)["login"] == "zhang"
    assert login(client, "zhang").status_code == 200
    rows = [json.loads(x) for x in run_cli("devices", "--db", client.db_path).splitlines()]
    assert rows and rows[0]["role"] == "coordinator"


# -- rate limits ------------------------------------------------------------------------


def test_wrong_invite_codes_are_rate_limited_with_retry_after(client) -> None:
    for _ in range(10):
        assert client.post("/api/v1/enroll", json={"code": "ZZZZ-ZZZZ"}).status_code == 400
    r = client.post("/api/v1/enroll", json={"code": "ZZZZ-ZZZZ"})
    body = assert_error(r, 429, "rate_limited")
    assert int(r.headers["retry-after"]) > 0 and body["details"]["retry_after"] > 0


def test_wrong_passwords_are_rate_limited(client, coordinator) -> None:
    for _ in range(5):
        assert login(client, password="nope nope nope").status_code == 401
    assert_error(login(client), 429, "rate_limited")  # even the right one, for a while


def test_unknown_resident_links_are_rate_limited(client) -> None:
    codes = [client.get(f"/api/v1/public/{'x' * 43}{i}").status_code for i in range(21)]
    assert codes[-1] == 429 and set(codes[:-1]) <= {404, 400}


@pytest.mark.sqlite_only(reason="reads the SQLite file with sqlite3")
def test_limiter_counts_per_client_and_forgets_after_the_window(fresh_db) -> None:
    import re

    from server.db import Database

    now = [1000.0]
    rule = LimitRule("t", frozenset({"POST"}), re.compile("^/x$"), 2, 10)

    async def run() -> None:
        async with Database(fresh_db) as db:
            lim = RateLimiter(db, (rule,), clock=lambda: now[0])
            rules = lim.matching("POST", "/x")
            for _ in range(2):
                assert await lim.check(rules, "a") is None
                await lim.record(rules, "a", 200)
            assert await lim.check(rules, "a") == (rule, 10)
            assert await lim.check(rules, "b") is None
            now[0] = 1010.5
            assert await lim.check(rules, "a") is None

    run_async(run())


@pytest.mark.sqlite_only(reason="reads the SQLite file with sqlite3")
def test_old_counters_are_pruned(fresh_db) -> None:
    import re

    from server.db import Database

    now = [1000.0]
    rule = LimitRule("t", frozenset({"POST"}), re.compile("^/x$"), 5, 10, reserve=True)

    async def run() -> int:
        async with Database(fresh_db) as db:
            lim = RateLimiter(db, (rule,), clock=lambda: now[0])
            for client in ("a", "b", "c"):
                await lim.begin([rule], client)
            now[0] += 3600  # the next attempt, an hour on, prunes what is older than 10 s
            await lim.begin([rule], "d")
        with closing(sqlite3.connect(fresh_db)) as conn:
            return conn.execute("SELECT count(*) FROM rate_hits").fetchone()[0]

    assert run_async(run()) == 1


# -- headers ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/index.html", "/healthz", "/api/v1/sync"])
def test_every_response_carries_the_security_headers(client, path) -> None:
    r = client.get(path)
    if path in ("/", "/index.html"):
        # The app is inline there (tools/build-pwa.mjs): its two blocks, by hash, no more.
        assert r.headers["content-security-policy"] == csp_allowing(inline_hashes(r.content))
        assert "'sha256-" in r.headers["content-security-policy"]
        assert "unsafe-inline" not in r.headers["content-security-policy"]
    else:
        assert r.headers["content-security-policy"] == CSP
    assert "script-src 'self';" in CSP and "frame-ancestors 'none'" in CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"


def test_tokens_are_long_enough_to_be_unguessable(client, coordinator) -> None:
    phone = enroll(client, client.db_path)
    assert len(phone.token) >= 43  # 32 random bytes, base64url
    assert len(login(client).json()["csrf"]) * 4 >= 128


def test_no_token_or_resident_link_reaches_the_log(tmp_path, backend) -> None:
    from conftest import LiveServer

    server = LiveServer(str(tmp_path / "log.db")).start()
    try:
        phone = server.enroll()
        phone.sync()
        import httpx

        httpx.get(f"{server.url}/r/{'q' * 43}")
        httpx.get(f"{server.url}/api/v1/public/{'q' * 43}")
    finally:
        server.stop()
    log = next(tmp_path.glob("log.*.log")).read_text(errors="replace")
    assert phone.token not in log and "q" * 43 not in log


# -- export -------------------------------------------------------------------------------


def _demo(db: str) -> None:
    load_demo(db)


@pytest.mark.sqlite_only(reason="reads the SQLite file with sqlite3")
def test_export_csv_has_a_bom_and_chinese_and_neutralises_formulas(tmp_path) -> None:
    from server import db as server_db
    from server.http.export import export_incident
    from server.ops.admin import write_records
    from server.ops.demo import HEATING

    db = str(tmp_path / "e.db")
    _demo(db)
    with closing(sqlite3.connect(db)) as conn:
        hid = conn.execute("SELECT id FROM winners WHERE coll = 'households' LIMIT 1").fetchone()[0]
    write_records(db, [("households", hid, {"notes": '=HYPERLINK("http://x")'})])
    out = server_db.run(db, lambda d: export_incident(d, HEATING, "csv"))
    assert out is not None and out.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(out.data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["地址", "楼栋", "单元"]
    assert len(rows) > 100
    assert not any(cell.startswith("=") for row in rows for cell in row)


# The XLSX (sheets, headers, local times, who recorded each visit): tests/test_export.py


def test_export_endpoint_is_for_coordinators_only(client, coordinator) -> None:
    from server.ops.demo import HEATING

    _demo(client.db_path)
    v = enroll(client, client.db_path)
    assert_error(
        client.get(f"/api/v1/incidents/{HEATING}/export", headers=v.headers), 403, "not_coordinator"
    )
    login(client)
    r = client.get(f"/api/v1/incidents/{HEATING}/export?format=csv&table=visits")
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    assert r.headers["content-type"].startswith("text/csv")
    assert_error(client.get("/api/v1/incidents/nope/export"), 404, "not_found")
    assert_error(
        client.get(f"/api/v1/incidents/{HEATING}/export?format=pdf"), 400, "invalid_request"
    )


def test_session_tokens_do_not_grow_old_quietly(client, coordinator) -> None:
    s = login(client).json()
    left = time.mktime(time.strptime(s["expires_at"][:19], "%Y-%m-%dT%H:%M:%S")) - time.mktime(
        time.gmtime()
    )
    assert 11 * 3600 < left <= 12 * 3600 + 5
