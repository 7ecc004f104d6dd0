"""The coordinator's console (#12) over HTTP: per-building restoration in progress, the
roster with the pending counts phones report, and the daily brief as JSON and XLSX."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from conftest import Stamper, enroll, eventually
from test_progress import INC, World, build

from server.http.console import duty_day, make_brief


@pytest.fixture
def world(client) -> World:
    return World(enroll(client, client.db_path, role="coordinator", name="主任"))


def client_share(world: World) -> str:
    r = world.phone.client.post(f"/api/v1/incidents/{INC}/share", headers=world.phone.headers)
    assert r.status_code == 200, r.text
    return r.json()["token"]


def test_restoring_buildings_one_by_one_restores_their_households_then_the_incident(
    world: World,
) -> None:
    homes = build(world)
    scope = list(homes)[:2]
    p = world.progress()
    assert (p["buildings"], p["buildings_restored"], p["restored"]) == (2, 0, 0)
    world.put("incidents", INC, restored_buildings=[scope[0]])
    p = world.progress()
    assert (p["buildings_restored"], p["restored"], p["affected"]) == (1, 10, 20)
    # Residents see the buildings count too (incident-wide, no household detail).
    token = client_share(world)

    def public() -> tuple:
        pub = world.phone.client.get(f"/api/v1/public/{token}").json()
        return (pub["buildings_restored"], pub["buildings"], pub["restored"])

    # The residents' frame follows the change log.
    eventually(lambda: public() == (1, 2, 10), "the residents' counts to follow", timeout=10)
    # ...and which ones, by label (#22 D26).
    pub = world.phone.client.get(f"/api/v1/public/{token}").json()
    assert (pub["buildings_done"], pub["buildings_waiting"]) == (["1号楼"], ["2号楼"])
    # A building outside the scope counts for nothing.
    world.put("incidents", INC, restored_buildings=[scope[0], list(homes)[2]])
    assert world.progress()["restored"] == 10
    world.put("incidents", INC, restored_buildings=scope)
    p = world.progress()
    assert (p["buildings_restored"], p["restored"]) == (2, 20)
    # Undo is a write of the old list.
    world.put("incidents", INC, restored_buildings=[])
    assert world.progress()["restored"] == 0


def test_volunteers_cannot_restore_buildings_or_acknowledge_reports(client, world) -> None:
    build(world)
    vol = enroll(client, client.db_path)
    s = Stamper(vol.node)
    r = vol.sync(
        [
            {"coll": "incidents", "id": INC, "field": f, "value": v, "hlc": s()}
            for f, v in (("restored_buildings", []), ("ack_at", "2026-11-30T00:00:00Z"))
        ]
    )
    assert [x["error"] for x in r.json()["rejected"]] == ["forbidden", "forbidden"]


def test_the_roster_shows_what_a_phone_reported_waiting_to_upload(client, world) -> None:
    vol = enroll(client, client.db_path, name="张志愿者")
    r = vol.sync([], pending=7)
    assert r.status_code == 200, r.text
    roster = client.get("/api/v1/roster", headers=world.phone.headers).json()
    mine = [e for e in roster if e["person"] == vol.person]
    assert len(mine) == 1
    assert (mine[0]["name"], mine[0]["pending"], mine[0]["devices"]) == ("张志愿者", 7, 1)
    assert mine[0]["last_seen"]
    # The batch it sent is answered: what is left is the count minus the batch.
    s = Stamper(vol.node)
    vol.sync(
        [{"coll": "visits", "id": "v-x", "field": "note", "value": "x", "hlc": s()}], pending=3
    )
    roster = client.get("/api/v1/roster", headers=world.phone.headers).json()
    assert [e["pending"] for e in roster if e["person"] == vol.person] == [2]


@pytest.mark.parametrize("pending", [-1, "many", 10**9])
def test_a_bad_pending_count_is_a_400(client, pending) -> None:
    vol = enroll(client, client.db_path)
    r = vol.sync([], pending=pending)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"


def test_the_roster_and_the_brief_are_for_coordinators_only(client, world) -> None:
    build(world)
    vol = enroll(client, client.db_path)
    assert client.get("/api/v1/roster", headers=vol.headers).status_code == 403
    assert client.get(f"/api/v1/incidents/{INC}/brief", headers=vol.headers).status_code == 403
    assert client.get(f"/api/v1/incidents/{INC}/brief").status_code == 401


def test_the_daily_brief_opens_in_openpyxl_with_the_days_figures(client, world) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    # Written as it happened, stamped that day: a past day counts as it ended.
    that_day = datetime(2026, 11, 23, 0, 30, tzinfo=UTC) - datetime.now(UTC)
    world.stamp = Stamper(world.phone.node, int(that_day.total_seconds() * 1000))
    homes = build(world)
    h, given, gone = homes[next(iter(homes))][:3]
    world.put("visits", household=h, incident=INC, at="2026-11-23T00:00:00Z", outcome="reached")
    # A blanket handed over (and taken back) without a visit record reached that door too;
    # a door found moved out (已搬走) was visited, not reached (#22 D12).
    world.put(
        "deliveries",
        household=given,
        incident=INC,
        item="blanket",
        qty=1,
        at="2026-11-23T05:00:00Z",
        status="returned",
    )
    world.put("visits", household=gone, incident=INC, at="2026-11-23T06:00:00Z", outcome="moved")
    world.put("visits", household=h, incident=INC, at="2026-11-24T00:00:00Z", outcome="reached")
    world.put(
        "deliveries",
        household=h,
        incident=INC,
        item="heater",
        qty=2,
        at="2026-11-23T01:00:00Z",
        status="delivered",
    )
    world.put("updates", incident=INC, at="2026-11-23T02:00:00Z", text="=正在抢修", public=True)
    world.put("updates", incident=INC, at="2026-11-23T02:30:00Z", text="内部", public=False)
    world.put(
        "repairs",
        incident=INC,
        place="暖井",
        description="焊接",
        status="done",
        at="2026-11-22T23:00:00Z",
        done_at="2026-11-23T03:00:00Z",
    )
    # The duty day 2026-11-23 at UTC+8, from 08:00, runs from 11-23 00:00Z to 11-24 00:00Z.
    url = f"/api/v1/incidents/{INC}/brief?day=2026-11-23&tz=480"
    b = client.get(url, headers=world.phone.headers).json()
    assert b["day_counts"] == {"visited": 3, "reached": 2}
    assert (b["counts"]["visited"], b["counts"]["reached"]) == (3, 2)
    assert b["heaters"] == {"delivered": 2, "returned": 0, "lost": 0}
    assert [u["text"] for u in b["updates"]] == ["=正在抢修"]
    assert [t["text"] for t in b["timeline"]] == [
        "状态改为：抢修中",
        "预计恢复：2026-11-23 11:20",
        "抢修完成：暖井 焊接",
    ]
    assert b["counts"]["heaters_out"] == 2 and b["counts"]["buildings"] == 2
    r = client.get(url + "&format=xlsx", headers=world.phone.headers)
    assert r.status_code == 200
    assert "attachment" in r.headers["content-disposition"]
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["日报", "抢修经过", "公开通报"]
    figures = {row[0]: row[1] for row in wb["日报"].iter_rows(values_only=True) if row and row[0]}
    assert (
        figures["当天送出电暖气"] == 2
        and (figures["当天走访（户）"], figures["当天联系（户）"]) == (3, 2)
        and figures["电暖气在外"] == 2
        and figures["日期"] == "2026-11-23"
    )
    # A public update that looks like a formula is text in the sheet, not a formula.
    assert [row[1] for row in wb["公开通报"].iter_rows(min_row=2, values_only=True)] == [
        "'=正在抢修"
    ]


@pytest.mark.parametrize(
    "query", ["day=2026-13-40", "day=yesterday", "tz=9999", "format=pdf", "day=2026-1-1"]
)
def test_a_bad_brief_request_is_a_400(client, world, query) -> None:
    build(world)
    r = client.get(f"/api/v1/incidents/{INC}/brief?{query}", headers=world.phone.headers)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request"


def test_the_brief_of_an_unknown_incident_is_a_404(client, world) -> None:
    r = client.get("/api/v1/incidents/nope/brief", headers=world.phone.headers)
    assert r.status_code == 404


def test_make_brief_cuts_the_day_at_the_shift_change() -> None:
    # 08:00 at UTC+8 is 00:00Z: visit a is the night before, b the first of the day.
    rows = {
        "visits": {
            "a": {"household": "h1", "at": "2026-11-29T23:59:59Z"},
            "b": {"household": "h2", "at": "2026-11-30T00:00:00Z"},
        },
        "deliveries": {},
        "repairs": {},
        "updates": {},
        "history": [],
        "labels": {},
    }
    now = datetime(2026, 12, 2, tzinfo=UTC)
    b = make_brief("i", {}, {}, rows, "2026-11-30", 480, now, start_hour=8)
    assert b["day_counts"]["visited"] == 1
    assert (b["local"]["from"], b["local"]["to"]) == ("2026-11-30 08:00", "2026-12-01 08:00")
    b = make_brief("i", {}, {}, rows, "2026-11-29", 480, now, start_hour=8)
    assert b["day_counts"]["visited"] == 1


@pytest.mark.parametrize(
    ("utc", "day"),
    [
        ("2026-11-30T16:55:00Z", "2026-11-30"),  # 00:55 local on 12-01: still the night's day
        ("2026-11-30T23:59:00Z", "2026-11-30"),  # 07:59 local
        ("2026-12-01T00:00:00Z", "2026-12-01"),  # 08:00 local: the new duty day
    ],
)
def test_the_brief_opens_on_the_duty_day_running_at_night(utc: str, day: str) -> None:
    now = datetime.fromisoformat(utc.replace("Z", "+00:00"))
    assert duty_day(now, 480, 8) == day


def test_the_brief_timeline_leaves_out_undos() -> None:
    rows = {
        "visits": {},
        "deliveries": {},
        "repairs": {},
        "updates": {},
        "labels": {"b1": "1号楼", "b2": "2号楼"},
        "history": [
            ("status", "repairing", "2026-11-30T01:00:00.000Z-0000-a"),
            # 已恢复 by mistake, undone 10 s later: neither is part of the day's story.
            ("status", "restored", "2026-11-30T02:00:00.000Z-0000-a"),
            ("status", "repairing", "2026-11-30T02:00:10.000Z-0000-a"),
            ("restored_buildings.b1", True, "2026-11-30T03:00:00.000Z-0000-a"),
            ("restored_buildings.b1", False, "2026-11-30T03:00:05.000Z-0000-a"),
            ("restored_buildings.b2", True, "2026-11-30T04:00:00.000Z-0000-a"),
            # Taken back an hour later: a decision, not an undo.
            ("restored_buildings.b2", False, "2026-11-30T05:00:00.000Z-0000-a"),
        ],
    }
    b = make_brief("i", {}, {}, rows, "2026-11-30", 0, datetime(2026, 12, 2, tzinfo=UTC))
    assert [t["text"] for t in b["timeline"]] == [
        "状态改为：抢修中",
        "楼栋已恢复：2号楼",
        "楼栋撤销恢复：2号楼",
    ]


def test_a_past_days_brief_counts_as_that_day_ended(client, world) -> None:
    """A past day showed today's totals: it counts the records as they stood at its end."""
    days_ago = timedelta(days=3)
    then = World(world.phone)
    then.stamp = Stamper(world.phone.node, offset_ms=-int(days_ago.total_seconds() * 1000))
    homes = build(then)
    first, second = homes[next(iter(homes))][:2]
    at = (datetime.now(UTC) - days_ago).strftime("%Y-%m-%dT%H:%M:%SZ")
    then.put("visits", household=first, incident=INC, at=at, outcome="reached")
    world.put("visits", household=second, incident=INC, at=at, outcome="reached")
    past = duty_day(datetime.now(UTC) - days_ago, 0, 8)
    get = world.phone.client.get
    b = get(f"/api/v1/incidents/{INC}/brief?day={past}&tz=0", headers=world.phone.headers).json()
    assert b["counts"]["reached"] == 1 and b["counts"]["affected"] == 20
    assert b["counts_at"] == b["day_end"]
    today = get(f"/api/v1/incidents/{INC}/brief?tz=0", headers=world.phone.headers).json()
    assert today["counts"]["reached"] == 2
    assert today["day"] == duty_day(datetime.now(UTC), 0, 8)


