"""Issue 5's "done", driven from the dashboard: a coordinator who logged in with a password
assigns a volunteer three buildings in the assignment editor; the volunteer's phone holds
exactly those buildings' households; unticking one removes its personal data from the phone
at its next sync. Debian's Chromium via Playwright, 360 px wide, CSP on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from conftest import ROOT, LiveServer, eventually
from test_revocation_e2e import heating_buildings, households_of, wait_for

from server.ops.demo import HEATING

pytestmark = pytest.mark.browser


PASSWORD = "night shift 3am"
PHONE = {"viewport": {"width": 360, "height": 740}, "locale": "zh-CN"}


def add_coordinator(db: str, login: str) -> str:
    """``doorstep coordinator add --password-stdin``; returns the person id."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "server.ops.cli",
            "coordinator",
            "add",
            "--db",
            db,
            "--login",
            login,
            "--name",
            "社区办公室",
            "--password-stdin",
        ],
        cwd=ROOT,
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout)["person"]


def assignments(server: LiveServer, person: str) -> dict[str, dict[str, Any]]:
    """The server's assignment records of a person, and who wrote their ``active``."""
    out: dict[str, dict[str, Any]] = {}
    rows = server.query(
        "SELECT id, field, value FROM winners WHERE coll = 'assignments' AND id LIKE ?",
        (person + "~%",),
    )
    for rid, fld, value in rows:
        out.setdefault(rid, {})[fld] = json.loads(value)
    return out


def watch(page: Any, errors: list[str]) -> None:
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None
    )


def test_coordinator_assigns_three_buildings_from_the_dashboard_then_takes_one_back(
    browser: Any, live_server: LiveServer
) -> None:
    office = add_coordinator(live_server.db_path, "office")
    three = heating_buildings(live_server)[:3]
    invite = live_server.invite(role="volunteer", name="楼门长小王")
    volunteer = invite["person"]
    errors: list[str] = []

    # The volunteer's phone, enrolled by invite, holds no households before any assignment.
    phone = browser.new_context(**PHONE, service_workers="allow")
    page = phone.new_page()
    watch(page, errors)
    page.goto(invite["url"])
    page.locator(".incident-card").first.wait_for(timeout=20_000)

    # The coordinator logs in with a password and lands on the dashboard.
    desk_ctx = browser.new_context(**PHONE)
    desk = desk_ctx.new_page()
    watch(desk, errors)
    desk.goto(f"{live_server.url}/login.html")
    desk.fill("input[name=login]", "office")
    desk.fill("input[name=password]", PASSWORD)
    desk.click("button[type=submit]")
    desk.wait_for_url("**/coord.html**")
    desk.locator(f"a.card[data-incident='{HEATING}']").click(timeout=30_000)
    desk.locator("a.assign-link").click()
    desk.locator("select.volunteer-pick").select_option(volunteer, timeout=20_000)
    for b in three:
        box = desk.locator(f".assign-row[data-target='{b}'] input")
        box.check()
        assert box.is_checked()

    # The ticks went through the dashboard's outbox and sync, written by the coordinator.
    ids = {f"{volunteer}~{b}" for b in three}
    got = eventually(
        lambda: (
            (a := assignments(live_server, volunteer))
            and all(a.get(i, {}).get("active") is True for i in ids)
            and a
        ),
        "the three assignments active on the server",
        timeout=20,
    )
    assert set(got) == ids
    for b in three:
        assert got[f"{volunteer}~{b}"] == {"person": volunteer, "building": b, "active": True}
    writers = live_server.query(
        "SELECT DISTINCT person FROM history WHERE coll = 'assignments' AND id LIKE ?",
        (volunteer + "~%",),
    )
    assert writers == [(office,)]

    # The phone syncs and holds exactly those buildings' households.
    phone.set_offline(True)
    phone.set_offline(False)  # the 'online' event makes the app sync now
    mine = households_of(live_server, set(three))
    held = wait_for(page, lambda h: set(h["building"]) == mine)
    assert set(held["building"].values()) == set(three)
    assert held["contact"] and set(held["contact"]) <= mine

    # The coordinator unticks one building; after the phone's next sync it is gone.
    desk.locator(f".assign-row[data-target='{three[2]}'] input").uncheck()
    eventually(
        lambda: assignments(live_server, volunteer)[f"{volunteer}~{three[2]}"]["active"] is False,
        "the third assignment ended on the server",
    )
    phone.set_offline(True)
    phone.set_offline(False)
    gone = households_of(live_server, {three[2]})
    assert gone
    held = wait_for(page, lambda h: not set(h["building"]) & gone)
    assert set(held["building"].values()) == set(three[:2])
    assert set(held["building"]) == mine - gone
    assert not set(held["contact"]) & gone
    # The editor shows what the server holds after a reload (from the synced replica).
    desk.reload()
    desk.locator(f".assign-row[data-target='{three[0]}'] input").wait_for(timeout=20_000)
    assert desk.locator(f".assign-row[data-target='{three[0]}'] input").is_checked()
    assert not desk.locator(f".assign-row[data-target='{three[2]}'] input").is_checked()
    assert not errors, errors
    desk_ctx.close()
    phone.close()
