"""The volunteer PWA end to end: Debian's Chromium, driven by Playwright, against a real
server process (``live_server``) with the demo community loaded.

The stairwell scenario: enrol, lose the network (the service worker's requests too),
record visits, a heater delivery and a repair, reload while offline, get the network back,
and see everything reach the server. Plus two phones editing one household offline, and a
change the server refuses. Screenshots land in /tmp/doorstep-e2e for a human to look at.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import eventually, run_cli

from sync.sets import fold

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/doorstep-e2e")
SHOTS.mkdir(exist_ok=True)
HEATING = "丽源路"  # the 741-household heating outage of the demo

# Reads one value from the app's IndexedDB (no app internals needed).
IDB_GET = """async ([store, key]) => {
  const db = await new Promise((res, rej) => {
    const r = indexedDB.open('doorstep');
    r.onsuccess = () => res(r.result);
    r.onerror = () => rej(r.error);
  });
  try {
    return await new Promise((res, rej) => {
      const g = db.transaction(store).objectStore(store).get(key);
      g.onsuccess = () => res(g.result ?? null); g.onerror = () => rej(g.error);
    });
  } finally { db.close(); }
}"""


class Phone:
    """One volunteer's phone: a browser context with the app enrolled."""

    def __init__(self, browser: Any, server: Any, name: str) -> None:
        self.server = server
        self.context = browser.new_context(
            viewport={"width": 360, "height": 740},
            device_scale_factor=2,
            locale="zh-CN",
            service_workers="allow",
        )
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        invite = server.invite(role="volunteer", name=name)
        assign_to_heating_incident(server, invite["person"])
        self.page.goto(invite["url"])
        self.page.locator(".incident-card").first.wait_for(timeout=20_000)
        self.wait_status("已同步")
        # The service worker has taken control: the shell is cached for offline use.
        self.page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=20_000)
        self.node = self.idb("meta", "auth")["node"]

    def idb(self, store: str, key: Any) -> Any:
        return self.page.evaluate(IDB_GET, [store, key])

    def status(self) -> str:
        return self.page.locator("#status").inner_text()

    def wait_status(self, text: str, timeout: int = 20_000) -> None:
        self.page.wait_for_function(
            "t => document.getElementById('status').innerText.includes(t)",
            arg=text,
            timeout=timeout,
        )

    def wait_synced(self, timeout: int = 30_000) -> None:
        self.page.wait_for_function(
            """() => { const s = document.getElementById('status').innerText;
                       return s.includes('已同步') && !s.includes('待上传'); }""",
            timeout=timeout,
        )

    def offline(self, yes: bool = True) -> None:
        self.context.set_offline(yes)

    def go(self, hash_path: str) -> None:
        self.page.evaluate("h => { location.hash = h; }", hash_path)

    def sync_now(self) -> None:
        """Press "立即同步" and wait for that cycle (not an earlier one) to finish."""
        back = self.page.evaluate("location.hash")
        before = self.idb("meta", "lastSync")
        self.go("#/settings")
        self.page.get_by_role("button", name="立即同步").click()
        eventually(
            lambda: (self.idb("meta", "lastSync") or 0) > (before or 0), "a sync after the tap"
        )
        self.wait_synced()
        self.go(back)

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)

    def open_heating_incident(self) -> None:
        self.page.locator(".incident-card", has_text=HEATING).click()
        try:
            self.page.locator(".tile").first.wait_for()
        except Exception:
            self.shot("failed-open-incident")
            raise

    def close(self) -> None:
        assert not self.errors, self.errors
        self.context.close()


def heating_incident(server: Any) -> str:
    rows = server.query(
        "SELECT id FROM winners WHERE coll = 'incidents' AND field = 'title' AND value LIKE ?",
        (f"%{HEATING}%",),
    )
    assert len(rows) == 1, rows
    return rows[0][0]


