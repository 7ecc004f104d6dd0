"""The dashboard's first load from ``GET /api/v1/snapshot`` (#12), in Debian's Chromium:
it shows the community after one request, stores every field winner and then the cursor
in IndexedDB, and does not ask again on the next load: it opens from what it stored."""

import io
import json
import re
from typing import Any

import pytest
from conftest import LiveServer, eventually

from server.ops.demo import HEATING

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.browser

LIVE_MS = 30_000


IDB = """async ([store, key]) => {
  const db = await new Promise((res, rej) => {
    const r = indexedDB.open('doorstep');
    r.onsuccess = () => res(r.result);
    r.onerror = () => rej(r.error);
  });
  try {
    return await new Promise((res, rej) => {
      const s = db.transaction(store).objectStore(store);
      const g = key === null ? s.count() : s.get(key);
      g.onsuccess = () => res(g.result ?? null); g.onerror = () => rej(g.error);
    });
  } finally { db.close(); }
}"""


def _every_winner_then_the_cursor(page: Any, live_server: LiveServer) -> None:
    """The browser's IndexedDB holds every winner the server holds, then the cursor."""
    winners = live_server.query("SELECT count(*) FROM winners")[0][0]
    eventually(
        lambda: page.evaluate(IDB, ["fields", None]) == winners,
        "every winner stored",
        LIVE_MS / 1000,
    )
    eventually(
        lambda: (page.evaluate(IDB, ["meta", "cursor"]) or 0) > 0, "then the cursor", LIVE_MS / 1000
    )


def test_the_dashboard_starts_from_a_snapshot_and_reopens_offline(
    live_server: LiveServer, browser: Any
) -> None:
    errors: list[str] = []
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    page = ctx.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    asked: list[str] = []
    page.on(
        "request",
        lambda r: asked.append(r.url.split("/api/v1/")[-1]) if "/api/v1/" in r.url else None,
    )
    workers: list[str] = []
    page.on("worker", lambda w: workers.append(w.url))
    code = live_server.invite("coordinator", "李书记")["code"]
    page.goto(f"{live_server.url}/coord.html#/enroll/{code}")
    card = page.locator(f"a.card[data-incident='{HEATING}']")
    expect(card).to_be_visible(timeout=LIVE_MS)
    assert "snapshot" in asked
    # Every winner the server holds (this coordinator has no community: it reads all) is
    # stored, and only then the cursor: the sync loop goes on from there.
    _every_winner_then_the_cursor(page, live_server)
    # Stored by the worker, off the page's thread (the page falls back to storing itself).
    assert [u for u in workers if u.endswith("/dist/store-worker.js")], workers
    # A second page load does not ask for a snapshot again: it has a replica.
    asked.clear()
    page.reload()
    expect(card).to_be_visible(timeout=LIVE_MS)
    page.wait_for_function(
        "() => document.getElementById('live').dataset.state === 'live'", timeout=LIVE_MS
    )
    assert "snapshot" not in asked
    page.locator(f"a.card[data-incident='{HEATING}']").click()
    expect(page.locator(".counters")).to_be_visible()
    assert errors == []
    ctx.close()


def test_a_fresh_browser_exports_an_incident_chosen_by_name(
    live_server: LiveServer, browser: Any
) -> None:
    """The devices page lists incidents from the server: no dashboard replica needed."""
    from server.ops.access_commands import add_coordinator

    add_coordinator(live_server.db_path, "office-x", "night shift 3am", name="社区办公室")
    ctx = browser.new_context(locale="zh-CN", accept_downloads=True)
    page = ctx.new_page()
    page.goto(f"{live_server.url}/login.html?next=/devices.html")
    page.fill("input[name=login]", "office-x")
    page.fill("input[name=password]", "night shift 3am")
    page.click("button[type=submit]")
    title = json.loads(
        live_server.query(
            "SELECT value FROM winners WHERE coll = 'incidents' AND id = ? AND field = 'title'",
            (HEATING,),
        )[0][0]
    )
    select = page.get_by_label("事件")
    expect(select.locator(f"option[value='{HEATING}']")).to_contain_text(title, timeout=LIVE_MS)
    select.select_option(HEATING)
    with page.expect_download() as dl:
        page.get_by_role("button", name="Excel (XLSX)").click()
    # Named by the incident and the day (RFC 6266 filename*), readable by a Chinese office.
    assert re.fullmatch(rf"{re.escape(title)}-\d{{4}}-\d\d-\d\d\.xlsx", dl.value.suggested_filename)
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(dl.value.path().read_bytes()))  # no suffix on disk
    assert wb.sheetnames == ["住户", "走访记录", "物资发放"]
    header = next(wb["走访记录"].iter_rows(max_row=1, values_only=True))
    assert header[:3] == ("走访时间", "地址", "结果")
    ctx.close()


def test_an_incident_shows_its_head_while_the_community_is_on_its_way(
    live_server: LiveServer, browser: Any
) -> None:
    """A fresh console asks for the incidents alone beside the whole snapshot: the head of
    an incident (title, report, counters) is on screen from the small answer, its sections
    say 正在加载… until the whole arrives, then show it; nothing is stored twice."""
    from server.ops.access_commands import add_coordinator

    add_coordinator(live_server.db_path, "office-h", "night shift 3am", name="值班室")
    title = json.loads(
        live_server.query(
            "SELECT value FROM winners WHERE coll = 'incidents' AND id = ? AND field = 'title'",
            (HEATING,),
        )[0][0]
    )
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    held: list[Any] = []
    # The whole snapshot waits until the test lets it go; ?coll=incidents does not match.
    page.route("**/api/v1/snapshot", lambda route: held.append(route))
    page.goto(f"{live_server.url}/login.html?next=/coord.html%23/i/{HEATING}")
    page.fill("input[name=login]", "office-h")
    page.fill("input[name=password]", "night shift 3am")
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name=title)).to_be_visible(timeout=LIVE_MS)
    expect(page.locator(".dash-section")).to_contain_text("正在加载…")
    expect(page.get_by_role("heading", name="进度曲线")).to_have_count(0)
    assert len(held) == 1
    held[0].continue_()
    expect(page.get_by_role("heading", name="进度曲线")).to_be_visible(timeout=LIVE_MS)
    expect(page.locator(".dash-section")).not_to_contain_text("正在加载…")
    expect(page.get_by_role("region", name="需核实")).to_be_visible()
    # Then it is stored as any first load is: every winner, then the cursor.
    winners = live_server.query("SELECT count(*) FROM winners")[0][0]
    eventually(
        lambda: page.evaluate(IDB, ["fields", None]) == winners,
        "every winner stored",
        LIVE_MS / 1000,
    )
    assert errors == []
    ctx.close()


def test_a_failing_storage_worker_loses_nothing(live_server: LiveServer, browser: Any) -> None:
    """The worker that stores the snapshot cannot load: the page stores it itself, every
    winner, and only then the cursor; the dashboard never notices."""
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.route("**/store-worker.js", lambda route: route.fulfill(status=503, body="down"))
    code = live_server.invite("coordinator", "王主任")["code"]
    page.goto(f"{live_server.url}/coord.html#/enroll/{code}")
    expect(page.locator(f"a.card[data-incident='{HEATING}']")).to_be_visible(timeout=LIVE_MS)
    _every_winner_then_the_cursor(page, live_server)
    assert errors == []
    ctx.close()
