"""GET /api/v1/people: whom a coordinator can assign, without phone numbers (issue 5)."""

from conftest import enroll
from litestar.testing import TestClient

from server.ops.access_commands import add_coordinator

PASSWORD = "night shift 3am"


def test_people_lists_the_community_and_unattached_volunteers_with_device_counts(
    client: TestClient,
) -> None:
    db = client.db_path  # type: ignore[attr-defined]
    vol = enroll(client, db, "volunteer", "小王")
    boss = enroll(client, db, "coordinator", "街道办")
    other = add_coordinator(db, "office-b", PASSWORD, name="B社区", community="comm-b")
    add_coordinator(db, "office-a", PASSWORD, name="A社区", community="comm-a")

    r = client.get("/api/v1/people", headers=boss.headers)
    assert r.status_code == 200, r.text
    everyone = {p["id"]: p for p in r.json()}
    assert everyone[vol.person] == {
        "id": vol.person,
        "name": "小王",
        "role": "volunteer",
        "devices": 1,
    }
    assert other in everyone
    assert all(set(p) == {"id", "name", "role", "devices"} for p in everyone.values())

    r = client.post("/api/v1/login", json={"login": "office-a", "password": PASSWORD})
    assert r.status_code == 200, r.text
    mine = {p["id"] for p in client.get("/api/v1/people").json()}
    assert vol.person in mine and other not in mine


def test_people_is_for_coordinators_only(client: TestClient) -> None:
    vol = enroll(client, client.db_path)  # type: ignore[attr-defined]
    r = client.get("/api/v1/people", headers=vol.headers)
    assert r.status_code == 403 and r.json()["error"] == "not_coordinator"
