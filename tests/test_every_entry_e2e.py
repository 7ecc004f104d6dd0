"""Every entry counts (#11), in Chromium at 360 px with two phones offline at once:
both needs kept on household 402, a vulnerable mark made offline counted after sync, a
second heater on 403 warned about and on the coordinator's 需核实 list, and a door
recorded by one online phone shown on the other by the nudge stream (not its timer)."""

import re
from typing import Any

import httpx
import pytest
from conftest import LiveServer, eventually
from playwright.sync_api import expect
from test_pwa_e2e import Phone, heating_incident, server_values

pytestmark = pytest.mark.browser

#: Far below the phone's 60 s sync timer, so only the nudge can make it in time.
LIVE_MS = 10_000


def quiet_doors(server: LiveServer, incident: str) -> tuple[str, str, dict[str, str]]:
    """(building id, its label, {room: household}) of a unit in the incident whose 402,
    403 and 404 are not vulnerable and have no visits or deliveries yet."""
    rows = server.query(
        "SELECT b.id, json_extract(l.value, '$'), json_extract(u.value, '$'),"
        " json_extract(r.value, '$'), h.id FROM winners i, json_each(i.value) b"
        " JOIN winners h ON h.coll = 'households' AND h.field = 'building'"
        "  AND h.value = json_quote(b.value)"
        " JOIN winners u ON u.coll = 'households' AND u.id = h.id AND u.field = 'unit'"
        " JOIN winners r ON r.coll = 'households' AND r.id = h.id AND r.field = 'room'"
        " JOIN winners l ON l.coll = 'buildings' AND l.id = b.value AND l.field = 'label'"
        " JOIN winners v ON v.coll = 'households' AND v.id = h.id AND v.field = 'vulnerable'"
        "  AND v.value = '[]'"
        " WHERE i.coll = 'incidents' AND i.id = ? AND i.field = 'buildings'"
        " AND json_extract(r.value, '$') IN ('402', '403', '404')"
        " AND h.id NOT IN (SELECT json_extract(x.value, '$') FROM winners x"
        "  WHERE x.coll IN ('visits', 'deliveries') AND x.field = 'household')"
        " ORDER BY b.id, u.value",
        (incident,),
    )
    units: dict[tuple[str, str, str], dict[str, str]] = {}
    for building, label, unit, room, hid in rows:
        units.setdefault((building, label, unit), {})[room] = hid
    for (building, label, _), rooms in units.items():
        if len(rooms) == 3:
            return building, label, rooms
    raise AssertionError("the demo has no quiet unit with 402, 403 and 404")