def test_two_coordinators_restoring_different_buildings_offline_both_count(client, world) -> None:
    """Each building is an element of the set ``restored_buildings`` (sync/sets.py): two
    offline writes of different buildings touch different fields, so both are kept."""
    homes = build(world)
    b1, b2 = list(homes)[:2]
    other = enroll(client, client.db_path, role="coordinator", name="副主任")
    # Stamped five minutes ago, so the take-back below is a decision, not an undo (the
    # brief leaves out a change put back within a minute).
    mine, theirs = Stamper(world.phone.node, -300_000), Stamper(other.node, -300_000)
    # Both stamp their change before either has synced (both phones offline).
    a = {"coll": "incidents", "id": INC, "field": f"restored_buildings.{b1}", "value": True}
    b = {"coll": "incidents", "id": INC, "field": f"restored_buildings.{b2}", "value": True}
    a["hlc"], b["hlc"] = mine(), theirs()
    for phone, change in ((other, b), (world.phone, a)):
        r = phone.sync([change])
        assert r.status_code == 200 and r.json()["rejected"] == [], r.text
    p = world.progress()
    assert (p["buildings_restored"], p["buildings"], p["restored"]) == (2, 2, 20)
    # Taking one back removes that building only.
    world.put("incidents", INC, **{f"restored_buildings.{b1}": False})
    p = world.progress()
    assert (p["buildings_restored"], p["restored"]) == (1, 10)
    # The brief's timeline names each building, in words the dashboard can translate.
    timeline = []
    for day in sorted(
        {duty_day(datetime.fromisoformat(a["hlc"][:19]), 0, 8), duty_day(datetime.now(), 0, 8)}
    ):
        timeline += client.get(
            f"/api/v1/incidents/{INC}/brief?day={day}&tz=0", headers=world.phone.headers
        ).json()["timeline"]
    steps = [(t.get("name"), t.get("restored")) for t in timeline if t["kind"] == "building"]
    assert sorted(steps[:2]) == [("1号楼", True), ("2号楼", True)]
    assert steps[2:] == [("1号楼", False)]
    assert "楼栋撤销恢复：1号楼" in [t["text"] for t in timeline]