def assign_to_heating_incident(server: Any, person: str) -> None:
    """A coordinator assigns the volunteer to the whole incident (their read/write scope)."""
    coordinator = server.enroll(role="coordinator", name="社区负责人")
    incident = heating_incident(server)
    now = datetime.now(UTC)
    stamp = f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z"
    fields = {"person": person, "incident": incident, "active": True}
    changes = [
        {
            "coll": "assignments",
            "id": f"{person}~{incident}",
            "field": f,
            "value": v,
            "hlc": f"{stamp}-{i:04x}-{coordinator.node}",
        }
        for i, (f, v) in enumerate(fields.items())
    ]
    r = coordinator.sync(changes)
    assert r.status_code == 200 and r.json()["rejected"] == [], r.text


def server_values(server: Any, coll: str, ident: str) -> dict[str, Any]:
    """One record as the server holds it, set fields folded (sync/sets.py)."""
    rows = server.query(
        "SELECT field, hlc, value FROM winners WHERE coll = ? AND id = ?", (coll, ident)
    )
    return fold(coll, {f: (h, json.loads(v)) for f, h, v in rows})


def test_stairwell_offline_entries_survive_reload_and_upload(
    browser: Any, live_server: Any
) -> None:
    phone = Phone(browser, live_server, "张三")
    page = phone.page
    phone.shot("01-incidents")
    phone.offline()
    # The service worker cannot reach the server either: its network is cut too.
    assert (
        page.evaluate("fetch('/healthz', {cache: 'no-store'}).then(r => r.status, () => 'failed')")
        == "failed"
    )
    phone.wait_status("离线")

    phone.open_heating_incident()
    ids = page.eval_on_selector_all(".tile.t-none", "els => els.slice(0, 3).map(e => e.dataset.h)")
    tile = lambda h: page.locator(f'.tile[data-h="{h}"]')  # noqa: E731
    # Three taps: the tile, "reached", "heater" — saved.
    tile(ids[0]).click()
    page.locator('[data-outcome="reached"]').click()
    page.locator('.visit-panel [data-need="heater"]').click()
    page.locator(".state-banner.t-help").wait_for()
    phone.shot("02-household-needs-heater")
    page.locator(".heater-btn").click()
    page.locator(".state-banner.t-heater").wait_for()
    page.locator(".back").click()
    tile(ids[1]).click()
    page.locator('[data-outcome="not_home"]').click()
    page.locator(".state-banner.t-not_home").wait_for()
    page.locator(".back").click()
    tile(ids[2]).click()
    page.locator('[data-outcome="reached"]').click()
    page.locator('.visit-panel [data-need="none"]').click()
    page.locator(".state-banner.t-reached").wait_for()
    page.locator(".back").click()
    phone.shot("03-grid-offline")
    page.locator("a.small-btn", has_text="抢修记录").click()
    page.locator("input[name=place]").fill("55号院暖井")
    page.locator("textarea[name=description]").fill("更换一段供暖主管道")
    page.get_by_role("button", name="记录").click()
    page.locator("li.repair", has_text="55号院暖井").wait_for()
    # The demo holds repairs of its own (one may be 抢修中 at this hour): only ours counts.
    ours = page.locator("li.repair", has_text="更换一段供暖主管道")
    ours.get_by_role("button", name="开始抢修").click()
    page.locator('li.repair[data-status="working"]', has_text="更换一段供暖主管道").wait_for()
    phone.shot("04-repairs-offline")
    # A burst pipe found on the way out: a field report (#22), offline. The form says the
    # text stays with community staff (D28).
    phone.go("#/report")
    page.locator('button.chip[data-kind="pipe_burst"]').click()
    page.locator("input[name=place]").fill("56号院2号楼北侧")
    page.get_by_role("textbox", name="看到的情况").fill("院内地面结冰，有水从井盖冒出")
    assert "仅社区工作人员可见" in page.get_by_text("仅社区工作人员可见").inner_text()
    phone.shot("04b-report")
    page.get_by_role("button", name="上报").click()
    page.get_by_text("已上报，联网后社区负责人即可看到").wait_for()
    outbox = page.evaluate(
        "new Promise(r => { const q = indexedDB.open('doorstep'); q.onsuccess = () => {"
        " const c = q.result.transaction('outbox').objectStore('outbox').getAll();"
        " c.onsuccess = () => { r(c.result); q.result.close(); }; }; })"
    )
    pending_before = len({(c["coll"], c["id"]) for c in outbox})
    # 3 visits, 1 delivery, 1 repair, 1 household_status (needs found, then met), 1 report.
    assert pending_before == 7
    phone.wait_status(f"3 户待上传（{pending_before} 条记录）")

    # Reload with no network: the shell comes from the service worker, data from IndexedDB.
    page.reload()
    phone.wait_status(f"3 户待上传（{pending_before} 条记录）")
    # Right after the reload the app may still be trying its first sync ("正在同步…");
    # once that attempt fails the status must say so.
    phone.wait_status("离线")
    incident = heating_incident(live_server)
    phone.go(f"#/i/{incident}")
    assert page.locator(f'.tile[data-h="{ids[0]}"]').get_attribute("class").split()[1] == "t-heater"
    assert "t-not_home" in page.locator(f'.tile[data-h="{ids[1]}"]').get_attribute("class")
    assert "t-reached" in page.locator(f'.tile[data-h="{ids[2]}"]').get_attribute("class")
    phone.shot("05-after-offline-reload")

    phone.offline(False)
    phone.wait_synced()
    phone.shot("06-synced")
    rows = live_server.query(
        "SELECT coll, count(*) FROM history WHERE node = ? GROUP BY coll", (phone.node,)
    )
    by_coll = dict(rows)
    assert sum(by_coll.values()) == len(outbox)
    # Each visit and delivery also carries `by`, the volunteer's name (#11).
    assert by_coll["visits"] == 18 and by_coll["deliveries"] == 7 and by_coll["repairs"] >= 6
    outcomes = live_server.query(
        "SELECT w2.value, w.value FROM winners w"
        " JOIN winners w2 ON w2.coll = w.coll AND w2.id = w.id"
        " AND w2.field = 'household' WHERE w.coll = 'visits' AND w.field = 'outcome'"
        " AND w.hlc LIKE ?",
        (f"%{phone.node}",),
    )
    assert sorted(json.loads(o) for _, o in outcomes) == ["not_home", "reached", "reached"]
    assert {json.loads(h) for h, _ in outcomes} == set(ids)
    assert (
        server_values(live_server, "household_status", f"{incident}~{ids[0]}")["needs_open"] == []
    )
    reported = live_server.query(
        "SELECT id FROM winners WHERE coll = 'reports' AND field = 'place' AND value = ?",
        (json.dumps("56号院2号楼北侧", ensure_ascii=False),),
    )
    assert len(reported) == 1
    fields = server_values(live_server, "reports", reported[0][0])
    assert fields["status"] == "pending" and fields["kind"] == "pipe_burst"
    assert (
        fields["reporter"] == phone.idb("meta", "auth")["person"]
        and fields["text"] == "院内地面结冰，有水从井盖冒出"
    )
    phone.close()


