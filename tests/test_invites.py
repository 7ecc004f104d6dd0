"""People from the console (issue 19, part 2): invites one at a time or in a batch with
their QR codes, on the address the console was reached on; withdraw, invite again; a
coordinator of every community adds a community's coordinator by a setup link; devices
are described, never shown as raw user-agent strings."""

import re

import pytest
from conftest import cli, enroll
from litestar.testing import TestClient

from server.http.devices import describe

PASSWORD = "night shift 3am"
HOST = {"Host": "doorstep.jingtu.example:9443"}


def _enrol(client: TestClient, code: str):
    return client.post("/api/v1/enroll", json={"code": code, "device": "Android Chrome"})


def _states(client: TestClient, boss) -> dict[str, str | None]:
    r = client.get("/api/v1/invites", headers=boss.headers)
    assert r.status_code == 200, r.text
    return {p["name"]: p["invite"] for p in r.json()}


def test_a_batch_gives_each_volunteer_a_link_on_the_consoles_address_to_withdraw_or_renew(
    client: TestClient,
) -> None:
    boss = enroll(client, client.db_path, "coordinator", "值班员")  # type: ignore[attr-defined]
    batch = {
        "people": [
            {"name": "张三", "phone": "138 0000 0001"},
            {"name": "李四", "phone": ""},
            {"name": "王五"},
        ]
    }
    r = client.post("/api/v1/invites", json=batch, headers={**boss.headers, **HOST})
    assert r.status_code == 200, r.text
    sheet = r.json()
    assert [i["name"] for i in sheet["invites"]] == ["张三", "李四", "王五"]
    assert sheet["invites"][0]["phone"] == "138 0000 0001"
    for inv in sheet["invites"]:
        assert inv["url"] == f"http://doorstep.jingtu.example:9443/#/enroll/{inv['code']}"
        assert inv["qr"].startswith("<svg") and inv["expires_at"] == sheet["expires_at"]
    zhang, li, wang = sheet["invites"]

    assert _enrol(client, zhang["code"]).status_code == 200
    assert _states(client, boss) | {"值班员": None} == {
        "值班员": None,
        "张三": "used",
        "李四": "pending",
        "王五": "pending",
    }

    r = client.post(f"/api/v1/people/{li['person']}/invites/revoke", headers=boss.headers)
    assert r.status_code == 200 and r.json() == {"revoked": 1}
    r = _enrol(client, li["code"])
    assert r.status_code == 410 and r.json()["error"] == "invite_revoked"
    assert _states(client, boss)["李四"] == "revoked"

    r = client.post(f"/api/v1/people/{wang['person']}/invite", json={}, headers=boss.headers)
    assert r.status_code == 200, r.text
    again = r.json()
    assert again["person"] == wang["person"] and again["code"] != wang["code"]
    assert _enrol(client, wang["code"]).json()["error"] == "invite_revoked"
    assert _enrol(client, again["code"]).json()["person"] == wang["person"]


@pytest.mark.parametrize(
    "body",
    [{"people": []}, {"people": [{"name": ""}]}, {"people": [{"name": "张三"}] * 201}, {}],
)
def test_a_bad_batch_is_a_clear_400(client: TestClient, body: dict) -> None:
    boss = enroll(client, client.db_path, "coordinator")  # type: ignore[attr-defined]
    r = client.post("/api/v1/invites", json=body, headers=boss.headers)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_invites_are_for_coordinators_and_only_their_people(client: TestClient) -> None:
    db = client.db_path  # type: ignore[attr-defined]
    vol = enroll(client, db)
    r = client.post("/api/v1/invites", json={"people": [{"name": "x"}]}, headers=vol.headers)
    assert r.status_code == 403
    boss = enroll(client, db, "coordinator")
    r = client.post("/api/v1/people/nobody-here/invite", json={}, headers=boss.headers)
    assert r.status_code == 404 and r.json()["error"] == "no_person"


