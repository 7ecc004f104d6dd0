"""The sync round trip over HTTP: idempotence, per-change judgement, clocks, nodes, paging."""

import pytest
from conftest import Phone, Stamper, enroll

from sync.ids import uuid7


def visit(phone: Phone, stamp: Stamper, outcome: str = "reached", vid: str | None = None) -> dict:
    return {
        "coll": "visits",
        "id": vid or uuid7(),
        "field": "outcome",
        "value": outcome,
        "hlc": stamp(),
    }


def pull_all(phone: Phone) -> list[dict]:
    out, cursor = [], 0
    while True:
        d = phone.sync(cursor=cursor).json()
        out.extend(d["changes"])
        cursor = d["cursor"]
        if not d["more"]:
            return out


def test_sync_answer_carries_counts_cursor_and_server_time(phone: Phone) -> None:
    r = phone.sync([visit(phone, Stamper(phone.node))])
    assert r.status_code == 200
    d = r.json()
    assert d["accepted"] == 1 and d["rejected"] == [] and d["more"] is False
    assert d["cursor"] >= 1
    assert d["server_time"].endswith("Z") and len(d["server_time"]) == 24


def test_resending_the_same_push_changes_nothing(client, phone: Phone) -> None:
    s = Stamper(phone.node)
    batch = [visit(phone, s) for _ in range(20)]
    first = phone.sync(batch).json()
    other = enroll(client, client.db_path)
    before = pull_all(other)
    for _ in range(3):
        again = phone.sync(batch).json()
        assert again["accepted"] == 20 and again["rejected"] == []
    assert pull_all(other) == before
    assert first["cursor"] == phone.sync(batch).json()["cursor"]  # no new sequence numbers


def test_bad_change_is_rejected_with_a_reason_and_the_rest_applied(client, phone: Phone) -> None:
    s = Stamper(phone.node)
    good1, good2 = visit(phone, s), visit(phone, s)
    bad = visit(phone, s, outcome="maybe")
    d = phone.sync([good1, bad, good2]).json()
    assert d["accepted"] == 2
    assert d["rejected"] == [
        {
            "hlc": bad["hlc"],
            "index": 1,
            "error": "invalid_value",
            "message": "visits.outcome: Invalid enum value 'maybe'",
        }
    ]
    got = {
        c["id"]
        for c in pull_all(enroll(client, client.db_path, "coordinator"))
        if c["coll"] == "visits"
    }
    assert got == {good1["id"], good2["id"]}


@pytest.mark.sqlite_only(reason="reads the SQLite file with sqlite3")
def test_rejected_change_is_quarantined_once_with_its_reason(client, phone: Phone) -> None:
    bad = visit(phone, Stamper(phone.node), outcome="maybe")
    phone.sync([bad])
    phone.sync([bad])
    import sqlite3

    rows = (
        sqlite3.connect(client.db_path)
        .execute("SELECT hlc, node, error, raw FROM quarantine")
        .fetchall()
    )
    assert len(rows) == 1
    assert rows[0][:3] == (bad["hlc"], phone.node, "invalid_value")
    assert '"maybe"' in rows[0][3]


def test_change_an_hour_or_a_year_ahead_is_clock_ahead_and_others_keep_syncing(client) -> None:
    fast = enroll(client, client.db_path)
    slow = enroll(client, client.db_path)
    for ahead in (3_600_000, 365 * 86_400_000):
        bad = visit(fast, Stamper(fast.node, offset_ms=ahead))
        d = fast.sync([bad]).json()
        assert [r["error"] for r in d["rejected"]] == ["clock_ahead"]
        ok = visit(slow, Stamper(slow.node))
        d2 = slow.sync([ok]).json()
        assert d2["accepted"] == 1 and d2["rejected"] == []
    # The fast phone re-stamps with the corrected clock and gets through.
    assert fast.sync([visit(fast, Stamper(fast.node))]).json()["accepted"] == 1


def test_change_stamped_with_another_devices_node_is_rejected(client) -> None:
    a, b = enroll(client, client.db_path), enroll(client, client.db_path)
    d = a.sync([visit(a, Stamper(b.node))]).json()
    assert [r["error"] for r in d["rejected"]] == ["wrong_node"]


def test_request_for_another_node_than_the_token_is_refused(client) -> None:
    a, b = enroll(client, client.db_path), enroll(client, client.db_path)
    r = client.post(
        "/api/v1/sync", json={"node": b.node, "cursor": 0, "changes": []}, headers=a.headers
    )
    assert r.status_code == 403 and r.json()["error"] == "wrong_node"


def test_newest_stamp_wins_whatever_the_arrival_order(client) -> None:
    a, b = (
        enroll(client, client.db_path, "coordinator"),
        enroll(client, client.db_path, "coordinator"),
    )
    hid = "inc~hh"
    sa, sb = Stamper(a.node), Stamper(b.node, offset_ms=1000)
    newer = {
        "coll": "household_status",
        "id": hid,
        "field": "needs_open",
        "value": ["heater"],
        "hlc": sb(),
    }
    older = {"coll": "household_status", "id": hid, "field": "needs_open", "value": [], "hlc": sa()}
    b.sync([newer])
    a.sync([older])  # arrives later, but is older: accepted, not applied
    reader = enroll(client, client.db_path, "coordinator")
    got = [c for c in pull_all(reader) if c["id"] == hid]
    assert got == [newer]


def test_paging_never_skips_or_repeats_even_while_others_write(client) -> None:
    writer, reader = enroll(client, client.db_path), enroll(client, client.db_path, "coordinator")
    s = Stamper(writer.node)
    writer.sync([visit(writer, s) for _ in range(250)])
    seen: list[dict] = []
    cursor, pages = 0, 0
    while True:
        d = reader.sync(cursor=cursor, limit=40).json()
        seen.extend(d["changes"])
        cursor = d["cursor"]
        pages += 1
        if pages in (2, 4):  # another device commits while this one is paging
            writer.sync([visit(writer, s) for _ in range(30)])
        if not d["more"]:
            break
    stamps = [c["hlc"] for c in seen]
    assert len(stamps) == len(set(stamps)) == 310
    assert pages > 5
    assert reader.sync(cursor=cursor).json()["changes"] == []


def test_a_device_does_not_pull_back_its_own_changes(phone: Phone) -> None:
    d = phone.sync([visit(phone, Stamper(phone.node))]).json()
    assert d["changes"] == []


def test_enrolment_answer_names_the_person(client) -> None:
    from conftest import invite

    code = invite(client.db_path, "volunteer", "王秀英")["code"]
    d = client.post("/api/v1/enroll", json={"code": code, "device": "t"}).json()
    assert d["name"] == "王秀英" and d["role"] == "volunteer"


def test_enrolment_binds_a_fresh_node_and_role(client) -> None:
    a = enroll(client, client.db_path, role="coordinator")
    b = enroll(client, client.db_path)
    assert a.role == "coordinator" and b.role == "volunteer"
    assert a.node != b.node and len(a.node) == 16 and int(a.node, 16) >= 0