def test_two_phones_editing_one_household_offline_converge(browser: Any, live_server: Any) -> None:
    a = Phone(browser, live_server, "志愿者甲")
    b = Phone(browser, live_server, "志愿者乙")
    a.open_heating_incident()
    # A household nobody has visited: the demo's visited ones may already hold these needs.
    a.page.locator(".tile.t-none").first.click()
    a.page.locator(".needs-editor").wait_for()
    card = a.page.evaluate("location.hash")
    _, _, incident, _, household = card.strip("#").split("/")
    b.go(card)
    b.page.locator(".needs-editor").wait_for()
    a.offline()
    b.offline()
    a.page.locator('.needs-editor [data-need="water"]').click()
    a.page.locator(".save-needs").click()
    a.page.locator(".state-banner.t-help", has_text="饮水").wait_for()
    b.page.locator('.needs-editor [data-need="medical"]').click()
    b.page.locator(".needs-editor .chip", has_text="已恢复").click()
    b.page.locator(".save-needs").click()
    b.page.locator(".state-banner.t-help", has_text="就医").wait_for()
    a.offline(False)
    a.wait_synced()
    b.offline(False)
    b.wait_synced()
    a.sync_now()
    key = lambda field: ["household_status", f"{incident}~{household}", field]  # noqa: E731
    server = server_values(live_server, "household_status", f"{incident}~{household}")
    # Both needs kept (#11): each phone wrote only the element it turned on.
    assert sorted(server["needs_open"]) == ["medical", "water"]
    for field in ("needs_open.water", "needs_open.medical", "restored"):
        on_a, on_b = a.idb("fields", key(field)), b.idb("fields", key(field))
        assert on_a == on_b, field
    assert server["restored"] is True
    status_id = f"{incident}~{household}"
    for phone in (a, b):
        shown = phone.page.evaluate(
            # What the phone stored (the page's own module is inline: read its IndexedDB).
            "id => import('/js/sync/idb-store.js').then(m => m.IdbStore.open()).then(s =>"
            " s.replica.get('household_status', id).needs_open)",
            status_id,
        )
        assert sorted(shown) == ["medical", "water"]
    a.page.locator(".state-banner", has_text="饮水").wait_for()
    a.page.locator(".state-banner", has_text="就医").wait_for()
    # One record, not two: the deterministic id made both phones edit the same one.
    assert live_server.query(
        "SELECT count(DISTINCT id) FROM winners WHERE coll = 'household_status' AND id LIKE ?",
        (f"%~{household}",),
    ) == [(1,)]
    a.page.locator(".state-banner").wait_for()
    assert (
        a.page.locator(".state-banner").inner_text() == b.page.locator(".state-banner").inner_text()
    )
    b.shot("07-converged")
    a.close()
    b.close()