def test_a_coordinator_of_every_community_adds_one_by_a_single_use_setup_link(
    client: TestClient,
) -> None:
    boss = enroll(client, client.db_path, "coordinator")  # type: ignore[attr-defined]
    r = client.post(
        "/api/v1/coordinators",
        json={"name": "精图社区书记", "community": "jingtu"},
        headers={**boss.headers, **HOST},
    )
    assert r.status_code == 200, r.text
    link = r.json()
    code = link["code"]
    assert link["url"] == f"http://doorstep.jingtu.example:9443/setup.html#{code}"
    assert _enrol(client, code).json()["error"] == "invite_unknown"  # it enrols nothing

    setup = {"code": code, "login": "jingtu", "password": PASSWORD}
    r = client.post("/api/v1/setup", json=setup)
    assert r.status_code == 200 and r.json()["person"] == link["person"]
    assert client.post("/api/v1/setup", json=setup).json()["error"] == "invite_used"
    r = client.post("/api/v1/login", json={"login": "jingtu", "password": PASSWORD})
    assert r.status_code == 200, r.text
    # A community's coordinator adds nobody: that is for a coordinator of all of them.
    r = client.post(
        "/api/v1/coordinators",
        json={"name": "x", "community": "other"},
        headers={"X-CSRF-Token": r.json()["csrf"]},
    )
    assert r.status_code == 403 and r.json()["error"] == "not_all_communities"


@pytest.mark.parametrize(
    ("label", "expires", "seen"),
    [
        ("Android Chrome", None, ("phone", "android", "Chrome")),
        ("iOS Safari", None, ("phone", "ios", "Safari")),
        (
            "browser Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
            "2026-12-08T04:00:00.000Z",
            ("browser", "windows", "Edge"),
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47",
            None,
            ("phone", "ios", "WeChat"),
        ),
        (
            "browser Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0",
            "x",
            ("browser", "linux", "Firefox"),
        ),
        ("", None, ("phone", "", "")),
    ],
)
def test_a_device_is_described_by_kind_system_and_browser(label, expires, seen) -> None:
    assert describe(label, expires) == seen


def test_the_devices_list_describes_each_device(client: TestClient) -> None:
    boss = enroll(client, client.db_path, "coordinator")  # type: ignore[attr-defined]
    r = client.get("/api/v1/devices", headers=boss.headers)
    assert r.status_code == 200
    assert {(d["kind"], d["system"], d["browser"]) for d in r.json()} == {("phone", "", "")}


def test_the_invite_command_says_which_address_its_link_uses(
    fresh_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    d = json.loads(cli("invite", "--db", fresh_db, "--role", "volunteer", "--name", "甲"))
    assert d["url"].startswith("http://127.0.0.1:8000/#/enroll/")
    assert "--base-url" in capsys.readouterr().err
    d = json.loads(
        cli(
            "invite",
            "--db",
            fresh_db,
            "--role",
            "volunteer",
            "--name",
            "乙",
            "--base-url",
            "https://doorstep.example.org/",
        )
    )
    assert re.fullmatch(
        r"https://doorstep\.example\.org/#/enroll/[A-Z0-9]{4}-[A-Z0-9]{4}", d["url"]
    )


def test_serve_on_an_empty_database_prints_one_setup_link_for_the_first_coordinator(
    empty_server,
) -> None:
    import httpx

    said = empty_server.log_path.read_text(encoding="utf-8")
    links = re.findall(r"首位协调员设置链接：(\S+)", said)
    assert len(links) == 1 and links[0].startswith(f"{empty_server.url}/setup.html#")
    code = links[0].split("#", 1)[1]
    setup = {"code": code, "login": "first", "password": PASSWORD, "name": "街道值班"}
    with httpx.Client(base_url=empty_server.url, timeout=30) as http:
        r = http.post("/api/v1/setup", json=setup)
        assert r.status_code == 200, r.text
        assert http.post("/api/v1/setup", json=setup).json()["error"] == "invite_used"
        r = http.post("/api/v1/login", json={"login": "first", "password": PASSWORD})
        assert r.status_code == 200 and r.json()["name"] == "街道值班"
    # A coordinator can sign in now: the next start prints no link.
    empty_server.stop()
    size = empty_server.log_path.stat().st_size
    empty_server.start()
    assert "首位协调员设置链接" not in empty_server.log_path.read_bytes()[size:].decode()


def test_coordinator_add_with_link_prints_a_setup_link_for_that_community(
    client: TestClient,
) -> None:
    import json

    db = client.db_path  # type: ignore[attr-defined]
    out = cli(
        "coordinator",
        "add",
        "--db",
        db,
        "--link",
        "--name",
        "山字石书记",
        "--community",
        "shanzishi",
        "--base-url",
        "https://doorstep.example.org",
    )
    made = json.loads(out)
    assert made["url"] == f"https://doorstep.example.org/setup.html#{made['code']}"
    setup = {"code": made["code"], "login": "szs", "password": PASSWORD}
    assert client.post("/api/v1/setup", json=setup).json()["person"] == made["person"]
    assert (
        client.post("/api/v1/login", json={"login": "szs", "password": PASSWORD}).json()["name"]
        == "山字石书记"
    )
