"""The coordinator's console, driven as a duty officer would, in Debian's Chromium at a
laptop's 1366×768 and a phone's 360 px: a field report arrives and is acknowledged; the
vulnerable list is printed; a need is assigned and closed; one building is restored with
confirmation, then undone; a public update is previewed and posted; the daily brief is
downloaded and opened with openpyxl. Everything the test checks is what it created.
Screenshots land in /tmp/doorstep-e2e for a human to look at.
"""

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import LiveServer, Stamper, put_record
from conftest import eventually as until

from server.http.console import duty_day
from server.ops.demo import HEATING
from sync.ids import uuid7

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
openpyxl = pytest.importorskip("openpyxl")

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/doorstep-e2e")
SHOTS.mkdir(exist_ok=True)
#: Generous: the test machine's two cores are shared, and a sync round trip waits its turn.
LIVE_MS = 30_000
SHANGHAI = timedelta(hours=8)


def winner(server: LiveServer, coll: str, rid: str, fld: str) -> Any:
    rows = server.query(
        "SELECT value FROM winners WHERE coll = ? AND id = ? AND field = ?", (coll, rid, fld)
    )
    return json.loads(rows[0][0]) if rows else None


def eventually(fn: Any, want: Any, timeout: float = LIVE_MS / 1000) -> None:
    """Wait until ``fn()`` (a read of the server's database) equals ``want``."""
    until(lambda: fn() == want, f"the server to hold {want!r}", timeout=timeout)


def unvisited_household(server: LiveServer) -> tuple[str, str]:
    """(household, building) in the heating incident that nobody has visited yet."""
    scope = winner(server, "incidents", HEATING, "buildings")
    rows = server.query(
        "SELECT h.id, json_extract(h.value, '$') FROM winners h "
        "WHERE h.coll = 'households' AND h.field = 'building' "
        "AND json_extract(h.value, '$') IN (SELECT value FROM json_each(?)) "
        "AND h.id NOT IN (SELECT json_extract(v.value, '$') FROM winners v "
        "WHERE v.coll = 'visits' AND v.field = 'household') ORDER BY h.id LIMIT 1",
        (json.dumps(scope),),
    )
    return rows[0]