def test_a_rejected_change_is_shown_and_does_not_block_the_others(
    browser: Any, live_server: Any
) -> None:
    phone = Phone(browser, live_server, "王五")
    page = phone.page
    phone.offline()
    # A change the server must refuse (an outcome outside the schema), straight into the outbox.
    bad_hlc = page.evaluate(
        """node => new Promise((res, rej) => {
          const hlc = new Date(Date.now() - 1000).toISOString() + '-ffff-' + node;
          const q = indexedDB.open('doorstep');
          q.onsuccess = () => {
            const tx = q.result.transaction('outbox', 'readwrite');
            tx.objectStore('outbox').put(
              {coll: 'visits', id: 'bad-visit-1', field: 'outcome', value: 'exploded', hlc});
            tx.oncomplete = () => { q.result.close(); res(hlc); };
            tx.onerror = () => rej(tx.error);
          };
        })""",
        phone.node,
    )
    phone.open_heating_incident()
    good = page.eval_on_selector("#view .tile.t-none", "e => e.dataset.h")
    page.locator(f'.tile[data-h="{good}"]').click()
    page.locator('[data-outcome="not_home"]').click()
    page.locator(".state-banner.t-not_home").wait_for()
    phone.offline(False)
    phone.wait_status("1 条被退回")
    phone.wait_synced()
    phone.go("#/settings")
    item = page.locator(f'li.rejected[data-hlc="{bad_hlc}"]')
    item.wait_for()
    # The reason in the page's words for the server's code, not the code or its English.
    assert "这条记录的内容不符合要求" in item.inner_text() and "exploded" in item.inner_text()
    assert "invalid_value" not in item.inner_text()
    # The change itself in words: collection and field in Chinese, the value it sent (#22).
    assert item.locator("strong").inner_text() == "走访 · 结果：exploded"
    phone.shot("08-rejected")
    # The good visit went through; the bad one sits in quarantine, and on the phone.
    assert live_server.query(
        "SELECT count(*) FROM winners WHERE coll = 'visits' AND field = 'household' AND value = ?",
        (json.dumps(good),),
    ) == [(1,)]
    assert live_server.query("SELECT error FROM quarantine WHERE hlc = ?", (bad_hlc,)) == [
        ("invalid_value",)
    ]
    assert phone.idb("rejected", bad_hlc)["error"] == "invalid_value"
    assert phone.idb("outbox", bad_hlc) is None
    phone.close()


