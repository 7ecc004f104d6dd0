"""Issue 22's field defects in the volunteer app and the console board, in Debian's
Chromium at a phone's 360 px against one real server process with the demo loaded (shared
by the module: each test works on doors nobody else here touches).

D6 undo only for the household in view, naming it; D5 已搬走 its own state on the phone
and the board; D12 a heater delivered without a visit counts as reached on the tile, in the
history and in the server's counters; D20 two heaters out is no 需核实 on the phone; D21
one needs picker at a time; D22 the vulnerable dot in both legends; D8 no raw template on
the first screen; D13 only the assigned building; D23 settings without node ids or field
counts; D19 a server that does not answer is not "离线".
"""

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import LiveServer, Stamper, load_demo, put_record
from playwright.sync_api import expect
from test_every_entry_e2e import quiet_doors
from test_pwa_e2e import SHOTS, Phone, heating_incident

pytestmark = pytest.mark.browser

LIVE_MS = 30_000
UNDO = "↶ 撤销上一条"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[LiveServer]:
    """One demo server for the module; every test picks doors of its own."""
    db = str(tmp_path_factory.mktemp("field") / "live.db")
    load_demo(db)
    s = LiveServer(db).start()
    try:
        yield s
    finally:
        s.stop()


def progress(server: LiveServer, boss: Any, incident: str) -> dict:
    r = httpx.get(f"{server.url}/api/v1/incidents/{incident}/progress", headers=boss.headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_undo_acts_only_on_the_household_in_view_and_names_it(
    browser: Any, server: LiveServer
) -> None:
    incident = heating_incident(server)
    _, _, rooms = quiet_doors(server, incident)
    phone = Phone(browser, server, "撤销测试")
    page = phone.page
    phone.offline()
    card = lambda hid: f"#/i/{incident}/h/{hid}"  # noqa: E731
    phone.go(card(rooms["402"]))
    page.locator('[data-outcome="not_home"]').click()
    page.locator(".state-banner.t-not_home").wait_for()
    address = page.locator(".titlebar h1").inner_text()
    # Another door's page offers no undo of 402's entry.
    phone.go(card(rooms["403"]))
    page.locator(".state-banner.t-none").wait_for()
    expect(page.get_by_role("button", name=UNDO)).to_be_hidden()
    # Back on 402 it does, and the toast says which door and what.
    phone.go(card(rooms["402"]))
    page.get_by_role("button", name=UNDO).click()
    page.locator(".state-banner.t-none").wait_for()
    expect(page.locator(".toast", has_text="已撤销")).to_contain_text(f"已撤销 {address} 的走访")
    phone.go(card(rooms["403"]))
    page.locator(".state-banner.t-none").wait_for()
    phone.offline(False)
    phone.wait_synced()
    assert server.query(
        "SELECT count(*) FROM history WHERE node = ? AND coll = 'visits'", (phone.node,)
    ) == [(0,)]
    phone.close()


def test_moved_out_and_a_heater_without_a_visit_read_the_same_on_tile_history_and_counters(
    browser: Any, server: LiveServer
) -> None:
    incident = heating_incident(server)
    _, label, rooms = quiet_doors(server, incident)
    boss = server.enroll("coordinator", "计数负责人")
    before = progress(server, boss, incident)
    phone = Phone(browser, server, "搬走测试")
    page = phone.page
    card = lambda hid: f"#/i/{incident}/h/{hid}"  # noqa: E731

    # D21: while the visit asks for needs, the page has one needs picker, not two.
    phone.go(card(rooms["402"]))
    page.locator('[data-outcome="reached"]').click()
    expect(page.get_by_role("button", name="饮水", exact=True)).to_have_count(1)
    page.get_by_role("button", name="返回", exact=True).click()
    expect(page.locator(".needs-editor")).to_be_visible()

    # D5: 已搬走 is its own state, not a green 已联系.
    phone.go(card(rooms["403"]))
    page.locator('[data-outcome="moved"]').click()
    expect(page.locator('[data-testid="hstate"]')).to_have_text("已搬走")
    expect(page.locator('[data-testid="hstate"]')).to_have_class(re.compile(r"\bt-moved\b"))

    # D12: a heater handed over with no visit, then taken back: reached, not 未走访.
    phone.go(card(rooms["404"]))
    page.get_by_role("button", name="送电暖气").click()
    page.locator('[data-testid="heater-out"]').wait_for()
    # D20 on the phone: two out is a prompt to the volunteer, never the console's 需核实
    # status (which a coordinator's 已核实 clears and the phone cannot see).
    page.get_by_role("button", name="再送一台电暖气").click()
    page.get_by_role("button", name="确定再送").click()
    out = page.locator('[data-testid="heater-out"]')
    expect(out).to_contain_text("已送出 2 台，请确认是否重复送达")
    expect(out).not_to_contain_text("需核实")
    returned = page.get_by_role("button", name="已回收")
    for left in (1, 0):
        returned.first.click()
        expect(returned).to_have_count(left)
    expect(page.locator('[data-testid="hstate"]')).to_have_text("已联系")
    expect(page.locator(".history li", has_text="送电暖气 ×1")).to_have_count(2)
    expect(page.locator(".history")).to_contain_text("搬走测试")
    phone.wait_synced()

    # The grid: tiles and the legend (with the vulnerable dot, D22).
    phone.go(f"#/i/{incident}")
    chip = page.locator("button.chip", has_text=label)
    if chip.count():
        chip.first.click()
    expect(page.locator(f'.tile[data-h="{rooms["403"]}"]')).to_have_class(
        re.compile(r"\bt-moved\b")
    )
    expect(page.locator(f'.tile[data-h="{rooms["404"]}"]')).to_have_class(
        re.compile(r"\bt-reached\b")
    )
    legend = page.get_by_role("group", name="图例")
    expect(legend).to_contain_text("已搬走")
    expect(legend).to_contain_text("白点 = 重点人群")
    phone.shot("field-grid-legend")

    # The server counts what the tiles show: 403 visited not reached, 404 reached.
    after = progress(server, boss, incident)
    assert after["visited"] == before["visited"] + 2
    assert after["reached"] == before["reached"] + 1
    phone.close()

    # The console board shows 403 as 已搬走 too, with both legend entries.
    ctx = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    dash = ctx.new_page()
    code = server.invite("coordinator", "看板负责人")["code"]
    dash.goto(f"{server.url}/coord.html#/enroll/{code}")
    expect(dash.locator("a.card").first).to_be_visible(timeout=LIVE_MS)
    dash.goto(f"{server.url}/coord.html#/i/{incident}")
    dash.get_by_role("link", name="楼栋").click()
    cell = dash.locator(f'.cell[data-h="{rooms["403"]}"]')
    expect(cell).to_have_attribute("data-state", "moved", timeout=LIVE_MS)
    expect(cell).to_have_attribute("aria-label", re.compile("已搬走"))
    board_legend = dash.get_by_role("group", name="图例")
    expect(board_legend).to_contain_text("已搬走")
    expect(board_legend).to_contain_text("白点 = 重点人群")
    dash.screenshot(path=str(SHOTS / "field-board-legend.png"))
    ctx.close()


def assign_one_building(server: LiveServer, person: str, building: str, incident: str) -> None:
    boss = server.enroll("coordinator", "分配负责人")
    fields = {"person": person, "building": building, "incident": incident, "active": True}
    put_record(boss, Stamper(boss.node), "assignments", f"{person}~{building}", **fields)


def test_a_volunteer_with_one_building_sees_that_building_and_plain_words(
    browser: Any, server: LiveServer
) -> None:
    incident = heating_incident(server)
    _, label, rooms = quiet_doors(server, incident)
    building = json.loads(
        server.query(
            "SELECT value FROM winners WHERE coll = 'households' AND id = ? AND field = 'building'",
            (rooms["402"],),
        )[0][0]
    )
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    invite = server.invite(role="volunteer", name="单楼志愿者")
    assign_one_building(server, invite["person"], building, incident)
    page.goto(invite["url"])
    first = page.locator(".incident-card").first
    first.wait_for(timeout=20_000)
    page.wait_for_function("document.getElementById('status').innerText.includes('已同步')")

    # D8: the first screen fills every number in; no raw "{x}".
    cards = page.locator(".incident-card")
    expect(cards.filter(has_text="拒绝")).not_to_have_count(0)
    for text in cards.all_inner_texts():
        assert "{" not in text, text

    # D13: only the assigned building, no chips for the other ten.
    page.locator(f'a.card[href="#/i/{incident}"]').click()
    page.locator(".tile").first.wait_for()
    expect(page.locator("section.building")).to_have_count(1)
    expect(page.locator("section.building h3")).to_have_text(label)
    expect(page.locator(".chips.buildings")).to_have_count(0)

    # D23: settings say what waits in words a person reads; no node id, no field count.
    node = page.evaluate(
        "() => import('/js/sync/idb-store.js').then(m => m.IdbStore.open())"
        ".then(s => s.meta.auth.node)"
    )
    page.evaluate("location.hash = '#/settings'")
    pending = page.locator('[data-testid="pending-count"]')
    expect(pending).to_have_text("没有待上传的记录")
    body = page.locator("#view").inner_text()
    assert node not in body and "项改动" not in body, body
    page.get_by_text("本机编号").click()
    expect(page.locator(".device-id")).to_have_text(f"{node[-6:-3].upper()}-{node[-3:].upper()}")

    # D19: a server that does not answer is not "离线"; in English no Chinese word.
    parts = """([online, phase]) => import('/js/shared/status-line.js').then(m =>
        m.statusParts({ online, phase, pending: 0, rejected: 0 }).map(p => p.textContent))"""
    assert page.evaluate(parts, [True, "error"])[0] == "连不上服务器"
    assert page.evaluate(parts, [False, "idle"])[0] == "离线"
    page.get_by_role("button", name="English").click()
    status = page.locator("#status")
    expect(status).to_contain_text("Synced")
    assert not re.search(r"[\u4e00-\u9fff]", status.inner_text().replace("单楼志愿者", ""))
    page.screenshot(path=str(SHOTS / "field-settings-en.png"))
    page.get_by_role("button", name="中文").click()
    assert not errors, errors
    ctx.close()
