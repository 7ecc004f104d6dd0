"""Field reports as their own records (#22 D18, M1) and retractable public updates (D10).

One real server per module: two communities, a coordinator phone in each, and two
volunteers assigned in the first. Each test writes records of its own (fresh ids).
"""

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from conftest import LiveServer, Phone, Stamper, eventually, put_record
from test_streams import share

from server.access import REPORTS_PER_HOUR
from server.ops.access_commands import add_coordinator, assign
from server.ops.admin import create_invite, write_records
from sync.ids import uuid7

C1, C2 = uuid7(), uuid7()
B1, B2 = uuid7(), uuid7()
I1, I2 = uuid7(), uuid7()


def _phone(server: LiveServer, role: str, person: str | None = None) -> Phone:
    code, _ = create_invite(server.db_path, role, name="测试", person=person)
    client = httpx.Client(base_url=server.url, timeout=60)
    d = client.post("/api/v1/enroll", json={"code": code, "device": "pytest"}).json()
    return Phone(client, d["token"], d["node"], d["person"], d["role"])


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[dict]:
    server = LiveServer(str(tmp_path_factory.mktemp("reports") / "reports.db")).start()
    db = server.db_path
    write_records(
        db,
        [
            ("communities", C1, {"name": "净土社区"}),
            ("communities", C2, {"name": "扇子市社区"}),
            ("buildings", B1, {"community": C1, "label": "1号楼"}),
            ("buildings", B2, {"community": C2, "label": "2号楼"}),
            ("incidents", I1, {"community": C1, "kind": "heating_outage", "title": "停暖",
                               "status": "responding", "buildings": [B1]}),
            ("incidents", I2, {"community": C2, "kind": "water_outage", "title": "停水",
                               "status": "responding", "buildings": [B2]}),
        ],
    )  # fmt: skip
    town = {
        "server": server,
        "coord1": _phone(server, "coordinator", add_coordinator(db, "c1", "x" * 12, community=C1)),
        "coord2": _phone(server, "coordinator", add_coordinator(db, "c2", "y" * 12, community=C2)),
        "vol": _phone(server, "volunteer"),
        "other": _phone(server, "volunteer"),
    }
    for who in ("vol", "other"):
        assign(db, town[who].person, building=B1)
    try:
        yield town
    finally:
        server.stop()


def _report(phone: Phone, **fields: object) -> str:
    base = {"community": C1, "kind": "leak", "text": "3单元楼道漏水", "place": "1号楼3单元",
            "reporter": phone.person, "at": "2026-12-07T12:00:00.000Z",
            "status": "pending"}  # fmt: skip
    return put_record(phone, Stamper(phone.node), "reports", **{**base, **fields})


def _ids(phone: Phone, coll: str) -> set[str]:
    changes = phone.sync(cursor=0).json()["changes"]
    return {c["id"] for c in changes if c["coll"] == coll}


def _refused(phone: Phone, coll: str, rid: str, fld: str, value: object) -> list[str]:
    change = {"coll": coll, "id": rid, "field": fld, "value": value, "hlc": Stamper(phone.node)()}
    r = phone.sync([change])
    assert r.status_code == 200, r.text
    return [x["error"] for x in r.json()["rejected"]]


def test_a_volunteer_can_no_longer_open_an_incident(town) -> None:
    vol = town["vol"]
    assert _refused(vol, "incidents", uuid7(), "title", "我编的事件") == ["forbidden"]
    assert _refused(vol, "incidents", uuid7(), "community", C1) == ["forbidden"]


def test_a_report_reaches_its_reporter_and_its_communitys_coordinators_only(town) -> None:
    rid = _report(town["vol"])
    assert rid in _ids(town["coord1"], "reports")
    assert rid not in _ids(town["coord2"], "reports")
    assert rid not in _ids(town["other"], "reports")
    # The reporter's other phone gets it back (the sender's own pull leaves its writes out).
    second = _phone(town["server"], "volunteer", person=town["vol"].person)
    assert rid in _ids(second, "reports")


def test_a_volunteer_reports_only_as_themself_in_their_own_community(town) -> None:
    vol, other = town["vol"], town["other"]
    assert _refused(vol, "reports", uuid7(), "community", C2) == ["forbidden"]
    assert _refused(vol, "reports", uuid7(), "reporter", other.person) == ["forbidden"]
    assert _refused(vol, "reports", uuid7(), "status", "acknowledged") == ["forbidden"]
    rid = _report(vol)
    assert _refused(other, "reports", rid, "text", "改成别的") == ["forbidden"]
    assert _refused(vol, "reports", rid, "incident", I1) == ["forbidden"]