def test_without_service_workers_the_app_works_online_and_says_offline_needs_a_real_browser(
    browser: Any, live_server: Any
) -> None:
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, locale="zh-CN", service_workers="block"
    )
    page = context.new_page()
    page.add_init_script("delete Navigator.prototype.serviceWorker")
    invite = live_server.invite(role="volunteer", name="微信用户")
    assign_to_heating_incident(live_server, invite["person"])
    page.goto(invite["url"])
    page.locator(".toast", has_text="不支持离线使用").wait_for()
    page.locator(".incident-card", has_text=HEATING).click()
    page.locator(".tile.t-none").first.click()
    page.locator('[data-outcome="not_home"]').click()
    node = page.evaluate(IDB_GET, ["meta", "auth"])["node"]

    def mine() -> list[tuple]:
        # This phone's own visit, not one of the demo's not-home visits.
        return live_server.query(
            "SELECT value FROM history WHERE coll = 'visits' AND field = 'outcome' AND node = ?",
            (node,),
        )

    # The status line may still say 已同步 from before the tap for a moment: wait for the
    # server to hold the visit, then for the line to say so.
    assert eventually(mine, "the server to hold the visit") == [(json.dumps("not_home"),)]
    page.wait_for_function(
        """() => { const s = document.getElementById('status').innerText;
                   return s.includes('已同步') && !s.includes('待上传'); }""",
        timeout=30_000,
    )
    page.screenshot(path=str(SHOTS / "09-no-service-worker.png"))
    context.close()


def test_a_revoked_phone_wipes_personal_data_keeps_unsent_entries_and_asks_to_enrol(
    browser: Any, live_server: Any
) -> None:
    phone = Phone(browser, live_server, "丢手机的人")
    page = phone.page
    phone.offline()
    phone.open_heating_incident()
    page.locator(".tile.t-none").first.click()
    page.locator('[data-outcome="refused"]').click()
    page.locator(".state-banner.t-refused").wait_for()
    run_cli("revoke", "--db", live_server.db_path, phone.node)
    phone.offline(False)
    page.locator(".enroll").wait_for(timeout=30_000)
    page.locator(".toast", has_text="已被停用").wait_for()
    phone.shot("10-revoked")
    assert phone.idb("meta", "auth") is None
    assert page.evaluate(
        "new Promise(r => { const q = indexedDB.open('doorstep'); q.onsuccess = () => {"
        " const tx = q.result.transaction(['fields', 'outbox']);"
        " const f = tx.objectStore('fields').count(), o = tx.objectStore('outbox').count();"
        " tx.oncomplete = () => { r([f.result, o.result]); q.result.close(); }; }; })"
    ) == [0, 6]  # household, incident, at, outcome, needs, by (#11)
    phone.go("#/settings")
    with page.expect_download() as dl:
        page.get_by_role("button", name="导出未上传记录（备份文件）").click()
    bundle = json.loads(Path(dl.value.path()).read_text())
    assert len(bundle["changes"]) == 6  # the refused visit, `by` included (#11)
    assert {c["field"] for c in bundle["changes"]} >= {"outcome", "household"}
    phone.close()
