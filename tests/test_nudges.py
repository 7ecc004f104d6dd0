"""Live while online (#11): a phone's nudge stream says only "something you may read
changed", and only for another device's write in its scope."""

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, Phone, Stamper, put_record, run_async
from httpx_sse import connect_sse
from test_streams import READ, Stream, sse

from server.access import Scope
from server.db import Database, changes, scopes
from server.live.broker import NUDGE, VOL, Broker

A, B, C = "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb", "cccccccccccccccc"
T = "2026-11-22T22:{:02d}:00.000Z-0000-{}"


def row(n: int, node: str, coll: str, rid: str, field: str, value: object) -> tuple:
    return (T.format(n, node), coll, rid, field, json.dumps(value), node, None, "x")


@pytest.mark.sqlite_only(reason="opens a SQLite Database itself")
def test_nudges_reach_only_phones_that_may_read_another_devices_write(tmp_path: Path) -> None:
    async def main() -> list[int]:
        async with Database(str(tmp_path / "n.db")) as db:
            await db.write_tx(
                lambda conn: changes.apply_in(
                    conn,
                    [
                        row(0, C, "households", "h402", "building", "b3"),
                        row(1, C, "households", "h999", "building", "b9"),
                    ],
                ),
                appends=True,
            )
            broker = Broker(db)
            broker.row_filter = partial(scopes.visible_rows, db)
            broker.last = 2
            mine = Scope(
                "p-a",
                "volunteer",
                frozenset({"b3"}),
                frozenset({"h402"}),
                frozenset(),
                token="t-b3",
            )
            topic = VOL + "t-b3"
            broker._scopes[topic] = mine
            phone_a = broker.subscribe(topic, A)
            phone_b = broker.subscribe(topic, B)
            counts = []
            # A writes on 402: B is nudged, A is not (it has its own entry).
            await db.write_tx(
                lambda conn: changes.apply_in(
                    conn, [row(2, A, "visits", "v1", "household", "h402")]
                ),
                appends=True,
            )
            await broker.step()
            counts.append((len(phone_a.buf), len(phone_b.buf)))
            # Someone writes on a household outside the scope: nobody is nudged.
            await db.write_tx(
                lambda conn: changes.apply_in(
                    conn, [row(3, C, "visits", "v2", "household", "h999")]
                ),
                appends=True,
            )
            await broker.step()
            counts.append((len(phone_a.buf), len(phone_b.buf)))
            # The nudge is the fixed frame: no record, id or count.
            assert {raw for _, raw, _ in phone_b.buf} == {NUDGE}
            return counts

    assert run_async(main()) == [(0, 1), (0, 1)]


def test_a_phone_is_nudged_over_http_when_another_volunteer_records_a_door(
    live_server: LiveServer,
) -> None:
    from test_pwa_e2e import assign_to_heating_incident, heating_incident

    a, b = live_server.enroll(name="志愿者甲"), live_server.enroll(name="志愿者乙")
    for v in (a, b):
        assign_to_heating_incident(live_server, v.person)
    [(buildings,)] = live_server.query(
        "SELECT value FROM winners WHERE coll = 'incidents' AND id = ? AND field = 'buildings'",
        (heating_incident(live_server),),
    )
    [(hid,)] = live_server.query(
        "SELECT id FROM winners WHERE coll = 'households' AND field = 'building' "
        "AND value = ? LIMIT 1",
        (json.dumps(json.loads(buildings)[0]),),
    )
    with (
        httpx.Client(base_url=live_server.url, timeout=READ) as client,
        connect_sse(client, "GET", "/api/v1/nudges", headers=a.headers) as source,
    ):
        assert source.response.status_code == 200
        assert "gzip" not in source.response.headers.get("content-encoding", "")
        stream = Stream(source.iter_sse(), source.response)
        first = stream.next()
        if first.retry is not None and not first.data:  # the stream's retry hint first
            first = stream.next()
        assert (first.event, first.data) == ("changed", "{}")  # sync once on connect
        stamp = Stamper(b.node)
        r = b.sync(
            [
                {
                    "coll": "visits",
                    "id": "0193a1c2-0000-7000-8000-00000000b402",
                    "field": "household",
                    "value": hid,
                    "hlc": stamp(),
                }
            ]
        )
        assert r.status_code == 200 and r.json()["rejected"] == []
        ev = stream.next()
        assert (ev.event, ev.data) == ("changed", "{}")
    r = httpx.get(f"{live_server.url}/api/v1/nudges", timeout=5)
    assert r.status_code == 401 and r.json()["error"]


