"""Issue 22's data-side holes, each through a real server process (one per module where
isolation allows): the roster's scope, a device's own writes after storage loss, and the
per-device write budgets."""

from collections.abc import Iterator

import httpx
import pytest
from conftest import LiveServer, Phone, Stamper, put_record

from server.ops.access_commands import add_coordinator

PASSWORD = "night shift 3am"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[LiveServer]:
    """One empty server for the module: each test makes its own people and records."""
    live = LiveServer(str(tmp_path_factory.mktemp("holes") / "holes.db")).start()
    try:
        yield live
    finally:
        live.stop()


def _login(server: LiveServer, login: str, community: str | None) -> httpx.Client:
    add_coordinator(server.db_path, login, PASSWORD, name=login, community=community)
    client = httpx.Client(base_url=server.url, timeout=30)
    r = client.post("/api/v1/login", json={"login": login, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return client


def test_the_roster_leaves_out_volunteers_assigned_in_another_community(
    server: LiveServer,
) -> None:
    boss = server.enroll("coordinator", "街道办")  # every community
    stamp = Stamper(boss.node)
    put_record(boss, stamp, "buildings", "roster-b-east", community="roster-east", label="东1")
    put_record(boss, stamp, "buildings", "roster-b-west", community="roster-west", label="西1")
    east_vol = server.enroll("volunteer", "东边的志愿者")
    west_vol = server.enroll("volunteer", "西边的志愿者")
    pool_vol = server.enroll("volunteer", "未分配的志愿者")
    for vol, building in ((east_vol, "roster-b-east"), (west_vol, "roster-b-west")):
        put_record(
            boss, stamp, "assignments", f"{vol.person}~{building}", person=vol.person,
            building=building, active=True,
        )  # fmt: skip

    east = _login(server, "roster-east-office", "roster-east")
    r = east.get("/api/v1/roster")
    assert r.status_code == 200, r.text
    seen = {e["person"] for e in r.json()}
    people = {p["id"] for p in east.get("/api/v1/people").json()}
    east.close()
    assert east_vol.person in seen and pool_vol.person in seen
    assert west_vol.person not in seen
    assert seen <= people  # the roster is scoped as /api/v1/people is


def _pull_all(phone: Phone, cursor: int, scope: str | None) -> list[dict]:
    """Every change a pull from ``cursor`` gives, page by page, as the PWA pages."""
    got: list[dict] = []
    while True:
        extra = {"scope": scope} if scope else {}
        r = phone.sync(cursor=cursor, limit=2, **extra)
        assert r.status_code == 200, r.text
        body = r.json()
        got += body["changes"]
        cursor, scope = body["cursor"], body["scope"]
        if not body["more"]:
            return got


@pytest.mark.parametrize("role", ["coordinator", "volunteer"])
def test_a_device_that_lost_its_storage_gets_its_own_writes_back(
    server: LiveServer, role: str
) -> None:
    boss = server.enroll("coordinator", "街道办")
    stamp = Stamper(boss.node)
    building = put_record(boss, stamp, "buildings", community="own-c", label="3号楼")
    hid = put_record(boss, stamp, "households", building=building, room="301")
    phone = server.enroll(role, "丢了存储的手机")
    if role == "volunteer":
        put_record(
            boss, stamp, "assignments", f"{phone.person}~{building}", person=phone.person,
            building=building, active=True,
        )  # fmt: skip
    first = phone.sync().json()
    mine = Stamper(phone.node)
    closed, visit = f"{role}~{hid}", f"visit-{role}"
    written = [
        ("household_status", closed, "needs_open", []),
        ("visits", visit, "household", hid),
        ("visits", visit, "note", "已关闭"),
    ]
    changes = [
        {"coll": c, "id": i, "field": f, "value": v, "hlc": mine()} for c, i, f, v in written
    ]
    held = {"cursor": first["cursor"], "scope": first["scope"]}
    r = phone.sync(changes, **held)
    assert r.status_code == 200 and r.json()["accepted"] == 3, r.text
    # In steady state a device's own writes are not echoed back to it.
    steady = phone.sync(**held).json()["changes"]
    assert not [c for c in steady if c["id"] in (closed, visit)]

    # Storage wiped, token kept: cursor 0, no scope token, pages of two.
    again = _pull_all(phone, 0, None)
    got = {(c["coll"], c["id"], c["field"]): c["value"] for c in again}
    assert got[("visits", visit, "note")] == "已关闭"
    assert got[("household_status", closed, "needs_open")] == []


def test_one_device_rewriting_a_note_is_stopped_at_its_write_budget(server: LiveServer) -> None:
    flood = server.enroll("coordinator", "一直改备注的手机")  # every community: no scope check
    other = server.enroll("coordinator", "另一部手机")
    stamp = Stamper(flood.node)
    note = "漏" * 4000  # the longest note: 12,000 bytes

    def rewrite(n: int) -> dict:
        changes = [
            {
                "coll": "visits",
                "id": "flooded-visit",
                "field": "note",
                "value": note,
                "hlc": stamp(),
            }
            for _ in range(n)
        ]
        r = flood.sync(changes)
        assert r.status_code == 200, r.text
        return r.json()

    answers = [rewrite(300) for _ in range(3)]  # 10.8 MB: over the 8 MiB a minute
    accepted = sum(a["accepted"] for a in answers)
    assert 600 < accepted < 900
    assert accepted * 12_000 <= 8 * 1024 * 1024
    refused = answers[-1]["rejected"]
    assert len(refused) == 900 - accepted
    assert {r["error"] for r in refused} == {"over_budget"}
    assert "kept on the phone" in refused[0]["message"]
    assert [r["index"] for r in refused] == list(range(300 - len(refused), 300))
    assert rewrite(1)["rejected"][0]["error"] == "over_budget"
    # Kept like any refusal, for a coordinator to see; other devices write as before.
    assert server.query(
        "SELECT count(*) FROM quarantine WHERE node = ? AND error = 'over_budget'", (flood.node,)
    ) == [(len(refused) + 1,)]
    put_record(other, Stamper(other.node), "visits", note="另一部手机照常写")


def test_a_snapshot_larger_than_a_page_is_streamed_whole(server: LiveServer) -> None:
    boss = server.enroll("coordinator", "一次写很多的手机")
    stamp = Stamper(boss.node)
    ids = [f"snap-{i:05d}" for i in range(6000)]  # more than one page of 5,000
    for part in (ids[:3000], ids[3000:]):
        changes = [
            {"coll": "visits", "id": rid, "field": "note", "value": "走访", "hlc": stamp()}
            for rid in part
        ]
        assert boss.sync(changes).json()["accepted"] == 3000
    reader = server.enroll("coordinator", "打开总览的电脑")
    with httpx.Client(base_url=server.url, timeout=60) as client:
        r = client.get("/api/v1/snapshot", headers=reader.headers)
    assert r.status_code == 200, r.text
    assert r.headers.get("transfer-encoding") == "chunked"  # sent as it is read
    snap = r.json()
    fields = {(c, i, f) for c, i, fs in snap["records"] for f, _v, _h in fs}
    assert {("visits", rid, "note") for rid in ids} <= fields
    assert snap["more"] is False and snap["scope"]
    top = server.query("SELECT max(seq) FROM winners")[0][0]
    assert snap["cursor"] == top


def test_a_coordinator_stream_gets_one_change_per_field_of_a_burst(server: LiveServer) -> None:
    from test_streams import sse

    boss = server.enroll("coordinator", "看总览的电脑")
    writer = server.enroll("coordinator", "一直改备注的手机")
    stamp = Stamper(writer.node)
    with sse(server, "/api/v1/events", boss.headers) as stream:
        assert stream.next().retry  # the stream's first frame: it is subscribed
        burst = [
            {"coll": "visits", "id": "burst-visit", "field": "note", "value": f"第{n}次",
             "hlc": stamp()}
            for n in range(300)
        ]  # fmt: skip
        burst.append({"coll": "visits", "id": "burst-visit", "field": "by", "value": "王五",
                      "hlc": stamp()})  # fmt: skip
        assert writer.sync(burst).json()["accepted"] == 301
        _, data = stream.until("change", lambda d: "burst-visit" in {c["id"] for c in d["changes"]})
    got = [(c["field"], c["value"]) for c in data["changes"] if c["id"] == "burst-visit"]
    assert got == [("note", "第299次"), ("by", "王五")]
