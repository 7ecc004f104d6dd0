"""Attacking the people page (issue 19) through a real server process: a coordinator of
one community using ids of people who are not theirs, volunteers and revoked devices on
coordinator routes, setup links replayed, and household tasks given across communities.
One empty server for the module: each test makes its own people and records."""

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from conftest import LiveServer, Phone, Stamper, put_record, run_async
from test_access import Device

from server.ops.access_commands import add_coordinator

PASSWORD = "night shift 3am"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[LiveServer]:
    live = LiveServer(str(tmp_path_factory.mktemp("attack") / "attack.db")).start()
    try:
        yield live
    finally:
        live.stop()


@dataclass
class Console(Phone):
    """A coordinator's browser session: the cookie rides in the client, CSRF in a header."""

    csrf: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf}


def _console(server: LiveServer, login: str, community: str | None) -> Console:
    add_coordinator(server.db_path, login, PASSWORD, name=login, community=community)
    client = httpx.Client(base_url=server.url, timeout=30)
    r = client.post("/api/v1/login", json={"login": login, "password": PASSWORD})
    assert r.status_code == 200, r.text
    d = r.json()
    return Console(client, "", d["node"], d["person"], "coordinator", csrf=d["csrf"])


def _building(boss: Phone, community: str, label: str) -> str:
    return put_record(boss, Stamper(boss.node), "buildings", community=community, label=label)


def test_a_community_coordinator_cannot_reinvite_a_coordinator_of_every_community(
    server: LiveServer,
) -> None:
    """Assigning the street's coordinator (a phone, no login) to one of your buildings
    must not make them "yours": a new invite for them would be a setup link, and the
    login set on it a coordinator of every community."""
    boss = server.enroll("coordinator", "街道值班")
    east_b = _building(boss, "atk-east", "东1")
    east = _console(server, "atk-east-office", "atk-east")
    put_record(
        east, Stamper(east.node), "assignments", f"{boss.person}~{east_b}",
        person=boss.person, building=east_b, active=True,
    )  # fmt: skip

    seen = {p["id"] for p in east.client.get("/api/v1/people").json()}
    assert boss.person not in seen
    for path in (
        f"/api/v1/people/{boss.person}/invite",
        f"/api/v1/people/{boss.person}/invites/revoke",
    ):
        r = east.client.post(path, json={}, headers=east.headers)
        assert r.status_code == 404 and r.json()["error"] == "no_person", r.text
    r = east.client.get("/api/v1/invites")
    assert boss.person not in {p["person"] for p in r.json()}


def test_a_community_coordinator_cannot_enrol_a_phone_as_a_volunteer_who_also_works_elsewhere(
    server: LiveServer,
) -> None:
    """A new invite enrols a phone that reads what the volunteer reads: assigning the west's
    volunteer one building in the east must not give the east a phone with the west's doors."""
    boss = server.enroll("coordinator", "街道值班")
    stamp = Stamper(boss.node)
    west_b = _building(boss, "atk-west2", "西1")
    east_b = _building(boss, "atk-east2", "东1")
    put_record(boss, stamp, "households", building=west_b, room="301", contact="139 0000 0003")
    both = server.enroll("volunteer", "两边都跑的志愿者")
    only_east = server.enroll("volunteer", "只在东边的志愿者")
    put_record(
        boss, stamp, "assignments", f"{both.person}~{west_b}",
        person=both.person, building=west_b, active=True,
    )  # fmt: skip
    east = _console(server, "atk-east2-office", "atk-east2")
    es = Stamper(east.node)
    for vol in (both, only_east):
        put_record(
            east, es, "assignments", f"{vol.person}~{east_b}",
            person=vol.person, building=east_b, active=True,
        )  # fmt: skip

    r = east.client.post(f"/api/v1/people/{both.person}/invite", json={}, headers=east.headers)
    assert r.status_code == 403 and r.json()["error"] == "works_elsewhere", r.text
    r = east.client.post(f"/api/v1/people/{only_east.person}/invite", json={}, headers=east.headers)
    assert r.status_code == 200 and r.json()["person"] == only_east.person, r.text
    # The street's coordinator reads both communities: they may.
    r = boss.client.post(f"/api/v1/people/{both.person}/invite", json={}, headers=boss.headers)
    assert r.status_code == 200, r.text


