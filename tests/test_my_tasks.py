"""我的任务 (issue 19, part 3): a need given to a volunteer from the needs queue reaches
that volunteer's phone, and only theirs; the volunteer closes it with a note."""

from typing import Any

import pytest
from conftest import Stamper
from litestar.testing import TestClient
from test_access import Device, enroll, put

from server.access import Facts, Scope, may_write
from sync.validate import ForbiddenError


def _write(device: Device, stamp: Stamper, records: list[tuple[str, str, dict[str, Any]]]):
    changes = [
        {"coll": coll, "id": rid, "field": f, "value": v, "hlc": stamp()}
        for coll, rid, fields in records
        for f, v in fields.items()
    ]
    return device.sync(changes)


def test_a_need_assigned_from_the_queue_reaches_only_its_volunteer(client: TestClient) -> None:
    db = client.db_path  # type: ignore[attr-defined]
    put(
        db,
        [
            ("buildings", "tb1", {"label": "3号楼"}),
            ("households", "th1", {"building": "tb1", "unit": "2", "room": "401"}),
            ("households", "th2", {"building": "tb1", "unit": "2", "room": "402"}),
            ("incidents", "ti1", {"title": "停暖", "buildings": ["tb1"]}),
        ],
    )
    coord = Device(enroll(client, db, "coordinator"))
    zhang, li = Device(enroll(client, db)), Device(enroll(client, db))
    cs = Stamper(coord.phone.node)
    assert (
        _write(
            coord,
            cs,
            [
                (
                    "household_status",
                    "ti1~th1",
                    {
                        "needs_open": ["heater"],
                        "assignee": zhang.phone.person,
                        "assigned_at": "2026-12-07T16:49:00.000Z",
                        "task_note": "老人独居，先打电话",
                    },
                ),
                (
                    "assignments",
                    f"{zhang.phone.person}~th1",
                    {"person": zhang.phone.person, "household": "th1"},
                ),
            ],
        )
        == []
    )

    zhang.sync()
    li.sync()
    assert set(zhang.records("households")) == {"th1"}
    assert zhang.records("household_status")["ti1~th1"]["task_note"] == "老人独居，先打电话"
    assert li.records("households") == {} and li.records("household_status") == {}

    # Done on the phone, with a note: accepted, and the console's replica gets it.
    zs = Stamper(zhang.phone.node)
    done = {
        "needs_open": [],
        "done_note": "已送电暖气",
        "done_by": "张三",
        "done_at": "2026-12-07T17:20:00.000Z",
    }
    assert _write(zhang, zs, [("household_status", "ti1~th1", done)]) == []
    coord.sync()
    assert (
        coord.records("household_status")["ti1~th1"] | done
        == coord.records("household_status")["ti1~th1"]
    )
    # The neighbour's door is not his to write.
    refused = _write(zhang, zs, [("household_status", "ti1~th2", {"needs_open": []})])
    assert [r["error"] for r in refused] == ["forbidden"]

    # Taken back: the household leaves his phone.
    assert (
        _write(coord, cs, [("assignments", f"{zhang.phone.person}~th1", {"household": None})]) == []
    )
    zhang.sync()
    assert zhang.records("households") == {} and zhang.records("household_status") == {}


@pytest.mark.parametrize(
    ("rid", "value", "ok"),
    [("p~h1", "h1", True), ("p~h9", "h9", False), ("p~h1", "h2", False)],
)
def test_a_community_coordinator_gives_only_its_own_households(rid, value, ok) -> None:
    scope = Scope("c", "coordinator", frozenset({"b1"}), frozenset({"h1"}), frozenset(), "cc")
    if ok:
        may_write(scope, "assignments", rid, "household", value, Facts())
    else:
        with pytest.raises(ForbiddenError):
            may_write(scope, "assignments", rid, "household", value, Facts())
