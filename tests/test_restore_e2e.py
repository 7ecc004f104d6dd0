"""Backup and restore that phones survive, played on real processes.

A phone (the real PWA in Chromium) syncs; the operator takes a backup; the phone syncs
more, other devices write, a phone is revoked; the server is stopped and the backup
restored with ``doorstep restore``; a change lands in the sequence gap. Afterwards the
phone's acknowledged visit is back on the server, the phone has the gap's change, and the
revocation holds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import LiveServer, Stamper, put_record, run_cli
from test_pwa_e2e import Phone, heating_incident

pytestmark = pytest.mark.sqlite_only(
    reason="restores a SQLite backup file; PostgreSQL's restore has its own tests"
)

playwright_api = pytest.importorskip("playwright.sync_api")


def record_visit(phone: Phone, household: str) -> None:
    page = phone.page
    page.locator(f'.tile[data-h="{household}"]').click()
    page.locator('[data-outcome="reached"]').click()
    page.locator('.visit-panel [data-need="none"]').click()
    page.locator(".state-banner.t-reached").wait_for()
    page.locator(".back").click()


def visit_of(server: LiveServer, household: str) -> str | None:
    rows = server.query(
        "SELECT id FROM winners WHERE coll = 'visits' AND field = 'household' AND value = ?",
        (json.dumps(household),),
    )
    return rows[0][0] if rows else None


def households_of_heating(server: LiveServer) -> list[str]:
    incident = heating_incident(server)
    rows = server.query(
        "SELECT h.id FROM winners h, winners i, json_each(i.value) b "
        "WHERE i.coll = 'incidents' AND i.id = ? AND i.field = 'buildings' "
        "AND h.coll = 'households' AND h.field = 'building' AND h.value = json_quote(b.value) "
        "ORDER BY h.id",
        (incident,),
    )
    return [r[0] for r in rows]


def outbox_size(phone: Phone) -> int:
    return phone.page.evaluate(
        """() => new Promise((res, rej) => { const q = indexedDB.open('doorstep');
             q.onsuccess = () => { const c = q.result.transaction('outbox')
               .objectStore('outbox').count();
               c.onsuccess = () => { res(c.result); q.result.close(); };
               c.onerror = () => rej(c.error); }; })"""
    )


@pytest.mark.browser
def test_a_phone_survives_a_restore_and_the_revocation_holds(
    browser: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    server = live_server
    db = server.db_path
    phone = Phone(browser, server, "王五")
    other = server.enroll(role="coordinator", name="街道值班")
    doomed = server.enroll(name="丢失的手机")
    stamp = Stamper(other.node)
    phone.open_heating_incident()
    first, second = phone.page.eval_on_selector_all(
        ".tile.t-none", "els => els.slice(0, 2).map(e => e.dataset.h)"
    )

    record_visit(phone, first)
    phone.sync_now()
    assert visit_of(server, first)
    backup = json.loads(run_cli("backup", "--db", db, "--out", str(tmp_path / "backups")))
    assert backup["integrity"] == "ok"

    # After the backup: an acknowledged visit, 1,004 changes the phone pulls, a revocation.
    record_visit(phone, second)
    phone.sync_now()
    acknowledged = visit_of(server, second)
    assert acknowledged and outbox_size(phone) == 0  # acknowledged: gone from the outbox
    rooms = households_of_heating(server)
    for i in range(4):
        batch = [
            {"coll": "households", "id": h, "field": "room", "value": f"{i}{j:03d}", "hlc": stamp()}
            for j, h in enumerate(rooms[i * 251 : (i + 1) * 251])
        ]
        assert other.sync(batch).json()["rejected"] == []
    phone.sync_now()
    cursor_before = phone.idb("meta", "cursor")
    run_cli("revoke", "--db", db, doomed.node)
    epoch_before = other.sync().json()["epoch"]

    server.stop()
    report = json.loads(run_cli("restore", "--db", db, backup["backup"]))
    assert report["replayed"]["revoke"] >= 1 and report["journal"]
    server.start()
    assert visit_of(server, second) is None  # the backup does not have it

    # A change written in the gap: its sequence number is below the phone's cursor.
    gap = rooms[-1]
    put_record(other, stamp, "households", gap, room="缺口-1")
    (gap_seq,) = server.query(
        "SELECT seq FROM winners WHERE coll = 'households' AND id = ? AND field = 'room'",
        (gap,),
    )[0]
    assert gap_seq <= cursor_before
    assert other.sync().json()["epoch"] != epoch_before

    phone.sync_now()
    phone.sync_now()  # the first answer showed the new epoch; the re-send may span two cycles
    assert visit_of(server, second) == acknowledged
    assert phone.idb("fields", ["households", gap, "room"])["value"] == "缺口-1"
    r = doomed.sync()
    assert r.status_code == 401 and r.json()["error"] == "revoked", r.text
    phone.close()