def test_a_coordinator_attaches_a_report_only_to_an_incident_of_their_community(town) -> None:
    rid = _report(town["vol"])
    coord1, coord2 = town["coord1"], town["coord2"]
    assert _refused(coord1, "reports", rid, "incident", I2) == ["forbidden"]
    assert _refused(coord2, "reports", rid, "status", "acknowledged") == ["forbidden"]
    put_record(coord1, Stamper(coord1.node), "reports", rid, incident=I1, status="merged")
    assert rid in _ids(town["coord1"], "reports")


def test_a_flood_of_reports_from_one_phone_is_refused_per_change_past_the_hourly_allowance(
    town,
) -> None:
    flood = _phone(town["server"], "volunteer")
    assign(town["server"].db_path, flood.person, building=B1)
    stamp = Stamper(flood.node)
    ids = [uuid7() for _ in range(REPORTS_PER_HOUR + 5)]
    batch = [
        {"coll": "reports", "id": rid, "field": f, "value": v, "hlc": stamp()}
        for rid in ids
        for f, v in (("community", C1), ("text", "刷屏"), ("reporter", flood.person))
    ]
    r = flood.sync(batch)
    assert r.status_code == 200, r.text
    refused = r.json()["rejected"]
    assert {x["error"] for x in refused} == {"too_many_reports"}
    assert {batch[x["index"]]["id"] for x in refused} == set(ids[REPORTS_PER_HOUR:])
    assert "coordinator" in refused[0]["message"]
    # A report it already sent can still be corrected; a new one waits.
    assert _refused(flood, "reports", ids[0], "text", "更正") == []
    assert _refused(flood, "reports", uuid7(), "text", "又一条") == ["too_many_reports"]
    got = _ids(town["coord1"], "reports")
    assert set(ids[:REPORTS_PER_HOUR]) <= got and not set(ids[REPORTS_PER_HOUR:]) & got


def test_a_report_moved_to_another_community_leaves_the_first_ones_coordinator(town) -> None:
    rid = _report(town["vol"])
    coord1 = town["coord1"]
    held = coord1.sync(cursor=0).json()
    assert rid in {c["id"] for c in held["changes"] if c["coll"] == "reports"}
    head = _phone(town["server"], "coordinator")  # no community: every community
    put_record(head, Stamper(head.node), "reports", rid, community=C2)
    got = coord1.sync(cursor=held["cursor"], scope=held["scope"]).json()
    assert {"coll": "reports", "id": rid} in got["evict"]
    assert rid in _ids(town["coord2"], "reports")


def _public(server: LiveServer, token: str) -> dict:
    return httpx.get(f"{server.url}/api/v1/public/{token}", timeout=30).json()


def test_a_retracted_public_update_is_never_served_again_and_an_edit_replaces_it(
    town,
) -> None:
    server, coord = town["server"], town["coord1"]
    token = share(server, coord, I1)
    stamp = Stamper(coord.node)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    uid = put_record(coord, stamp, "updates", incident=I1, at=now, public=True,
                     text="302室王大爷家漏水，电话13800000000")  # fmt: skip

    def texts() -> list[str]:
        return [u["text"] for u in _public(server, token)["updates"]]

    eventually(lambda: "13800000000" in "".join(texts()), "the update is public")
    put_record(coord, stamp, "updates", uid, text="3单元漏水，正在处理")
    eventually(lambda: texts() == ["3单元漏水，正在处理"], "the edit replaces it")
    put_record(coord, stamp, "updates", uid, public=False)
    eventually(lambda: texts() == [], "the retracted update is gone")
    assert "漏水" not in httpx.get(f"{server.url}/api/v1/public/{token}").text


def test_the_residents_page_shows_no_title_a_volunteer_wrote(town) -> None:
    """An incident a volunteer reported before reports existed (status ``reported``)."""
    server, coord = town["server"], town["coord1"]
    old = uuid7()
    write_records(server.db_path, [("incidents", old, {
        "community": C1, "kind": "leak", "title": "李四家门口漏水", "status": "reported",
        "summary": "王五说的"})])  # fmt: skip
    pub = _public(server, share(server, coord, old))
    assert pub["kind"] == "leak" and pub["title"] is None and pub["summary"] is None


def test_retracting_the_newest_public_update_sends_no_notification_of_the_one_before() -> None:
    from schemas.progress import PublicProgress, PublicUpdate
    from server.live.push import Pusher

    older = PublicUpdate(id="u1", at="2026-12-07T10:00:00.000Z", text="10点前恢复供水")
    newer = PublicUpdate(id="u2", at="2026-12-07T11:00:00.000Z", text="302室王大爷家漏水")
    before = PublicProgress(seq=2, status="responding", updates=[newer, older])
    after = PublicProgress(seq=3, status="responding", updates=[older])
    pusher = object.__new__(Pusher)  # _payload reads nothing of the instance
    assert pusher._payload("i", before, after) is None
    fresh = PublicProgress(seq=4, status="responding", updates=[newer, older])
    assert pusher._payload("i", after, fresh) is not None