@pytest.mark.parametrize(
    "size", [{"width": 1366, "height": 768}, {"width": 360, "height": 740}], ids=["1366", "360"]
)
def test_a_coordinator_runs_an_outage_from_the_console(
    live_server: LiveServer, browser: Any, tmp_path: Path, size: dict
) -> None:
    w = size["width"]
    errors: list[str] = []
    ctx = browser.new_context(
        viewport=size, locale="zh-CN", timezone_id="Asia/Shanghai", accept_downloads=True
    )
    page = ctx.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    code = live_server.invite("coordinator", "李书记")["code"]
    page.goto(f"{live_server.url}/coord.html#/enroll/{code}")
    expect(page.locator(f"a.card[data-incident='{HEATING}']")).to_be_visible(timeout=LIVE_MS)

    # A volunteer reports a burst pipe from the field (a field report, #22); it arrives with
    # its content.
    vol = live_server.enroll("volunteer", "张志愿者")
    place = f"山字石街{uuid7()[-6:]}号院内"
    report = put_record(
        vol,
        Stamper(vol.node),
        "reports",
        kind="pipe_burst",
        status="pending",
        place=place,
        text="墙内主管道爆裂，院内结冰",
        reporter=vol.person,
        at=datetime.now(UTC).isoformat()[:23] + "Z",
    )
    card = page.locator(f".report-card[data-report='{report}']")
    expect(page.get_by_role("alert")).to_contain_text("新情况待确认", timeout=LIVE_MS)
    expect(card).to_contain_text(place, timeout=LIVE_MS)
    expect(card).to_contain_text("墙内主管道爆裂，院内结冰")
    expect(card).to_contain_text("张志愿者", timeout=LIVE_MS)
    expect(page.locator("#inbox-link")).not_to_have_attribute("data-count", "0")
    page.screenshot(path=str(SHOTS / f"console-inbox-{w}.png"))
    card.get_by_role("button", name="确认收到").click()
    # Acknowledged, it leaves the count and waits below to be attached (#22 D18).
    expect(card.get_by_role("button", name="确认收到")).to_have_count(0, timeout=LIVE_MS)
    eventually(lambda: winner(live_server, "reports", report, "ack_by") is not None, True)
    card.get_by_role("combobox", name="并入哪个事件").select_option(HEATING)
    card.get_by_role("button", name="并入事件").click()
    expect(card).to_have_count(0, timeout=LIVE_MS)
    eventually(lambda: winner(live_server, "reports", report, "incident"), HEATING)
    assert winner(live_server, "reports", report, "status") == "merged"

    # The vulnerable list of the heating outage, printed.
    page.locator(f"a.card[data-incident='{HEATING}']").click()
    page.get_by_role("link", name="重点人群", exact=True).click()
    table = page.locator("table.v-table")
    expect(table).to_be_visible(timeout=LIVE_MS)
    assert table.locator("tbody tr").count() > 0
    page.evaluate("window.print = () => { window.__printed = true; }")
    page.get_by_role("button", name="打印").click()
    assert page.evaluate("window.__printed") is True
    page.emulate_media(media="print")
    expect(page.locator("nav.tabs")).to_be_hidden()
    expect(table).to_be_visible()
    page.screenshot(path=str(SHOTS / f"console-vulnerable-print-{w}.png"))
    page.emulate_media(media="screen")

    # A need found at a door: assigned to the volunteer, then closed.
    hid, building = unvisited_household(live_server)
    boss = live_server.enroll("coordinator", "王书记")
    at = datetime.now(UTC).isoformat()[:23] + "Z"
    put_record(
        boss,
        Stamper(boss.node),
        "visits",
        household=hid,
        incident=HEATING,
        at=at,
        outcome="reached",
        needs=["water"],
    )
    page.get_by_role("link", name="需求", exact=True).click()
    row = page.locator(f"li.need-row[data-h='{hid}']")
    expect(row).to_be_visible(timeout=LIVE_MS)
    row.get_by_role("combobox").select_option(label="张志愿者", timeout=LIVE_MS)
    status_id = f"{HEATING}~{hid}"
    eventually(lambda: winner(live_server, "household_status", status_id, "assignee"), vol.person)
    row.get_by_role("button", name=re.compile("已解决")).click()
    eventually(lambda: winner(live_server, "household_status", status_id, "needs_open"), [])
    expect(row).to_have_count(0, timeout=LIVE_MS)

    # One building restored, asked first with what residents will see; then undone.
    # Each building is an element of the set restored_buildings (sync/sets.py).
    scope = winner(live_server, "incidents", HEATING, "buildings")
    before = winner(live_server, "incidents", HEATING, "restored_buildings") or []
    element = f"restored_buildings.{building}"
    page.get_by_role("link", name="楼栋", exact=True).click()
    b_row = page.locator(f"li.b-row[data-building='{building}']")
    b_row.get_by_role("button", name=re.compile("标记已恢复")).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"已恢复 {len(before) + 1} / {len(scope)} 栋")
    page.screenshot(path=str(SHOTS / f"console-restore-confirm-{w}.png"))
    dialog.get_by_role("button", name="确认").click()
    eventually(lambda: winner(live_server, "incidents", HEATING, element), True)
    expect(b_row.get_by_role("button", name=re.compile("改回未恢复"))).to_be_visible(
        timeout=LIVE_MS
    )
    page.locator(".toast", has_text="已恢复").get_by_role("button", name="撤销").click()
    eventually(lambda: winner(live_server, "incidents", HEATING, element), False)
    expect(b_row.get_by_role("button", name=re.compile("标记已恢复"))).to_be_visible(
        timeout=LIVE_MS
    )

    # A public update: internal by default, previewed, then posted to residents.
    page.get_by_role("link", name="概况", exact=True).click()
    text = f"第二处漏点已焊接完成，正在注水升温。{uuid7()[-6:]}"
    page.get_by_label("通报内容").fill(text)
    expect(page.get_by_role("button", name="发布内部通报")).to_be_visible()
    page.get_by_label("公开给居民").check()
    expect(page.locator(".public-preview")).to_contain_text(text)
    page.get_by_role("button", name="预览并公开发布").click()
    expect(page.get_by_role("dialog")).to_contain_text(text)
    page.get_by_role("dialog").get_by_role("button", name="发布").click()
    found: list[str] = []

    def posted() -> bool:
        rows = live_server.query(
            "SELECT id FROM winners WHERE coll = 'updates' AND field = 'text' AND value = ?",
            (json.dumps(text, ensure_ascii=False),),
        )
        found[:] = [r[0] for r in rows]
        return bool(rows) and winner(live_server, "updates", rows[0][0], "public") is True

    eventually(posted, True)

    # The daily brief of the duty day the update was posted in (from 08:00 Shanghai time),
    # as XLSX and on paper.
    posted_at = winner(live_server, "updates", found[0], "at").replace("Z", "+00:00")
    day = duty_day(datetime.fromisoformat(posted_at), int(SHANGHAI.total_seconds()) // 60, 8)
    # A live redraw can swallow a click on a tab being replaced: press again, as a person would.
    for _ in range(3):
        page.get_by_role("link", name="日报", exact=True).click()
        try:
            expect(page.get_by_label("日期")).to_be_visible(timeout=10_000)
            break
        except AssertionError:
            continue
    page.get_by_label("日期").fill(day)
    with page.expect_download() as dl:
        page.get_by_role("button", name="下载日报 (Excel)").click()
    path = tmp_path / f"brief-{w}.xlsx"
    dl.value.save_as(path)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["日报", "抢修经过", "公开通报"]
    assert text in [r[1] for r in wb["公开通报"].iter_rows(min_row=2, values_only=True)]
    figures = {r[0]: r[1] for r in wb["日报"].iter_rows(values_only=True) if r and r[0]}
    assert figures["日期"] == day and figures["受影响户数"] > 0
    page.get_by_role("button", name="打开打印版").click()
    expect(page.locator(".brief-print")).to_contain_text(text, timeout=LIVE_MS)
    page.screenshot(path=str(SHOTS / f"console-brief-print-{w}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= w

    # The public update was a mistake (#22 D10): edited, previewed, then retracted.
    page.evaluate("h => { location.hash = h; }", f"#/i/{HEATING}")
    posted_item = page.locator(f"li[data-update='{found[0]}']")
    posted_item.get_by_role("button", name="修改").click()
    fixed = f"抢修完成，正在注水升温。{uuid7()[-6:]}"
    posted_item.get_by_role("textbox", name="修改").fill(fixed)
    posted_item.get_by_role("button", name="保存").click()
    expect(page.get_by_role("dialog")).to_contain_text(fixed)
    page.get_by_role("dialog").get_by_role("button", name="保存").click()
    eventually(lambda: winner(live_server, "updates", found[0], "text"), fixed)
    expect(posted_item).to_contain_text(fixed, timeout=LIVE_MS)
    posted_item.get_by_role("button", name="撤回").click()
    page.get_by_role("dialog").get_by_role("button", name="撤回").click()
    eventually(lambda: winner(live_server, "updates", found[0], "public"), False)
    expect(posted_item.get_by_role("button", name="撤回")).to_have_count(0, timeout=LIVE_MS)
    expect(posted_item).to_contain_text("内部")
    assert errors == []
    ctx.close()