def progress(server: LiveServer, boss: Any, incident: str) -> dict:
    r = httpx.get(f"{server.url}/api/v1/incidents/{incident}/progress", headers=boss.headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_two_offline_phones_every_entry_counts(browser: Any, live_server: LiveServer) -> None:
    incident = heating_incident(live_server)
    _, label, rooms = quiet_doors(live_server, incident)
    h402, h403, h404 = rooms["402"], rooms["403"], rooms["404"]
    boss = live_server.enroll("coordinator", "李主任")
    before = progress(live_server, boss, incident)
    a = Phone(browser, live_server, "王五")
    b = Phone(browser, live_server, "赵六")
    # The volunteer's own name is in the header.
    expect(a.page.locator('[data-testid="me"]')).to_have_text("王五")
    card = lambda hid: f"#/i/{incident}/h/{hid}"  # noqa: E731

    # --- Both phones offline at once, on household 402. ---
    for p in (a, b):
        p.go(card(h402))
        p.page.locator(".needs-editor").wait_for()
        p.offline()
    a.page.locator('.needs-editor [data-need="water"]').click()
    a.page.locator(".save-needs").click()
    a.page.locator(".state-banner", has_text="饮水").wait_for()
    b.page.locator('.needs-editor [data-need="medical"]').click()
    b.page.locator(".save-needs").click()
    b.page.locator(".state-banner", has_text="就医").wait_for()
    # A marks 独居老人 with one tap, offline; the chip shows it is on.
    lone = a.page.get_by_role("button", name="独居老人")
    expect(lone).to_have_attribute("aria-pressed", "false")
    lone.click()
    expect(a.page.get_by_role("button", name="✓ 独居老人")).to_have_attribute(
        "aria-pressed", "true"
    )
    # --- Both deliver a heater to 403, each offline. ---
    for p in (a, b):
        p.go(card(h403))
        p.page.get_by_role("button", name="送电暖气").click()
        p.page.locator('[data-testid="heater-out"]').wait_for()
    a.wait_status("2 户待上传（")
    a.shot("11-two-phones-offline")

    for p in (a, b):
        p.offline(False)
        p.wait_synced()
    a.sync_now()
    b.sync_now()

    # Both needs kept on 402: on the server, on both phones.
    assert sorted(
        server_values(live_server, "household_status", f"{incident}~{h402}")["needs_open"]
    ) == ["medical", "water"]
    for p in (a, b):
        p.go(card(h402))
        banner = p.page.locator(".state-banner")
        expect(banner).to_contain_text("饮水")
        expect(banner).to_contain_text("就医")
    # The vulnerable mark made offline counts after sync.
    after = progress(live_server, boss, incident)
    assert after["vulnerable"] == before["vulnerable"] + 1
    assert server_values(live_server, "households", h402)["vulnerable"] == ["lone_elderly"]
    expect(b.page.get_by_role("button", name="✓ 独居老人")).to_have_attribute(
        "aria-pressed", "true"
    )

    # The second heater is warned about on the card: who brought each, and a confirm step.
    a.go(card(h403))
    out = a.page.locator('[data-testid="heater-out"]')
    expect(out).to_contain_text("王五")
    expect(out).to_contain_text("赵六")
    expect(out).to_contain_text("已送出 2 台，请确认是否重复送达")
    a.page.get_by_role("button", name="再送一台电暖气").click()
    expect(a.page.locator(".heater-slot")).to_contain_text("这户已有 2 台电暖气在借")
    a.shot("12-second-heater-warned")

    # The coordinator's 需核实 list holds it, and resolving it is a record.
    dash_ctx = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    dash = dash_ctx.new_page()
    code = live_server.invite("coordinator", "李主任")["code"]
    dash.goto(f"{live_server.url}/coord.html#/enroll/{code}")
    expect(dash.locator("a.card").first).to_be_visible(timeout=LIVE_MS)
    dash.goto(f"{live_server.url}/coord.html#/i/{incident}")
    entry = dash.locator(f'.checks-panel li.check[data-kind="two_heaters"][data-h="{h403}"]')
    expect(entry).to_contain_text("王五")
    expect(entry).to_contain_text("赵六")
    entry.get_by_role("button", name="已核实").click()
    expect(entry).to_contain_text("已处理")
    dash.screenshot(path="/tmp/doorstep-e2e/13-checks.png")
    check_id = f"{incident}~two_heaters~{h403}"
    # The resolution travels through the dashboard's outbox; wait until the server has it.
    eventually(
        lambda: dash.evaluate(
            # The console's token, from its IndexedDB (the page runs one bundled module).
            """id => (window.__store ??= import('/js/sync/idb-store.js')
                 .then(m => m.IdbStore.open()))
               .then(store => fetch(
                 '/api/v1/incidents/' + id.split('~')[0] + '/checks',
                 {headers: {authorization: 'Bearer ' + store.meta.auth.token}}))
               .then(r => r.json()).then(l => l.some(c => c.id === id && c.resolved))""",
            check_id,
        ),
        "the server holds the resolved check",
        every=0.5,
    )
    dash_ctx.close()

    # --- Live while online: B records 404; A's grid shows it without A's 60 s timer. ---
    a.go(f"#/i/{incident}")
    chip = a.page.locator("button.chip", has_text=label)
    if chip.count():
        chip.first.click()
    tile = a.page.locator(f'.tile[data-h="{h404}"]')
    expect(tile).to_have_class(re.compile(r"\bt-none\b"))
    a.sync_now()  # A's own timer is now a full minute away
    b.go(card(h404))
    b.page.locator('[data-outcome="reached"]').click()
    b.page.locator('.visit-panel [data-need="none"]').click()
    expect(tile).to_have_class(re.compile(r"\bt-reached\b"), timeout=LIVE_MS)
    a.shot("14-live-door")
    # The chosen building survives a reload.
    a.page.reload()
    expect(a.page.locator(f'.tile[data-h="{h404}"]')).to_be_visible()
    a.close()
    b.close()


def test_the_last_entry_can_be_undone_before_it_uploads(
    browser: Any, live_server: LiveServer
) -> None:
    incident = heating_incident(live_server)
    _, _, rooms = quiet_doors(live_server, incident)
    phone = Phone(browser, live_server, "钱七")
    page = phone.page
    phone.offline()
    phone.go(f"#/i/{incident}/h/{rooms['402']}")
    page.locator('[data-outcome="refused"]').click()
    page.locator(".state-banner.t-refused").wait_for()
    phone.wait_status("1 户待上传（1 条记录）")
    page.get_by_role("button", name="↶ 撤销上一条").click()
    page.locator(".state-banner.t-none").wait_for()
    page.locator(".toast", has_text="已撤销").wait_for()
    assert (
        page.evaluate(
            # The outbox in the phone's IndexedDB (offline: no module to import).
            """() => new Promise((res, rej) => { const q = indexedDB.open('doorstep');
                 q.onsuccess = () => { const c = q.result.transaction('outbox')
                   .objectStore('outbox').count();
                   c.onsuccess = () => { res(c.result); q.result.close(); };
                   c.onerror = () => rej(c.error); }; })"""
        )
        == 0
    )
    phone.offline(False)
    phone.wait_synced()
    assert live_server.query(
        "SELECT count(*) FROM history WHERE node = ? AND coll = 'visits'", (phone.node,)
    ) == [(0,)]
    phone.close()
