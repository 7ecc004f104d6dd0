"""The 需核实 list: derived from records by the server, resolved by a record (#11)."""

import time
from datetime import UTC, datetime

from conftest import Stamper, enroll, put_record

INC = "inc-checks"


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_the_needs_checking_list_is_derived_and_resolved_by_a_record(client) -> None:
    now = int(time.time() * 1000)
    boss = enroll(client, client.db_path, role="coordinator", name="主任")
    st = Stamper(boss.node)
    building = put_record(boss, st, "buildings", label="55号院3号楼", units=2, floors=6)
    homes = [
        put_record(boss, st, "households", building=building, unit="4", room=f"40{k}")
        for k in (1, 2, 3, 4)
    ]
    h401, h402, h403, h404 = homes
    put_record(boss, st, "households", h401, vulnerable=["lone_elderly"])
    put_record(
        boss,
        st,
        "incidents",
        INC,
        kind="heating_outage",
        title="停暖",
        status="repairing",
        buildings=[building],
        started_at=iso(now - 3 * 3_600_000),
        check_after_hours=2,
    )
    vols = [enroll(client, client.db_path, name=n) for n in ("王五", "赵六")]
    for v in vols:
        put_record(
            boss,
            st,
            "assignments",
            f"{v.person}~{building}",
            person=v.person,
            building=building,
            active=True,
        )
    wang, zhao = ((v, Stamper(v.node)) for v in vols)
    # Two heaters to 403 by two volunteers who did not see each other.
    for (phone, stamp), name, ago in ((wang, "王五", 7), (zhao, "赵六", 2)):
        put_record(
            phone,
            stamp,
            "deliveries",
            household=h403,
            incident=INC,
            item="heater",
            qty=1,
            status="delivered",
            at=iso(now - ago * 60_000),
            by=name,
        )
    # 402: reached and not home three minutes apart.
    put_record(
        wang[0],
        wang[1],
        "visits",
        household=h402,
        incident=INC,
        outcome="reached",
        at=iso(now - 20 * 60_000),
        by="王五",
    )
    put_record(
        zhao[0],
        zhao[1],
        "visits",
        household=h402,
        incident=INC,
        outcome="not_home",
        at=iso(now - 17 * 60_000),
        by="赵六",
    )
    # 404 visited twice an hour apart with different outcomes: no contradiction.
    put_record(
        wang[0],
        wang[1],
        "visits",
        household=h404,
        incident=INC,
        outcome="not_home",
        at=iso(now - 90 * 60_000),
        by="王五",
    )
    put_record(
        wang[0],
        wang[1],
        "visits",
        household=h404,
        incident=INC,
        outcome="reached",
        at=iso(now - 20 * 60_000),
        by="王五",
    )

    r = client.get(f"/api/v1/incidents/{INC}/checks", headers=boss.headers)
    assert r.status_code == 200, r.text
    got = {(c["kind"], c["household"]): c for c in r.json()}
    assert set(got) == {
        ("two_heaters", h403),
        ("contradictory", h402),
        ("vulnerable_unreached", h401),
    }
    heaters = got[("two_heaters", h403)]
    assert [e["by"] for e in heaters["entries"]] == ["王五", "赵六"]
    assert not heaters["resolved"]
    assert {e["what"] for e in got[("contradictory", h402)]["entries"]} == {"reached", "not_home"}

    # The coordinator resolves one: a record in `checks`, pulled back like any other.
    put_record(boss, st, "checks", heaters["id"], resolved=True, note="已收回一台", by="主任")
    after = {
        c["id"]: c
        for c in client.get(f"/api/v1/incidents/{INC}/checks", headers=boss.headers).json()
    }
    assert after[heaters["id"]]["resolved"] is True
    assert after[heaters["id"]]["note"] == "已收回一台"
    assert list(after)[-1] == heaters["id"]  # resolved ones last
    # 撤销核实 (#22 D20): resolved = false opens it again, and nobody is named as checker.
    put_record(boss, st, "checks", heaters["id"], resolved=False)
    again = {
        c["id"]: c
        for c in client.get(f"/api/v1/incidents/{INC}/checks", headers=boss.headers).json()
    }
    assert again[heaters["id"]]["resolved"] is False
    assert again[heaters["id"]]["resolved_by"] is None
    put_record(boss, st, "checks", heaters["id"], resolved=True)

    # Reaching 401 takes it off the list; N hours not yet passed keeps it off, too.
    put_record(
        zhao[0],
        zhao[1],
        "visits",
        household=h401,
        incident=INC,
        outcome="reached",
        at=iso(now),
        by="赵六",
    )
    kinds = {
        c["kind"]
        for c in client.get(f"/api/v1/incidents/{INC}/checks", headers=boss.headers).json()
    }
    assert "vulnerable_unreached" not in kinds


def test_volunteers_neither_read_nor_resolve_the_list(client) -> None:
    boss = enroll(client, client.db_path, role="coordinator", name="主任")
    put_record(boss, Stamper(boss.node), "incidents", INC, kind="other", title="x")
    vol = enroll(client, client.db_path, name="王五")
    r = client.get(f"/api/v1/incidents/{INC}/checks", headers=vol.headers)
    assert r.status_code == 403 and r.json()["error"]
    stamp = Stamper(vol.node)
    r = vol.sync(
        [
            {
                "coll": "checks",
                "id": f"{INC}~two_heaters~h1",
                "field": "resolved",
                "value": True,
                "hlc": stamp(),
            }
        ]
    )
    assert [x["error"] for x in r.json()["rejected"]] == ["forbidden"]
    r = client.get("/api/v1/incidents/nope/checks", headers=boss.headers)
    assert r.status_code == 404 and r.json()["error"] == "no_incident"


def test_a_delivery_without_a_visit_takes_a_vulnerable_door_off_the_unreached_list(
    client,
) -> None:
    """#22 D12: any delivery (any item, any status) reached the household, as the counters
    say; a door only seen moved out (已搬走) is visited, not reached, and stays listed."""
    now = int(time.time() * 1000)
    boss = enroll(client, client.db_path, role="coordinator", name="主任")
    st = Stamper(boss.node)
    building = put_record(boss, st, "buildings", label="7号楼", units=1, floors=6)
    heater, blanket, moved = (
        put_record(
            boss, st, "households", building=building, room=f"10{k}", vulnerable=["lone_elderly"]
        )
        for k in (1, 2, 3)
    )
    put_record(
        boss,
        st,
        "incidents",
        INC,
        kind="heating_outage",
        status="repairing",
        buildings=[building],
        started_at=iso(now - 3 * 3_600_000),
    )
    for household, item, status in (
        (heater, "heater", "delivered"),
        (blanket, "blanket", "returned"),
    ):
        put_record(
            boss,
            st,
            "deliveries",
            household=household,
            incident=INC,
            item=item,
            qty=1,
            status=status,
            at=iso(now - 60_000),
        )
    put_record(boss, st, "visits", household=moved, incident=INC, outcome="moved", at=iso(now))

    checks = client.get(f"/api/v1/incidents/{INC}/checks", headers=boss.headers).json()
    unreached = [c["household"] for c in checks if c["kind"] == "vulnerable_unreached"]
    assert unreached == [moved]
    progress = client.get(f"/api/v1/incidents/{INC}/progress", headers=boss.headers).json()
    assert (progress["vulnerable"], progress["vulnerable_reached"]) == (3, 2)
