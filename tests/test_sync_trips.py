"""A sync request's database work (#10): few trips to the database thread, the scope
computed once and recomputed exactly when a write changes it; and paging that never
skips or repeats a change with writers on two app servers, on both backends (#14).

A trip is one function sent to a connection's thread (``server.db.sqlite.engine._Worker.run``):
``read_tx`` and ``write_tx`` run a whole transaction as one. Counted, not timed.
"""

import functools
import json
import random
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, Phone, Stamper, db_for, drop_database, run_async

from server.db import Database, changes, devices, scopes
from server.db.devices import Device
from server.db.sqlite.engine import _Worker
from server.guards import caller
from server.ops.admin import create_invite
from server.syncing import round_trip
from sync import clock
from sync.ids import uuid7

NOW_MS = 1_764_000_000_000
AT = "2026-11-24T16:00:00.000Z"


def in_loop(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test body in its own event loop (its own thread: a browser test
    earlier in the run leaves Playwright's loop running in the main thread)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        run_async(fn(*args, **kwargs))

    return run


class Trips:
    """Counts the functions sent to every SQLite connection's thread."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = _Worker.run

        async def counted(worker: _Worker, fn):  # type: ignore[no-untyped-def]
            self.count += 1
            return await real(worker, fn)

        monkeypatch.setattr(_Worker, "run", counted)


async def _world(db: Database, path: str) -> tuple[str, Device, dict[str, list[str]]]:
    """Two buildings of four households, and one enrolled volunteer (token, device)."""
    homes: dict[str, list[str]] = {}
    recs: list[tuple[str, str, dict[str, object]]] = []
    for label in ("1号楼", "2号楼"):
        b = uuid7()
        homes[b] = [uuid7() for _ in range(4)]
        recs.append(("buildings", b, {"label": label, "compound": "测试院", "units": 1}))
        recs += [("households", h, {"building": b, "room": "101"}) for h in homes[b]]
    await changes.write_records(db, recs)
    code, _ = create_invite(path, "volunteer", name="志愿者")
    result = await devices.enroll(db, code, "test", AT)
    assert not isinstance(result, str)
    token, device = result
    return token, device, homes


async def _assign(db: Database, device: Device, building: str, active: bool) -> None:
    rid = f"{device.person}~{building}"
    await changes.write_records(
        db,
        [("assignments", rid, {"person": device.person, "building": building, "active": active})],
    )


def _body(device: Device, cursor: int, changes_: list[dict], scope: str | None = None) -> bytes:
    req: dict[str, object] = {"node": device.node, "cursor": cursor, "changes": changes_}
    if scope is not None:
        req["scope"] = scope
    req["pending"] = len(changes_)
    return json.dumps(req, ensure_ascii=False).encode()


def _visit(
    device: Device, household: str, stamp: clock.Timestamp
) -> tuple[list[dict], clock.Timestamp]:
    vid, out = uuid7(), []
    for field, value in (("household", household), ("outcome", "reached"), ("note", "独居")):
        stamp = clock.send(stamp, NOW_MS)
        out.append(
            {
                "coll": "visits",
                "id": vid,
                "field": field,
                "value": value,
                "hlc": clock.format_stamp(stamp),
            }
        )
    return out, stamp


@pytest.mark.sqlite_only(reason="counts the trips to SQLite's threads")
@in_loop
async def test_a_volunteer_sync_takes_at_most_four_database_trips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "trips.db")
    async with Database(path) as db:
        token, device, homes = await _world(db, path)
        first, second = list(homes)
        await _assign(db, device, first, True)
        stamp = clock.initial(device.node)
        trips = Trips(monkeypatch)
        for round_ in range(3):  # a cold scope cache, then warm ones
            batch, stamp = _visit(device, homes[first][round_], stamp)
            trips.count = 0
            who = await caller._bearer(db, f"Bearer {token}")
            answer = await round_trip.run(db, who, _body(device, 0, batch))
            assert trips.count <= 4, f"sync {round_} took {trips.count} trips"
            assert answer.accepted == 3 and not answer.rejected
        # What it pulled is its scope: the households of its building, none of the other.
        pulled = {c.id for c in answer.changes if c.coll == "households"}
        assert pulled == set(homes[first])
        assert not pulled & set(homes[second])


@pytest.mark.sqlite_only(reason="counts the trips to SQLite's threads")
@in_loop
async def test_a_reassigned_volunteers_next_pull_follows_the_new_scope(tmp_path: Path) -> None:
    path = str(tmp_path / "reassign.db")
    async with Database(path) as db:
        _, device, homes = await _world(db, path)
        first, second = list(homes)
        await _assign(db, device, first, True)
        answer = await round_trip.run(db, device, _body(device, 0, []))
        assert {c.id for c in answer.changes if c.coll == "households"} == set(homes[first])
        held, cursor = answer.scope, answer.cursor
        # The coordinator moves the volunteer to the other building mid-session.
        await _assign(db, device, first, False)
        await _assign(db, device, second, True)
        answer = await round_trip.run(db, device, _body(device, cursor, [], scope=held))
        assert answer.scope != held
        assert {r.id for r in answer.evict if r.coll == "households"} == set(homes[first])
        # Its scope grew: it pulls again from the start and gets the new building's homes.
        answer = await round_trip.run(db, device, _body(device, 0, [], scope=answer.scope))
        assert {c.id for c in answer.changes if c.coll == "households"} == set(homes[second])


@pytest.mark.sqlite_only(reason="counts the trips to SQLite's threads")
@in_loop
async def test_the_scope_is_computed_once_until_a_write_changes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "cache.db")
    computed: list[str] = []
    real = scopes.compute_scope

    def spy(conn, person: str, role: str):  # type: ignore[no-untyped-def]
        computed.append(person)
        return real(conn, person, role)

    monkeypatch.setattr(scopes, "compute_scope", spy)
    async with Database(path) as db:
        _, device, homes = await _world(db, path)
        first, second = list(homes)
        await _assign(db, device, first, True)
        stamp = clock.initial(device.node)
        for i in range(3):
            batch, stamp = _visit(device, homes[first][i], stamp)
            await round_trip.run(db, device, _body(device, 0, batch))
        assert computed == [device.person]  # visits do not move the scope sequence
        await _assign(db, device, second, True)
        answer = await round_trip.run(db, device, _body(device, 0, []))
        assert computed == [device.person] * 2
        households = {c.id for c in answer.changes if c.coll == "households"}
        assert households == set(homes[first]) | set(homes[second])


# -- paging under concurrent writers on two app servers (#14) -------------------------------

WRITERS = 4
ROUNDS = 20


def test_pages_pulled_from_two_servers_under_concurrent_writers_never_skip_or_repeat(
    tmp_path: Path, backend: str
) -> None:
    """Two app servers over one database; four phones write at once through both while a
    coordinator pulls pages of 5 from one server, then the other. Every accepted change
    is pulled exactly once: a page that skipped one (a later seq committed first and the
    cursor moved past it) or repeated one fails here. On PostgreSQL this is the ordering
    lock at work (docs/postgresql.md, "Ordering"); on SQLite, BEGIN IMMEDIATE."""
    db = db_for(str(tmp_path / "paging.db"))
    servers = [LiveServer(db).start()]
    try:
        servers.append(LiveServer(db).start())
        writers = [servers[i % 2].enroll("volunteer", f"写入{i}") for i in range(WRITERS)]
        reader = servers[0].enroll("coordinator", "读者")
        readers = [
            reader,
            Phone(httpx.Client(base_url=servers[1].url, timeout=30), *_who(reader)),
        ]
        written: list[str] = []
        lock = threading.Lock()
        rng = random.Random(14)
        sizes = [[rng.randint(1, 5) for _ in range(ROUNDS)] for _ in writers]

        def write(phone: Phone, plan: list[int]) -> None:
            stamp = Stamper(phone.node)
            for n in plan:
                batch = [
                    {
                        "coll": "visits",
                        "id": uuid7(),
                        "field": "outcome",
                        "value": "reached",
                        "hlc": stamp(),
                    }
                    for _ in range(n)
                ]
                r = phone.sync(batch, limit=1)
                assert r.status_code == 200 and r.json()["rejected"] == [], r.text
                with lock:
                    written.extend(c["hlc"] for c in batch)

        threads = [
            threading.Thread(target=write, args=(p, plan), daemon=True)
            for p, plan in zip(writers, sizes, strict=True)
        ]
        for t in threads:
            t.start()
        pulled: list[str] = []
        cursor, pages, during, done = 0, 0, 0, False
        while True:
            finished = done  # every write had returned before this pull began
            during += not done
            r = readers[pages % 2].sync([], cursor=cursor, limit=5)
            assert r.status_code == 200, r.text
            answer = r.json()
            pages += 1
            pulled += [c["hlc"] for c in answer["changes"] if c["coll"] == "visits"]
            assert answer["cursor"] >= cursor
            cursor = answer["cursor"]
            if finished and not answer["more"]:
                break
            done = not any(t.is_alive() for t in threads)
        for t in threads:
            t.join()
        assert len(written) == sum(map(sum, sizes))
        assert len(pulled) == len(set(pulled)), "a change was pulled twice"
        assert sorted(pulled) == sorted(written), "a change was skipped"
        assert during > 1  # the pulls really interleaved with the writes
    finally:
        for s in servers:
            s.stop()
        drop_database(db)


def _who(phone: Phone) -> tuple[str, str, str, str]:
    return phone.token, phone.node, phone.person, phone.role
