"""Hand a phone to a volunteer, scope it to three buildings, take it back (issue 5's "done").

Debian's Chromium via Playwright against a real server with the demo community, CSP on:
the phone holds households of exactly its three buildings; ending one assignment removes
that building's personal data from the phone; the coordinator revokes the phone from the
devices page; the phone wipes personal data, keeps its unsent entry exportable, returns to
enrolment, and its token no longer syncs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import eventually

from server.ops.access_commands import add_coordinator, assign
from server.ops.demo import HEATING

pytestmark = pytest.mark.browser


PASSWORD = "night shift 3am"

# Households on the phone: {household id: building} and which have a `contact` field.
HELD = """async () => {
  const db = await new Promise((res, rej) => { const r = indexedDB.open('doorstep');
    r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
  const all = await new Promise((res) => {
    const g = db.transaction('fields').objectStore('fields').getAll();
    g.onsuccess = () => res(g.result); });
  const count = async (s) => new Promise((res) => {
    const q = db.transaction(s).objectStore(s).count();
    q.onsuccess = () => res(q.result); });
  const out = { building: {}, contact: [], fields: all.length, outbox: await count('outbox'),
                rejected: await count('rejected') };
  for (const f of all) {
    if (f.coll === 'households' && f.field === 'building') out.building[f.id] = f.value;
    if (f.coll === 'households' && f.field === 'contact') out.contact.push(f.id);
  }
  db.close();
  return out;
}"""


def heating_buildings(server: Any) -> list[str]:
    [(value,)] = server.query(
        "SELECT value FROM winners WHERE coll = 'incidents' AND id = ? AND field = 'buildings'",
        (HEATING,),
    )
    return json.loads(value)


def households_of(server: Any, buildings: set[str]) -> set[str]:
    rows = server.query(
        "SELECT id, value FROM winners WHERE coll = 'households' AND field = 'building'"
    )
    return {i for i, v in rows if json.loads(v) in buildings}


def wait_for(page: Any, ok: Any, timeout: float = 30) -> dict:
    """Poll the phone's IndexedDB until ``ok(held)``."""
    found: list[dict] = []

    def check() -> bool:
        found[:] = [page.evaluate(HELD)]
        return ok(found[0])

    eventually(check, "the phone's IndexedDB", timeout=timeout)
    return found[0]


def test_phone_scoped_to_three_buildings_then_taken_back_keeps_nothing_personal(
    browser: Any, live_server: Any
) -> None:
    db = live_server.db_path
    three = heating_buildings(live_server)[:3]
    invite = live_server.invite(role="volunteer", name="楼门长小王")
    for b in three:
        assign(db, invite["person"], building=b)
    phone = browser.new_context(
        viewport={"width": 360, "height": 740}, locale="zh-CN", service_workers="allow"
    )
    page = phone.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None
    )
    page.goto(invite["url"])
    page.locator(".incident-card").first.wait_for(timeout=20_000)
    mine = households_of(live_server, set(three))
    held = wait_for(page, lambda h: len(h["building"]) >= len(mine))
    assert set(held["building"].values()) == set(three)
    assert set(held["building"]) == mine
    assert held["contact"] and set(held["contact"]) <= mine
    token = page.evaluate("""async () => { const db = await new Promise(r => {
        const q = indexedDB.open('doorstep'); q.onsuccess = () => r(q.result); });
        return new Promise(r => { const g = db.transaction('meta').objectStore('meta').get('auth');
        g.onsuccess = () => { r(g.result); db.close(); }; }); }""")
    node = token["node"]

    # The coordinator ends one assignment: that building leaves the phone at its next sync.
    assign(db, invite["person"], building=three[2], active=False)
    phone.set_offline(True)
    phone.set_offline(False)  # the 'online' event makes the app sync now
    gone = households_of(live_server, {three[2]})
    assert gone
    held = wait_for(page, lambda h: not set(h["building"]) & gone)
    assert set(held["building"].values()) == set(three[:2])
    assert not set(held["contact"]) & gone

    # Offline, the volunteer records a visit that cannot be uploaded yet.
    phone.set_offline(True)
    page.locator(".incident-card", has_text="丽源路").click()
    page.locator(".tile.t-none").first.click()
    page.locator('[data-outcome="refused"]').click()
    page.locator(".state-banner.t-refused").wait_for()
    unsent = page.evaluate(HELD)["outbox"]
    assert unsent > 0

    # The coordinator logs in and revokes the phone from the devices page.
    add_coordinator(db, "office", PASSWORD, name="社区办公室")
    office = browser.new_context(locale="zh-CN")
    desk = office.new_page()
    desk.on(
        "console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None
    )
    desk.goto(f"{live_server.url}/login.html?next=/devices.html")
    desk.fill("input[name=login]", "office")
    desk.fill("input[name=password]", PASSWORD)
    desk.click("button[type=submit]")
    row = desk.locator(f"tr[data-node='{node}']")
    row.wait_for(timeout=20_000)
    desk.on("dialog", lambda d: d.accept())
    row.locator("button.revoke").click()
    desk.locator("#msg", has_text="已停用").wait_for()
    office.close()

    # Back online, the phone learns it was revoked: personal data gone, entries kept.
    phone.set_offline(False)
    page.locator(".enroll").wait_for(timeout=30_000)
    held = page.evaluate(HELD)
    assert held["fields"] == 0 and held["building"] == {} and held["contact"] == []
    assert held["outbox"] + held["rejected"] == unsent
    page.evaluate("location.hash = '#/settings'")
    with page.expect_download() as dl:
        page.get_by_role("button", name="导出未上传记录（备份文件）").click()
    bundle = json.loads(Path(dl.value.path()).read_text())
    assert len(bundle["changes"]) + len(bundle["rejected"]) == unsent
    # And the old token can no longer sync.
    r = httpx.post(
        f"{live_server.url}/api/v1/sync",
        json={"node": node, "changes": []},
        headers={"Authorization": "Bearer " + token["token"]},
    )
    assert r.status_code == 401 and r.json()["error"] == "revoked"
    assert not errors, errors
    phone.close()
