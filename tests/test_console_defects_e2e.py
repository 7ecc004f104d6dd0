"""The console's field defects of issue 22, in Chromium: one server and one coordinator's
browser for the module, each test on what it created itself.

D15 the login, D11 the home, D16 tel: links, D24 the vulnerable list's heater column,
D20 需核实 counts and undo, D7 the household history in words, D27 the tab title."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import LiveServer, Stamper, put_record

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.browser

LIVE_MS = 30_000
INC = "inc-defects-e2e"
PHONE = "138 0000 1234"


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[LiveServer]:
    live = LiveServer(str(Path(tmp_path_factory.mktemp("defects")) / "defects.db")).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def world(server: LiveServer) -> dict[str, Any]:
    """One heating outage: a vulnerable door with a phone, an open heater need written as a
    set element, two heaters on loan (a 需核实 entry) and a visit, each signed."""
    now = int(time.time() * 1000)
    boss = server.enroll("coordinator", "主任")
    st = Stamper(boss.node)
    building = put_record(boss, st, "buildings", label="55号院3号楼", units=1, floors=6)
    home = put_record(boss, st, "households", building=building, unit="1", room="302")
    put_record(
        boss,
        st,
        "incidents",
        INC,
        kind="heating_outage",
        title="停暖 · 现场缺陷",
        status="repairing",
        buildings=[building],
        started_at=iso(now - 3_600_000),
        check_after_hours=24,
    )
    # Element writes, as the phones make them: the history showed these as raw keys.
    r = boss.sync(
        [
            {"coll": "households", "id": home, "field": f, "value": v, "hlc": st()}
            for f, v in (("vulnerable.lone_elderly", True), ("contact", PHONE))
        ]
        + [
            {
                "coll": "household_status",
                "id": f"{INC}~{home}",
                "field": "needs_open.heater",
                "value": True,
                "hlc": st(),
            }
        ]
    )
    assert r.status_code == 200 and r.json()["rejected"] == [], r.text
    for ago in (9, 4):
        put_record(
            boss,
            st,
            "deliveries",
            household=home,
            incident=INC,
            item="heater",
            qty=1,
            status="delivered",
            at=iso(now - ago * 60_000),
            by="王五",
        )
    put_record(
        boss,
        st,
        "visits",
        household=home,
        incident=INC,
        outcome="not_home",
        at=iso(now - 20 * 60_000),
        by="张三",
    )
    return {"boss": boss, "stamp": st, "home": home, "building": building}


@pytest.fixture(scope="module")
def desk(server: LiveServer, world: dict[str, Any], browser: Any) -> Iterator[Any]:
    """The coordinator's page, enrolled with an invite, holding the incident."""
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    code = server.invite("coordinator", "李书记")["code"]
    page.goto(f"{server.url}/coord.html#/enroll/{code}")
    expect(page.locator(f"a.card[data-incident='{INC}']")).to_be_visible(timeout=LIVE_MS)
    yield page
    assert errors == []
    ctx.close()


def test_the_console_without_a_session_opens_the_login(server: LiveServer, browser: Any) -> None:
    ctx = browser.new_context(locale="zh-CN")
    page = ctx.new_page()
    page.goto(f"{server.url}/coord.html#/i/{INC}")
    page.wait_for_url("**/login.html**", timeout=LIVE_MS)
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    assert "coord.html%23%2Fi%2F" in page.url  # back to the screen asked for
    ctx.close()


def test_the_home_says_nothing_is_under_development(desk: Any) -> None:
    desk.goto(desk.url.split("#")[0] + "#/")
    expect(desk.get_by_role("heading", name="事件")).to_be_visible()
    expect(desk.locator("#view")).not_to_contain_text("功能开发中")


def test_needs_and_vulnerable_lists_call_the_household_with_one_tap(desk: Any) -> None:
    base = desk.url.split("#")[0]
    desk.goto(f"{base}#/i/{INC}/needs")
    call = desk.locator("section.needs-queue").get_by_role("link", name=PHONE)
    expect(call).to_have_attribute("href", "tel:13800001234", timeout=LIVE_MS)
    desk.goto(f"{base}#/i/{INC}/vulnerable")
    table = desk.get_by_role("table")
    expect(table.get_by_role("link", name=PHONE)).to_have_attribute("href", "tel:13800001234")
    # One kind of value per column: the heater column counts, it never says 否.
    expect(table.get_by_role("columnheader", name="电暖气（台）")).to_be_visible()
    expect(table.locator("td[data-label='电暖气（台）']")).to_have_text("2")


