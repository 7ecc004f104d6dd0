"""A volunteer unassigned and assigned again gets its own records back (#9, hole 8).

Unassigning evicts the building's households and visits from the phone — including
those it recorded itself. When the building comes back the phone re-pulls from 0; its own
winners must be in that re-pull, or the households it visited show as unvisited forever.
Against a real server process; the phone is played by the test, as the PWA does it.
"""

import pytest
from conftest import LiveServer, Phone, Stamper, put_record

from server.ops.access_commands import assign


def _pull_all(phone: Phone, cursor: int, token: str | None) -> tuple[list[dict], list, int, str]:
    """Every page of one pull: (changes, evictions, cursor, scope token)."""
    got: list[dict] = []
    evict: list = []
    while True:
        r = phone.sync([], cursor=cursor, scope=token)
        assert r.status_code == 200, r.text
        body = r.json()
        got += body["changes"]
        evict += body["evict"]
        cursor, token = body["cursor"], body["scope"]
        if not body["more"]:
            return got, evict, cursor, token


@pytest.fixture(scope="module")
def live_server(module_live_server: LiveServer) -> LiveServer:
    """One demo server for the module: each test uses its own devices and records."""
    return module_live_server


def test_reassigned_volunteer_gets_its_own_visit_back(live_server: LiveServer) -> None:
    hid, building = live_server.query(
        "SELECT id, json_extract(value, '$') FROM winners WHERE coll = 'households' "
        "AND field = 'building' ORDER BY id LIMIT 1"
    )[0]
    phone = live_server.enroll("volunteer", "小李")
    assign(live_server.db_path, phone.person, building=building)
    _, _, cursor, token = _pull_all(phone, 0, None)

    stamp = Stamper(phone.node)
    visit = put_record(phone, stamp, "visits", household=hid, outcome="reached")
    _, _, cursor, token = _pull_all(phone, cursor, token)

    assign(live_server.db_path, phone.person, building=building, active=False)
    _, evict, cursor, token = _pull_all(phone, cursor, token)
    assert {"coll": "visits", "id": visit} in evict  # the phone deletes it

    assign(live_server.db_path, phone.person, building=building)
    back, _, _, _ = _pull_all(phone, cursor, token)
    fields = {c["field"]: c["value"] for c in back if c["id"] == visit}
    assert fields == {"household": hid, "outcome": "reached"}


def test_own_changes_are_not_sent_back_in_steady_state(live_server: LiveServer) -> None:
    hid, building = live_server.query(
        "SELECT id, json_extract(value, '$') FROM winners WHERE coll = 'households' "
        "AND field = 'building' ORDER BY id LIMIT 1"
    )[0]
    phone = live_server.enroll("volunteer", "小张")
    assign(live_server.db_path, phone.person, building=building)
    _, _, cursor, token = _pull_all(phone, 0, None)
    visit = put_record(phone, Stamper(phone.node), "visits", household=hid, outcome="reached")
    got, _, _, _ = _pull_all(phone, cursor, token)
    assert visit not in {c["id"] for c in got}