def _change(stamp: Stamper, rid: str, **fields: object) -> list[dict]:
    return [
        {"coll": "assignments", "id": rid, "field": f, "value": v, "hlc": stamp()}
        for f, v in fields.items()
    ]


def test_a_household_task_is_given_only_by_a_coordinator_of_its_community_and_taken_back_whole(
    server: LiveServer,
) -> None:
    """我的任务: ``<person>~<household>`` puts one door on a phone. A volunteer cannot give
    it to themself, a coordinator of another community cannot give it, and taking it back
    evicts the household's personal fields from the phone."""
    boss = server.enroll("coordinator", "街道值班")
    stamp = Stamper(boss.node)
    west_b = _building(boss, "atk-west3", "西1")
    east_b = _building(boss, "atk-east3", "东1")
    west_h = put_record(boss, stamp, "households", building=west_b, room="302", notes="独居")
    east_h = put_record(boss, stamp, "households", building=east_b, room="101", notes="轮椅")
    vol = Device(server.enroll("volunteer", "志愿者"))
    east = _console(server, "atk-east3-office", "atk-east3")
    es, vs = Stamper(east.node), Stamper(vol.phone.node)

    mine = f"{vol.phone.person}~{east_h}"
    refused = vol.sync(_change(vs, mine, person=vol.phone.person, household=east_h))
    assert {r["error"] for r in refused} == {"forbidden"}
    theirs = f"{vol.phone.person}~{west_h}"
    r = east.sync(_change(es, theirs, person=vol.phone.person, household=west_h))
    assert {x["error"] for x in r.json()["rejected"]} == {"forbidden"}, r.text
    vol.sync()
    assert vol.records("households") == {}

    assert (
        east.sync(_change(es, mine, person=vol.phone.person, household=east_h)).json()["rejected"]
        == []
    )
    vol.sync()
    assert vol.records("households")[east_h]["notes"] == "轮椅"
    assert east.sync(_change(es, mine, household=None)).json()["rejected"] == []
    vol.sync()
    assert vol.records("households") == {}


def test_the_first_run_link_stops_working_once_a_coordinator_can_sign_in(tmp_path, backend) -> None:
    """The link ``serve`` printed on an empty database (in its log, 72 hours) must not make
    a second coordinator of every community after the first was made another way."""
    import re

    live = LiveServer(str(tmp_path / "first.db")).start()
    try:
        said = live.log_path.read_text(encoding="utf-8")
        code = re.findall(r"首位协调员设置链接：\S+#(\S+)", said)[0]
        add_coordinator(live.db_path, "street", PASSWORD, name="街道值班")
        setup = {"code": code, "login": "late", "password": PASSWORD, "name": "后来者"}
        r = httpx.post(f"{live.url}/api/v1/setup", json=setup, timeout=30)
        assert r.status_code == 409 and r.json()["error"] == "invite_used", r.text
        r = httpx.post(f"{live.url}/api/v1/login", json={"login": "late", "password": PASSWORD})
        assert r.status_code == 401
    finally:
        live.stop()


_COORDINATOR_ONLY = [
    ("GET", "/api/v1/invites"),
    ("POST", "/api/v1/invites"),
    ("POST", "/api/v1/people/{person}/invite"),
    ("POST", "/api/v1/people/{person}/invites/revoke"),
    ("POST", "/api/v1/coordinators"),
    ("POST", "/api/v1/ledger"),
    ("GET", "/api/v1/incidents/{incident}/export"),
    ("GET", "/api/v1/incidents/{incident}/brief"),
]


