"""The deployment in deploy/: Debian's caddy with `tls internal` in front of a real server.

The PWA is driven through the proxy in Chromium (the test's browser context ignores the
certificate of Caddy's local CA; nothing else does), streams pass through unbuffered, and
the files in deploy/ are what Caddy and systemd accept.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, Stamper, run_cli, systemd_complaints
from httpx_sse import connect_sse
from proxy import CADDY, DEPLOY, Caddy
from test_pwa_e2e import HEATING, assign_to_heating_incident

from sync.ids import uuid7

pytestmark = pytest.mark.skipif(
    not Path(CADDY).exists(), reason="Debian's caddy is not installed (bash .ci/setup --test)"
)


@pytest.fixture(scope="module")
def live_server(module_live_server: LiveServer) -> LiveServer:
    """One demo server for the module: each test enrolls devices of its own."""
    return module_live_server


@pytest.fixture(scope="module")
def proxied(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Caddy]:
    caddy = Caddy(f"127.0.0.1:{live_server.port}", tmp_path_factory.mktemp("caddy")).start()
    try:
        yield caddy
    finally:
        caddy.stop()


def routes(config: dict) -> list[dict]:
    """Every route of every server in an adapted Caddy config, subroutes flattened."""
    out: list[dict] = []

    def walk(rs: list[dict]) -> None:
        for r in rs:
            out.append(r)
            for h in r.get("handle", []):
                walk(h.get("routes", []))

    for server in config["apps"]["http"]["servers"].values():
        walk(server.get("routes", []))
    return out


def test_the_caddyfile_serves_http3_and_passes_streams_unbuffered() -> None:
    out = subprocess.run(
        [CADDY, "adapt", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        check=True,
        cwd=DEPLOY,
    )
    config = json.loads(out.stdout)
    (server,) = config["apps"]["http"]["servers"].values()
    assert server["protocols"] == ["h1", "h2", "h3"]
    assert "write_timeout" not in server and "read_timeout" not in server  # SSE is endless
    stream_routes = [
        r for r in routes(config) if any("path_regexp" in m for m in r.get("match", []))
    ]
    assert stream_routes, "no route for the SSE paths"
    (proxy,) = [h for r in stream_routes for h in r["handle"] if h["handler"] == "reverse_proxy"]
    assert proxy["flush_interval"] == -1
    # Every other request's body is read whole by the proxy: slow bodies stay there (#22).
    others = [h for r in routes(config) for h in r.get("handle", []) if h is not proxy]
    assert any(h.get("buffer_requests") for h in others if h["handler"] == "reverse_proxy")


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_the_systemd_units_are_valid() -> None:
    units = [str(DEPLOY / n) for n in ("doorstep.service", "doorstep-backup.service")]
    units.append(str(DEPLOY / "doorstep-backup.timer"))
    assert systemd_complaints(*units) == []


def test_metrics_are_not_served_through_the_proxy(proxied: Caddy) -> None:
    r = httpx.get(f"{proxied.url}/metrics", verify=proxied.tls)
    assert r.status_code == 404


def test_the_coordinator_stream_arrives_through_the_proxy_unbuffered(
    live_server: LiveServer, proxied: Caddy
) -> None:
    coordinator = live_server.enroll(role="coordinator", name="街道值班")
    volunteer = live_server.enroll()
    stamp = Stamper(volunteer.node)
    with (
        httpx.Client(base_url=proxied.url, verify=proxied.tls, timeout=20) as client,
        connect_sse(client, "GET", "/api/v1/events", headers=coordinator.headers) as source,
    ):
        assert source.response.status_code == 200
        assert source.response.http_version == "HTTP/1.1"  # httpx without h2; Chromium uses h2
        visit = uuid7()
        r = client.post(
            "/api/v1/sync",
            headers=volunteer.headers,
            json={
                "node": volunteer.node,
                "cursor": 0,
                "changes": [
                    {
                        "coll": "visits",
                        "id": visit,
                        "field": "outcome",
                        "value": "reached",
                        "hlc": stamp(),
                    }
                ],
            },
        )
        assert r.status_code == 200 and r.json()["rejected"] == [], r.text
        # The stream is open and endless: this event can only arrive if the proxy flushes.
        for ev in source.iter_sse():
            if ev.event == "change" and any(
                c["id"] == visit for c in json.loads(ev.data)["changes"]
            ):
                break


@pytest.fixture
def lax_browser(browser: Any) -> Iterator[Any]:
    """A Chromium of this test's own that accepts Caddy's local CA.

    A context's ``ignore_https_errors`` lets pages load but Chromium still refuses to
    register a service worker over a certificate it does not trust; only the command-line
    switch lifts that. The shared ``browser`` fixture (which skips or fails when Chromium
    is missing) is requested so this test behaves the same.
    """
    from conftest import CHROMIUM, CHROMIUM_ARGS

    b = browser.browser_type.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--ignore-certificate-errors"]
    )
    try:
        yield b
    finally:
        b.close()


@pytest.mark.browser
def test_a_volunteer_enrols_and_works_through_caddy_over_https(
    lax_browser: Any, live_server: LiveServer, proxied: Caddy
) -> None:
    browser = lax_browser
    invite = json.loads(
        run_cli(
            "invite",
            "--db",
            live_server.db_path,
            "--role",
            "volunteer",
            "--name",
            "代理测试",
            "--base-url",
            proxied.url,
        )
    )
    assign_to_heating_incident(live_server, invite["person"])
    # Only this test's context ignores certificate errors (Caddy's local CA is not trusted).
    ctx = browser.new_context(
        viewport={"width": 360, "height": 740},
        locale="zh-CN",
        service_workers="allow",
        ignore_https_errors=True,
    )
    try:
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(invite["url"])
        page.locator(".incident-card", has_text=HEATING).first.wait_for(timeout=30_000)
        page.wait_for_function(
            "() => document.getElementById('status').innerText.includes('已同步')", timeout=30_000
        )
        protocol = page.evaluate(
            "() => performance.getEntriesByType('navigation')[0].nextHopProtocol"
        )
        assert protocol in ("h2", "h3"), protocol
        assert page.evaluate("() => location.protocol") == "https:"
        # A secure context: the service worker installs and controls the page.
        page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=30_000)
        assert errors == []
    finally:
        ctx.close()
