"""The Content Security Policy does not break the PWA: every page of the app, the
coordinator's dashboard, the login and devices pages and the residents' page load in
Debian's Chromium with the header on, and the browser reports no violation. The volunteer
app's page carries its stylesheet and module inline; its policy allows exactly those two
blocks by hash, so a violation here would also catch a hash that does not match."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from server.guards.security import CSP, csp_allowing, inline_hashes
from server.ops.access_commands import add_coordinator
from server.ops.demo import HEATING

pytestmark = pytest.mark.browser


WATCH = """window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(
    `${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));"""


def visit(context: Any, url: str, ready: str) -> list[str]:
    page = context.new_page()
    seen: list[str] = []
    page.on(
        "console",
        lambda m: (
            seen.append(m.text)
            if "Content Security Policy" in m.text or "Refused to" in m.text
            else None
        ),
    )
    page.on("pageerror", lambda e: seen.append(f"pageerror: {e}"))
    r = page.goto(url)
    assert r is not None
    if urlsplit(r.url).path in ("/", "/index.html"):
        # The volunteer app is inline (tools/build-pwa.mjs): its two blocks by hash, no more.
        assert r.headers.get("content-security-policy") == csp_allowing(inline_hashes(r.body()))
    else:
        assert r.headers.get("content-security-policy") == CSP
    page.locator(ready).first.wait_for(timeout=20_000)
    page.wait_for_load_state("load")  # module loads, styles, images: all in by the load event
    seen += page.evaluate("window.__csp")
    page.close()
    return seen


def test_pages_load_under_the_csp_without_violations(browser: Any, live_server: Any) -> None:
    add_coordinator(live_server.db_path, "office", "night shift 3am")
    coord = live_server.enroll(role="coordinator", name="社区负责人")
    share = coord.client.post(f"/api/v1/incidents/{HEATING}/share", headers=coord.headers)
    assert share.status_code == 200, share.text
    invite = live_server.invite(role="volunteer", name="小王")
    ctx = browser.new_context(locale="zh-CN", service_workers="allow")
    ctx.add_init_script(WATCH)
    problems: dict[str, list[str]] = {}
    problems["volunteer app"] = visit(ctx, invite["url"], ".incident-card")
    problems["settings"] = visit(ctx, f"{live_server.url}/#/settings", "button")
    problems["resident page"] = visit(ctx, share.json()["url"], "main")
    problems["login"] = visit(ctx, f"{live_server.url}/login.html", "form#login")
    page = ctx.new_page()
    page.goto(f"{live_server.url}/login.html?next=/devices.html")
    page.fill("input[name=login]", "office")
    page.fill("input[name=password]", "night shift 3am")
    page.click("button[type=submit]")
    page.locator("#devices tbody tr").first.wait_for(timeout=20_000)
    page.close()
    problems["devices"] = visit(ctx, f"{live_server.url}/devices.html", "#devices tbody tr")
    problems["dashboard"] = visit(ctx, f"{live_server.url}/coord.html", "main")
    ctx.close()
    assert {k: v for k, v in problems.items() if v} == {}