def test_the_new_coordinator_routes_refuse_no_token_a_volunteer_and_a_revoked_phone(
    server: LiveServer,
) -> None:
    from server.ops.admin import revoke

    boss = server.enroll("coordinator", "街道值班")
    incident = put_record(boss, Stamper(boss.node), "incidents", title="停暖", community="atk-c")
    vol = server.enroll("volunteer", "志愿者")
    gone = server.enroll("coordinator", "被收回的手机")
    assert revoke(server.db_path, gone.node)
    bodies = {
        "/api/v1/invites": {"people": [{"name": "张三"}]},
        "/api/v1/coordinators": {"name": "甲", "community": "atk-c"},
        "/api/v1/ledger": {"file": "", "dry_run": True},
    }
    callers = [({}, 401, "unauthorized"), (vol.headers, 403, "not_coordinator"),
               (gone.headers, 401, "revoked")]  # fmt: skip
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for method, path in _COORDINATOR_ONLY:
            url = path.format(person=vol.person, incident=incident)
            for headers, status, code in callers:
                r = http.request(method, url, json=bodies.get(path, {}), headers=headers)
                assert (r.status_code, r.json()["error"]) == (status, code), (url, r.text)


@pytest.mark.parametrize(
    "body",
    [b"\xff\xfe{", b'{"people": [{"name": "\\ud800"}]}', b"[" * 100_000, b"{}" + b" " * 5_000_000],
)
def test_a_malformed_or_huge_body_on_the_people_routes_is_a_clear_4xx(
    server: LiveServer, body: bytes
) -> None:
    boss = server.enroll("coordinator", "街道值班")
    headers = {**boss.headers, "Content-Type": "application/json"}
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for path in ("/api/v1/invites", "/api/v1/coordinators", "/api/v1/setup"):
            r = http.post(path, content=body, headers=headers)
            assert 400 <= r.status_code < 500 and "error" in r.json(), (path, r.text[:200])


def test_a_community_coordinators_export_carries_only_their_own_households(
    server: LiveServer,
) -> None:
    """The street's coordinator opened one incident over two communities' buildings: the
    east's coordinator sees it, and exports it, but the west's doors are not theirs."""
    boss = server.enroll("coordinator", "街道值班")
    stamp = Stamper(boss.node)
    east_b = _building(boss, "atk-east5", "东1")
    west_b = _building(boss, "atk-west5", "西1")
    put_record(boss, stamp, "households", building=east_b, unit="1", room="101", notes="东边")
    west_h = put_record(boss, stamp, "households", building=west_b, unit="2", room="909",
                        notes="西边独居老人")  # fmt: skip
    put_record(boss, stamp, "visits", household=west_h, outcome="reached", note="西边的走访")
    incident = put_record(boss, stamp, "incidents", title="停暖", community="atk-east5",
                          buildings=[east_b, west_b])  # fmt: skip
    east = _console(server, "atk-east5-office", "atk-east5")
    for table in ("households", "visits"):
        r = east.client.get(f"/api/v1/incidents/{incident}/export?format=csv&table={table}")
        assert r.status_code == 200, r.text
        text = r.content.decode("utf-8-sig")
        assert "西边" not in text and "909" not in text, text
    assert "东边" in east.client.get(f"/api/v1/incidents/{incident}/export?format=csv").text
    # The street's coordinator exports both.
    r = boss.client.get(f"/api/v1/incidents/{incident}/export?format=csv", headers=boss.headers)
    assert "西边独居老人" in r.content.decode("utf-8-sig")


