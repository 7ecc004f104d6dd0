"""上传台账 in the console, in Debian's Chromium: a coordinator uploads a ledger whose room
column the header does not name, places it from the dropdown, confirms, and sees the
households arrive."""

from pathlib import Path
from typing import Any

import pytest
from conftest import LiveServer

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.browser

LIVE_MS = 30_000  # the test machine's two cores are shared


def test_a_coordinator_uploads_a_ledger_fixes_a_column_and_sees_the_households(
    empty_server: LiveServer, browser: Any, tmp_path: Path
) -> None:
    ledger = tmp_path / "精图社区台账.csv"
    ledger.write_bytes(
        "精图社区住户台账\n院,楼号,单元,门户,户主,联系电话\n"
        "丽源路55号院,3,2,401,王秀英,138 0000 1234\n"
        "丽源路55号院,3,2,402,李建国,139-0000-5678\n"
        "丽源路55号院,3,2,,张桂兰,13900001111\n".encode("gbk")
    )
    errors: list[str] = []
    ctx = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = ctx.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    code = empty_server.invite("coordinator", "李书记")["code"]
    page.goto(f"{empty_server.url}/coord.html#/enroll/{code}")
    page.get_by_role("link", name="上传台账").click(timeout=LIVE_MS)
    page.get_by_label("社区名称").fill("精图社区")
    page.get_by_label("街道名称").fill("太平桥街道")
    page.get_by_label("台账文件").set_input_files(str(ledger))
    expect(page.get_by_role("alert")).to_contain_text("没认出楼号和门牌号", timeout=LIVE_MS)
    page.get_by_role("combobox", name="门户").select_option(label="门牌号")
    page.get_by_role("button", name="按此对应重新预览").click()
    expect(page.get_by_text("新增 2 户")).to_be_visible(timeout=LIVE_MS)
    rejected = page.get_by_role("table", name="有问题的行 1 行（不会导入）")
    expect(rejected).to_contain_text("缺少楼号或门牌号")
    expect(rejected.get_by_role("cell", name="5", exact=True)).to_be_visible()
    assert empty_server.query("SELECT count(*) FROM winners WHERE coll = 'households'") == [(0,)]
    page.get_by_role("button", name="确认导入").click()
    expect(page.get_by_text("已导入：新增 2 户，更新 0 户。")).to_be_visible(timeout=LIVE_MS)
    homes = page.locator(".ledger-buildings")
    expect(homes).to_contain_text("丽源路55号院3号楼", timeout=LIVE_MS)
    expect(homes).to_contain_text("2单元401 王秀英 13800001234", timeout=LIVE_MS)
    expect(homes).to_contain_text("2单元402 李建国 13900005678")
    assert errors == []
    ctx.close()