def test_checked_counts_agree_and_checked_can_be_undone(desk: Any) -> None:
    desk.goto(desk.url.split("#")[0] + f"#/i/{INC}")
    panel = desk.get_by_role("region", name="需核实")
    badge = panel.get_by_test_id("checks-open")
    heaters = panel.locator('[data-group="two_heaters"]')
    expect(badge).to_have_text("1", timeout=LIVE_MS)
    expect(heaters.get_by_role("heading")).to_have_text("同一户借出两台以上电暖气 · 1")
    heaters.get_by_role("button", name="已核实").click()
    expect(badge).to_have_text("0")
    expect(heaters.get_by_role("heading")).to_have_text("同一户借出两台以上电暖气 · 0")
    # A redraw (another tab and back) refetches from the server: the counts still agree.
    desk.get_by_role("link", name="需求").click()
    desk.get_by_role("link", name="概况").click()
    panel = desk.get_by_role("region", name="需核实")
    expect(panel.get_by_test_id("checks-open")).to_have_text("0")
    panel.get_by_role("button", name="撤销核实").click()
    expect(panel.get_by_test_id("checks-open")).to_have_text("1")
    expect(panel.locator('[data-group="two_heaters"]').get_by_role("heading")).to_have_text(
        "同一户借出两台以上电暖气 · 1"
    )
    expect(panel.get_by_role("button", name="已核实")).to_be_visible()


def test_household_history_words_every_field_with_deliveries_and_who(
    desk: Any, world: dict[str, Any]
) -> None:
    desk.goto(desk.url.split("#")[0] + f"#/i/{INC}/h/{world['home']}")
    log = desk.locator("ul.door-log")
    expect(log.locator("li[data-coll='deliveries']")).to_have_count(2, timeout=LIVE_MS)
    expect(log.locator("li[data-coll='deliveries']").first).to_contain_text("王五")
    expect(log.locator("li[data-coll='deliveries']").first).to_contain_text("电暖气 ×1：已送达")
    expect(log.locator("li[data-coll='visits']")).to_contain_text("张三 · 走访：不在家")
    history = desk.locator("#view")
    expect(history).to_contain_text("重点人群加上：独居老人")
    expect(history).to_contain_text("需求加上：电暖气")
    expect(history).not_to_contain_text("f_")
    expect(history).not_to_contain_text("needs_open")


def test_on_a_phone_every_tab_starts_on_the_first_screen(desk: Any) -> None:
    base = desk.url.split("#")[0]
    desk.set_viewport_size({"width": 360, "height": 640})
    try:
        desk.goto(f"{base}#/i/{INC}")
        expect(desk.locator(".counters")).to_be_visible(timeout=LIVE_MS)  # 概况 keeps them
        for name, first in (("需求", "section.needs-queue h2"), ("重点人群", "table tbody td")):
            desk.get_by_role("link", name=name, exact=True).click()
            expect(desk.locator(first).first).to_be_in_viewport(ratio=1)
            # The counters and the report stay on 概况; the tabs sit under the title.
            expect(desk.locator(".counters")).to_be_hidden()
            tabs = desk.get_by_role("navigation", name="事件分区").bounding_box()
            head = desk.locator(".head-line").bounding_box()
            assert tabs and head and tabs["y"] < head["y"]
    finally:
        desk.set_viewport_size({"width": 360, "height": 740})


def test_a_new_field_report_shows_in_the_tab_title(desk: Any, world: dict[str, Any]) -> None:
    desk.goto(desk.url.split("#")[0] + f"#/i/{INC}")
    expect(desk).to_have_title("应急指挥", timeout=LIVE_MS)
    # A tab in the background at night: hidden, and the browser runs no animation frames.
    desk.evaluate(
        "Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });"
        "window.requestAnimationFrame = () => 0;"
    )
    put_record(
        world["boss"],
        world["stamp"],
        "incidents",
        kind="water_outage",
        title="3号楼漏水",
        status="reported",
        started_at=iso(int(time.time() * 1000)),
    )
    expect(desk).to_have_title("(1) 新上报 · 应急指挥", timeout=LIVE_MS)


def test_residents_see_which_buildings_are_back(
    server: LiveServer, world: dict[str, Any], browser: Any
) -> None:
    boss, st = world["boss"], world["stamp"]
    east, west = (put_record(boss, st, "buildings", label=f"{n}号楼", units=1) for n in "东西")
    for k in range(10):  # enough households for the residents' page to show counts
        put_record(boss, st, "households", building=(east, west)[k % 2], unit="1", room=f"{k}01")
    outage = put_record(
        boss,
        st,
        "incidents",
        kind="water_outage",
        title="停水 · 楼栋",
        status="repairing",
        buildings=[east, west],
        started_at=iso(int(time.time() * 1000)),
    )
    put_record(boss, st, "incidents", outage, **{f"restored_buildings.{east}": True})
    r = boss.client.post(f"/api/v1/incidents/{outage}/share", headers=boss.headers)
    assert r.status_code == 200, r.text
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    page = ctx.new_page()
    page.goto(r.json()["url"])
    expect(page.locator("#restored-buildings")).to_have_text("已恢复 1 / 2 栋", timeout=LIVE_MS)
    expect(page.locator("#buildings-done")).to_have_text("已恢复：东号楼")
    expect(page.locator("#buildings-waiting")).to_have_text("尚未恢复：西号楼")
    ctx.close()