def _peak_mib(server: LiveServer) -> float:
    """The server process's peak resident memory so far (Linux)."""
    assert server.proc is not None
    status = open(f"/proc/{server.proc.pid}/status").read()  # noqa: SIM115
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def test_wrong_setup_codes_from_many_addresses_cost_the_server_no_password_hashing(
    server: LiveServer,
) -> None:
    """The setup page is public. Each wrong code used to be hashed with its password first
    (argon2id, ~64 MiB each, as many at once as requests came): sixty from sixty addresses
    took the server past 1.7 GiB (bench/setup_flood.py). A wrong code is now answered first."""
    import asyncio

    async def burst() -> list[int]:
        body = {"code": "ABCD-EFGH", "login": "x", "password": "a long enough one"}
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as http:
            answers = await asyncio.gather(
                *(
                    http.post(
                        "/api/v1/setup", json=body, headers={"X-Forwarded-For": f"10.77.0.{i}"}
                    )
                    for i in range(12)
                )
            )
        return [r.json()["error"] for r in answers]

    before = _peak_mib(server)
    assert run_async(burst()) == ["invite_unknown"] * 12
    assert _peak_mib(server) - before < 128  # fewer than two hashes' worth


def test_a_small_incidents_residents_page_names_no_building(server: LiveServer) -> None:
    """Under ten households, "1号楼 restored, 2号楼 not yet" could point at a door: the
    residents' page and digest get no building labels, only once the incident is big."""
    from conftest import eventually

    boss = server.enroll("coordinator", "街道值班")
    stamp = Stamper(boss.node)
    done, waiting = _building(boss, "atk-small", "甲楼"), _building(boss, "atk-small", "乙楼")
    for b in (done, waiting):
        put_record(boss, stamp, "households", building=b, unit="1", room="101")
    incident = put_record(boss, stamp, "incidents", title="停水", community="atk-small",
                          status="responding", buildings=[done, waiting])  # fmt: skip
    r = httpx.post(f"{server.url}/api/v1/incidents/{incident}/share", headers=boss.headers)
    token = r.json()["token"]
    put_record(boss, stamp, "incidents", incident, restored_buildings=[done], status="repairing")

    def public() -> dict | None:
        body = httpx.get(f"{server.url}/api/v1/public/{token}").json()
        return body if body["status"] == "repairing" else None

    body = eventually(public, "the residents' view of the small incident")
    assert (body["buildings_done"], body["buildings_waiting"], body["buildings"]) == (None,) * 3
    assert "甲楼" not in json.dumps(body, ensure_ascii=False)


def test_volunteers_one_community_invites_are_not_in_another_communitys_pool(
    server: LiveServer,
) -> None:
    """The east prints a sheet of invites: the west's coordinator must not see those
    people, withdraw their codes, or take a new code for one (a phone enrolled on it
    would read the east's doors once the east assigns that volunteer)."""
    east = _console(server, "atk-east7-office", "atk-east7")
    west = _console(server, "atk-west7-office", "atk-west7")
    r = east.client.post(
        "/api/v1/invites", json={"people": [{"name": "东边新人"}]}, headers=east.headers
    )
    assert r.status_code == 200, r.text
    person = r.json()["invites"][0]["person"]

    assert person not in {p["person"] for p in west.client.get("/api/v1/invites").json()}
    for path in (f"/api/v1/people/{person}/invite", f"/api/v1/people/{person}/invites/revoke"):
        r = west.client.post(path, json={}, headers=west.headers)
        assert r.status_code == 404 and r.json()["error"] == "no_person", r.text
    assert person in {p["person"] for p in east.client.get("/api/v1/invites").json()}
    r = east.client.post(f"/api/v1/people/{person}/invite", json={}, headers=east.headers)
    assert r.status_code == 200, r.text

    # The west's invitee, assigned a building in the east, is still not the east's to
    # invite again: the west will assign them its own doors.
    r = west.client.post(
        "/api/v1/invites", json={"people": [{"name": "西边新人"}]}, headers=west.headers
    )
    theirs = r.json()["invites"][0]["person"]
    boss = server.enroll("coordinator", "街道值班")
    east_b = _building(boss, "atk-east7", "东7")
    put_record(
        east, Stamper(east.node), "assignments", f"{theirs}~{east_b}",
        person=theirs, building=east_b, active=True,
    )  # fmt: skip
    r = east.client.post(f"/api/v1/people/{theirs}/invite", json={}, headers=east.headers)
    assert r.status_code == 403 and r.json()["error"] == "works_elsewhere", r.text