@pytest.mark.sqlite_only(reason="reads the SQLite file with sqlite3")
def test_the_export_form_lists_the_communitys_incidents_by_name(client) -> None:
    """The devices page picks an incident by name from the server (no replica needed)."""
    import sqlite3
    from contextlib import closing

    from test_access import enroll as enroll_fast
    from test_access import put

    db = client.db_path
    put(
        db,
        [
            (
                "incidents",
                "ni1",
                {"community": "nc1", "title": "停暖", "started_at": "2026-11-22T14:00:00Z"},
            ),
            (
                "incidents",
                "ni2",
                {"community": "nc1", "title": "停水", "started_at": "2026-11-23T08:00:00Z"},
            ),
            ("incidents", "ni3", {"community": "nc2", "title": "别的社区"}),
            ("incidents", "ni4", {"community": "nc1", "title": "删掉的", "_deleted": True}),
        ],
    )
    coord = enroll_fast(client, db, "coordinator")
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("UPDATE people SET community = 'nc1' WHERE id = ?", (coord.person,))
        conn.commit()
    got = client.get("/api/v1/incidents", headers=coord.headers).json()
    assert [(i["id"], i["title"]) for i in got] == [("ni2", "停水"), ("ni1", "停暖")]
    vol = enroll_fast(client, db)
    assert client.get("/api/v1/incidents", headers=vol.headers).status_code == 403
