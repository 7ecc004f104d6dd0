"""``GET /api/v1/snapshot`` (#12): a coordinator's first load in one compact answer.

It must be exactly what paging ``POST /api/v1/sync`` from cursor 0 would deliver (the
same scope, the same winners), and a device that syncs on from its cursor and scope token
must get only what came after it — nothing twice, nothing missed, nothing evicted.
"""

import sqlite3
from contextlib import closing

import pytest
from test_access import enroll, put


def _flat(snap: dict) -> set[tuple]:
    return {
        (coll, rid, fld, repr(value), hlc)
        for coll, rid, fields in snap["records"]
        for fld, value, hlc in fields
    }


def _pull_all(phone, limit: int = 3) -> tuple[set[tuple], int]:
    got: set[tuple] = set()
    cursor, scope = 0, None
    for _ in range(1000):
        body = {"limit": limit, **({"scope": scope} if scope else {})}
        answer = phone.sync(cursor=cursor, **body).json()
        got |= {
            (c["coll"], c["id"], c["field"], repr(c["value"]), c["hlc"]) for c in answer["changes"]
        }
        cursor, scope = answer["cursor"], answer["scope"]
        if not answer["more"]:
            return got, cursor
    raise AssertionError("the pull never ended")


@pytest.fixture
def two_communities(client):
    db = client.db_path
    put(
        db,
        [
            ("buildings", "sb1", {"community": "sc1", "label": "1号楼"}),
            ("buildings", "sb2", {"community": "sc2", "label": "2号楼"}),
            ("households", "sh1", {"building": "sb1", "contact": "张建国", "room": "101"}),
            ("households", "sh2", {"building": "sb2", "contact": "李淑珍", "room": "102"}),
            ("incidents", "si1", {"community": "sc1", "title": "停暖", "buildings": ["sb1"]}),
            ("incidents", "si2", {"community": "sc2", "title": "停水", "buildings": ["sb2"]}),
        ],
    )
    coord = enroll(client, db, "coordinator")
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("UPDATE people SET community = 'sc1' WHERE id = ?", (coord.person,))
        conn.commit()
    return coord


@pytest.mark.sqlite_only(reason="its fixture writes the SQLite file with sqlite3")
def test_the_snapshot_is_what_paging_a_pull_from_zero_delivers(client, two_communities) -> None:
    coord = two_communities
    snap = client.get("/api/v1/snapshot", headers=coord.headers)
    assert snap.status_code == 200, snap.text
    assert snap.headers["cache-control"] == "no-store"
    body = snap.json()
    paged, cursor = _pull_all(coord)
    assert _flat(body) == paged
    assert body["cursor"] == cursor
    assert body["more"] is False
    # One entry per record, each field once.
    keys = [(c, i) for c, i, _ in body["records"]]
    assert len(keys) == len(set(keys))


@pytest.mark.sqlite_only(reason="its fixture writes the SQLite file with sqlite3")
def test_a_snapshot_holds_only_the_coordinators_community(client, two_communities) -> None:
    body = client.get("/api/v1/snapshot", headers=two_communities.headers).json()
    ids = {(c, i) for c, i, _ in body["records"]}
    assert {("households", "sh1"), ("incidents", "si1")} <= ids
    # Buildings and incidents are reference data every device reads; households are not.
    assert ("households", "sh2") not in ids


@pytest.mark.sqlite_only(reason="its fixture writes the SQLite file with sqlite3")
def test_syncing_on_from_a_snapshot_pulls_only_what_came_after(client, two_communities) -> None:
    coord = two_communities
    body = client.get("/api/v1/snapshot", headers=coord.headers).json()
    answer = coord.sync(cursor=body["cursor"], scope=body["scope"]).json()
    assert (answer["changes"], answer["evict"], answer["more"]) == ([], [], False)
    put(client.db_path, [("households", "sh1", {"contact": "张建华"})])
    answer = coord.sync(cursor=body["cursor"], scope=body["scope"]).json()
    got = [(c["coll"], c["id"], c["field"], c["value"]) for c in answer["changes"]]
    assert got == [("households", "sh1", "contact", "张建华")]
    assert answer["evict"] == []


@pytest.mark.sqlite_only(reason="its fixture writes the SQLite file with sqlite3")
def test_the_incidents_alone_come_first_and_are_no_place_to_sync_from(
    client, two_communities
) -> None:
    coord = two_communities
    whole = client.get("/api/v1/snapshot", headers=coord.headers).json()
    head = client.get("/api/v1/snapshot?coll=incidents", headers=coord.headers)
    assert head.status_code == 200, head.text
    body = head.json()
    # Exactly the incidents of the whole snapshot, field for field, stamps included.
    assert body["records"] == [r for r in whole["records"] if r[0] == "incidents"]
    assert body["records"] and {c for c, _, _ in body["records"]} == {"incidents"}
    # Cursor 0: a device that took it for a cursor would only pull everything again.
    assert (body["cursor"], body["more"], body["scope"]) == (0, False, whole["scope"])
    # Only the incidents may be asked for alone.
    bad = client.get("/api/v1/snapshot?coll=households", headers=coord.headers)
    assert bad.status_code == 400, bad.text
    assert "coll" in bad.text


@pytest.mark.sqlite_only(reason="its fixture writes the SQLite file with sqlite3")
def test_volunteers_get_no_snapshot(client, two_communities) -> None:
    vol = enroll(client, client.db_path)
    for path in ("/api/v1/snapshot", "/api/v1/snapshot?coll=incidents"):
        r = client.get(path, headers=vol.headers)
        assert (r.status_code, r.json()["error"]) == (403, "not_coordinator")
