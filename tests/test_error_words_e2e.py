"""The server's refusals in the page's language (issue 19, part 5), in Debian's Chromium:
a wrong password at login and a used invite link are worded in Chinese by the page, never
the server's English message; switched to English, the same refusal is English."""

from typing import Any

import httpx
import pytest
from conftest import LiveServer

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.browser

MS = 30_000


def test_a_wrong_password_and_a_used_invite_are_told_in_chinese(
    empty_server: LiveServer, browser: Any
) -> None:
    from server.ops.access_commands import add_coordinator

    add_coordinator(empty_server.db_path, "office-e", "night shift 3am", name="值班室")
    ctx = browser.new_context(locale="zh-CN")
    page = ctx.new_page()
    page.goto(f"{empty_server.url}/login.html")
    page.get_by_label("登录名").fill("office-e")
    page.get_by_label("密码").fill("not the password")
    page.get_by_role("button", name="登录", exact=True).click()
    said = page.get_by_text("登录名或密码不对")
    expect(said).to_be_visible(timeout=MS)
    assert "wrong" not in said.inner_text().lower()

    # The link a volunteer was sent, already spent by another phone.
    invite = empty_server.invite(name="李四")
    r = httpx.post(
        f"{empty_server.url}/api/v1/enroll", json={"code": invite["code"], "device": "other"}
    )
    assert r.status_code == 200, r.text
    phone = ctx.new_page()
    phone.goto(invite["url"])
    used = phone.get_by_text("这个邀请码已经用过了")
    expect(used).to_be_visible(timeout=MS)
    assert "already" not in used.inner_text()

    # The same refusal in English once the person chose English (one language at a time).
    phone.evaluate("localStorage.setItem('doorstep.lang', 'en')")
    phone.reload()
    expect(phone.locator(".enroll-msg")).to_have_text(
        "This invite code has already been used. Ask the coordinator for a new one.", timeout=MS
    )
    ctx.close()
