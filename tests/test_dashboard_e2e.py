"""The coordinator's dashboard and the residents' page, live, in Debian's Chromium.

A volunteer's visit synced over HTTP shows up on the coordinator's board and counters;
a public update the coordinator posts from the dashboard shows up on a resident's phone.
Screenshots land in /tmp/doorstep-e2e for a human to look at.
"""

import time
from pathlib import Path
from typing import Any

import pytest
from conftest import LiveServer, Stamper
from playwright.sync_api import expect

from server.ops.demo import HEATING
from sync.ids import uuid7

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/doorstep-e2e")
SHOTS.mkdir(exist_ok=True)
#: How long a live change may take to appear (the product target is "within seconds").
LIVE_MS = 30_000  # the first load on a loaded CI box, with the PostgreSQL run beside it


def unvisited_household(server: LiveServer) -> tuple[str, str]:
    """(household id, building id) of a household nobody has visited yet."""
    rows = server.query(
        "SELECT h.id, json_extract(h.value, '$') FROM winners h "
        "WHERE h.coll = 'households' AND h.field = 'building' "
        "AND h.id NOT IN (SELECT json_extract(v.value, '$') FROM winners v "
        "WHERE v.coll = 'visits' AND v.field = 'household') ORDER BY h.id LIMIT 1"
    )
    return rows[0]


def counter(page: Any, key: str) -> Any:
    return page.locator(f'.counter[data-key="{key}"] .c-value')


def test_coordinator_sees_a_visit_live_and_residents_see_a_public_update(
    live_server: LiveServer, browser: Any
) -> None:
    errors: list[str] = []
    coord_ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    dash = coord_ctx.new_page()
    dash.on("pageerror", lambda e: errors.append(str(e)))
    code = live_server.invite("coordinator", "李主任")["code"]
    dash.goto(f"{live_server.url}/coord.html#/enroll/{code}")
    expect(dash.locator("a.card").first).to_be_visible(timeout=LIVE_MS)
    dash.goto(f"{live_server.url}/coord.html#/i/{HEATING}")
    expect(counter(dash, "affected")).to_have_text("741", timeout=LIVE_MS)
    expect(dash.locator("#live")).to_have_attribute("data-state", "live", timeout=LIVE_MS)
    reached = int(counter(dash, "reached").inner_text())

    # A volunteer, assigned the building by a coordinator, syncs a visit from a phone.
    vol = live_server.enroll("volunteer", "张志愿者")
    stamp = Stamper(vol.node)
    hid, building = unvisited_household(live_server)
    boss = live_server.enroll("coordinator", "王书记")
    bs = Stamper(boss.node)
    assignment = {"person": vol.person, "building": building, "incident": HEATING, "active": True}
    r = boss.sync(
        [
            {
                "coll": "assignments",
                "id": f"{vol.person}~{building}",
                "field": f,
                "value": v,
                "hlc": bs(),
            }
            for f, v in assignment.items()
        ]
    )
    assert r.status_code == 200 and r.json()["rejected"] == [], r.text
    vid = uuid7()
    fields = {
        "household": hid,
        "incident": HEATING,
        "outcome": "reached",
        "needs": ["heater"],
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    r = vol.sync(
        [
            {"coll": "visits", "id": vid, "field": f, "value": v, "hlc": stamp()}
            for f, v in fields.items()
        ]
    )
    assert r.status_code == 200 and r.json()["rejected"] == []

    dash.get_by_role("link", name="楼栋").click()
    cell = dash.locator(f'.cell[data-h="{hid}"]')
    expect(cell).to_have_attribute("data-state", "help", timeout=LIVE_MS)
    expect(counter(dash, "reached")).to_have_text(str(reached + 1), timeout=LIVE_MS)
    expect(counter(dash, "needs_open")).to_have_text("1", timeout=LIVE_MS)
    dash.screenshot(path=str(SHOTS / "dashboard-live-visit.png"), full_page=False)

    # The coordinator makes the residents' link, a resident opens it on a phone.
    dash.get_by_role("link", name="概况").click()
    dash.get_by_role("button", name="生成居民链接").click()
    link = dash.locator(".share-url a")
    expect(link).to_be_visible(timeout=LIVE_MS)
    expect(dash.locator("img.qr")).to_be_visible()
    url = link.get_attribute("href")
    assert url and url.startswith(f"{live_server.url}/r/")
    phone_ctx = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    resident = phone_ctx.new_page()
    resident.on("pageerror", lambda e: errors.append(str(e)))
    resident.goto(url)
    expect(resident.locator("#restored")).to_have_text("已恢复 0 / 741 户", timeout=LIVE_MS)
    expect(resident.locator("#live")).to_have_attribute("data-state", "live", timeout=LIVE_MS)

    # The coordinator posts a public update from the dashboard; the resident sees it live.
    text = "第二处漏点已焊接完成，正在注水升温，预计凌晨恢复供暖。"
    dash.get_by_label("通报内容").fill(text)
    dash.get_by_label("公开给居民").check()
    dash.get_by_role("button", name="预览并公开发布").click()
    dash.get_by_role("dialog").get_by_role("button", name="发布").click()
    expect(resident.locator("#updates li").first).to_contain_text(text, timeout=LIVE_MS)
    # ... and the status moving to restored.
    dash.locator('.step[data-status="restored"]').click()
    dash.get_by_role("dialog").get_by_role("button", name="确认").click()
    expect(resident.locator("#restored")).to_have_text("已恢复 741 / 741 户", timeout=LIVE_MS)
    resident.screenshot(path=str(SHOTS / "resident-live-update.png"), full_page=True)
    dash.screenshot(path=str(SHOTS / "dashboard-restored.png"), full_page=False)
    assert errors == []
    coord_ctx.close()
    phone_ctx.close()