@pytest.fixture(scope="module")
def small_world(
    tmp_path_factory: pytest.TempPathFactory, backend: str
) -> Iterator[tuple[LiveServer, dict]]:
    """One server for the tests below: an incident over one building of three households,
    a coordinator, and a volunteer assigned to the incident who writes."""
    server = LiveServer(str(tmp_path_factory.mktemp("nudges") / "n.db")).start()
    try:
        boss = server.enroll("coordinator", "街道办")
        stamp = Stamper(boss.node)
        building = put_record(boss, stamp, "buildings", community="c-n", label="5号楼")
        homes = [put_record(boss, stamp, "households", building=building) for _ in range(3)]
        incident = put_record(
            boss, stamp, "incidents", community="c-n", kind="heating_outage",
            title="5号楼停暖", status="responding", buildings=[building],
        )  # fmt: skip
        writer = server.enroll("volunteer", "志愿者乙")
        _assign(boss, stamp, writer.person, incident, True)
        yield server, {"boss": boss, "stamp": stamp, "homes": homes, "incident": incident,
                       "writer": writer}  # fmt: skip
    finally:
        server.stop()


def _assign(boss: Phone, stamp: Stamper, person: str, incident: str, active: bool) -> None:
    put_record(
        boss, stamp, "assignments", f"{person}~{incident}", person=person, incident=incident,
        active=active,
    )  # fmt: skip


def _visit(world: dict, home: str) -> str:
    writer = world["writer"]
    return put_record(
        writer, Stamper(writer.node), "visits", household=home, incident=world["incident"],
        outcome="reached",
    )  # fmt: skip


def _events_until_changed(stream: Stream) -> list[str]:
    """The kinds of events up to and including the next ``changed`` nudge."""
    kinds: list[str] = []
    while not kinds or kinds[-1] != "changed":
        ev = stream.next()
        if ev.event != "message" or ev.data:
            kinds.append(ev.event)
    return kinds


def test_a_volunteers_nudge_stream_carries_no_progress_frames(small_world) -> None:
    server, world = small_world
    phone = server.enroll("volunteer", "志愿者甲")
    _assign(world["boss"], world["stamp"], phone.person, world["incident"], True)
    with (
        sse(server, "/api/v1/events", world["boss"].headers) as coord,
        sse(server, "/api/v1/nudges", phone.headers) as nudges,
    ):
        assert coord.next().retry  # the stream's first frame: it is subscribed
        assert _events_until_changed(nudges) == ["changed"]  # sync once on connect
        first = _visit(world, world["homes"][0])
        coord.until("change", lambda d: first in {c["id"] for c in d["changes"]})
        # The progress the visit changed reaches coordinators ...
        coord.until("progress", lambda d: d["progress"]["reached"] >= 1)
        _visit(world, world["homes"][1])
        # ... and the volunteer's stream has only the nudges of both visits.
        assert _events_until_changed(nudges) + _events_until_changed(nudges) == [
            "changed",
            "changed",
        ]


def test_an_unassigned_volunteers_nudge_stream_ends(small_world) -> None:
    server, world = small_world
    phone = server.enroll("volunteer", "志愿者丙")
    _assign(world["boss"], world["stamp"], phone.person, world["incident"], True)
    with sse(server, "/api/v1/nudges", phone.headers) as nudges:
        assert _events_until_changed(nudges) == ["changed"]
        _assign(world["boss"], world["stamp"], phone.person, world["incident"], False)
        _visit(world, world["homes"][2])  # no longer theirs: no nudge
        # The server ends the stream: no nudge, for the assignment or the visit.
        after = next(nudges._events, None)
    assert after is None, f"the stream stayed open and sent {after.event!r}"
