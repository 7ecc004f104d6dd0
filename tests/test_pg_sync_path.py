"""The sync path on PostgreSQL gives SQLite's answers (issue 14): scopes, pulls page by
page, evictions, the reference data, the visibility of live rows, the SQL fragments other
modules embed, and a whole sync (``syncs.exchange``) with its winners, history and
quarantine. Since #21 the scope code (``server.db.scopes``) is one code on both engines:
the same question, asked of both, must get the same answer.

Differential: the demo community in a SQLite file and its PostgreSQL copy
(``demo_twins``), the same people and assignments written into both, then the same public
function called on both with the same arguments; the answers must be equal.
"""

import hashlib
import json
import sqlite3
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from conftest import run_async

from server.access import Scope
from server.db import changes, scopes
from server.db.changes import Incoming
from server.db.devices import Device
from server.db.postgresql.core import PgDatabase
from server.db.sqlite.engine import BaseDatabase, Database
from server.syncing import round_trip
from sync import clock
from sync.ids import uuid7

AT = "2026-11-30T08:00:00.000Z"
NODE = "7e57000000000001"  # the test's own writes (assignments)
T0 = 1_764_000_000_000
FIXED = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # the server's writes in the tests

ALL = "p-coord-all"  # a coordinator of every community
NOWHERE = "p-coord-nowhere"  # a coordinator of a community with nothing in it
VOL_NONE = "p-vol-none"  # a volunteer without an assignment
VOL_BUILDING = "p-vol-building"
VOL_INCIDENT = "p-vol-incident"
VOL_INACTIVE = "p-vol-inactive"  # assigned, then the assignment made inactive


class Demo:
    """What the test reads from the demo (the same in both databases)."""

    def __init__(self, path: str) -> None:
        conn = sqlite3.connect(path)
        try:
            self.communities = [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT id FROM winners WHERE coll = 'communities' ORDER BY id"
                )
            ]
            self.incidents = [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT id FROM winners WHERE coll = 'incidents' ORDER BY id"
                )
            ]
            # Buildings with visited households first: their scopes hold visits.
            self.buildings = [
                r[0]
                for r in conn.execute(
                    "SELECT json_extract(h.value, '$') FROM winners v JOIN winners h "
                    "ON h.coll = 'households' AND h.field = 'building' "
                    "AND h.id = json_extract(v.value, '$') "
                    "WHERE v.coll = 'visits' AND v.field = 'household' "
                    "GROUP BY 1 ORDER BY count(*) DESC, 1"
                )
            ]
        finally:
            conn.close()


def _stamp(n: int, node: str = NODE) -> str:
    return clock.format_stamp(clock.Timestamp(T0 + n, 0, node))


class Writer:
    """The test's own changes, with stamps that increase in the order written."""

    def __init__(self, node: str = NODE) -> None:
        self.node, self.n = node, 0

    def rows(self, coll: str, rid: str, fields: dict[str, Any]) -> list[Incoming]:
        out: list[Incoming] = []
        for field, value in fields.items():
            self.n += 1
            text = msgspec.json.encode(value).decode()
            out.append((_stamp(self.n, self.node), coll, rid, field, text, self.node, None, AT))
        return out


def _assignment(person: str, target: str, *, incident: bool = False, active: bool = True) -> Any:
    fields: dict[str, Any] = {"person": person, ("incident" if incident else "building"): target}
    fields["active"] = active
    return ("assignments", f"{person}~{target}", fields)


def _people(demo: Demo) -> list[tuple[str, str, str | None]]:
    """(id, role, community) of every person the tests ask about."""
    out: list[tuple[str, str, str | None]] = [
        (ALL, "coordinator", None),
        (NOWHERE, "coordinator", "no-such-community"),
        (VOL_NONE, "volunteer", None),
        (VOL_BUILDING, "volunteer", None),
        (VOL_INCIDENT, "volunteer", None),
        (VOL_INACTIVE, "volunteer", None),
    ]
    out += [(f"p-coord-{i}", "coordinator", c) for i, c in enumerate(demo.communities)]
    return out


def device_of(person: str, role: str) -> Device:
    node = hashlib.sha256(person.encode()).hexdigest()[:16]
    return Device(node=node, person=person, role=role, revoked=False)


async def _setup(db: BaseDatabase, demo: Demo) -> None:
    """The same people, devices and assignments in either database."""
    people = _people(demo)

    def run(conn: Any) -> None:
        conn.executemany(
            "INSERT INTO people (id, name, role, created_at, community) VALUES (?, ?, ?, ?, ?)",
            [(pid, pid, role, AT, community) for pid, role, community in people],
        )
        conn.executemany(
            "INSERT INTO devices (node, person, role, created_at) VALUES (?, ?, ?, ?)",
            [(device_of(pid, role).node, pid, role, AT) for pid, role, _ in people],
        )

    await db.write_tx(run)
    w = Writer()
    rows: list[Incoming] = []
    for rec in (
        _assignment(VOL_BUILDING, demo.buildings[0]),
        _assignment(VOL_BUILDING, demo.buildings[1]),
        _assignment(VOL_INCIDENT, demo.incidents[0], incident=True),
        _assignment(VOL_INACTIVE, demo.buildings[2]),
    ):
        rows += w.rows(*rec)
    rows += w.rows(*_assignment(VOL_INACTIVE, demo.buildings[2], active=False))
    await db.write_tx(lambda conn: changes.apply_in(conn, rows), appends=True)


def _open(path: str, url: str) -> tuple[Database, PgDatabase]:
    return Database(path), PgDatabase(url)


def on_both(
    twins: tuple[str, str],
    body: Callable[[BaseDatabase, Demo], Awaitable[Any]],
    setup: bool = True,
) -> tuple[Any, Any]:
    """``body(db, demo)`` on the SQLite twin, then on the PostgreSQL twin."""
    path, url = twins
    demo = Demo(path)

    async def main() -> tuple[Any, Any]:
        out = []
        for db in _open(path, url):
            async with db:
                if setup:
                    await _setup(db, demo)
                out.append(await body(db, demo))
        return out[0], out[1]

    return run_async(main())


def _scope_tuple(s: Scope) -> tuple[Any, ...]:
    return (s.person, s.role, s.buildings, s.households, s.incidents, s.community, s.token)


def test_every_persons_scope_is_the_same_on_both(demo_twins: tuple[str, str]) -> None:
    async def body(db: BaseDatabase, demo: Demo) -> dict[str, Any]:
        out = {}
        for pid, role, _ in _people(demo):
            out[pid] = _scope_tuple(await scopes.load_scope(db, device_of(pid, role)))
            # Again, from the cache this time.
            assert _scope_tuple(await scopes.load_scope(db, device_of(pid, role))) == out[pid]
        for community in [*demo.communities, "no-such-community"]:
            out[community] = _scope_tuple(await scopes.community_scope(db, community))
        return out

    mine, theirs = on_both(demo_twins, body)
    assert mine == theirs
    # The scopes are the ones meant: not all empty, not all unlimited.
    assert mine[ALL][3] is None
    assert mine[VOL_BUILDING][3] and mine[VOL_INCIDENT][3] and mine[VOL_INCIDENT][4]
    assert mine[VOL_NONE][3] == frozenset() and mine[VOL_INACTIVE][3] == frozenset()
    assert mine[NOWHERE][3] == frozenset()
    assert mine["p-coord-0"][3] and mine["p-coord-0"][3] != mine["p-coord-1"][3]


async def _pull_all(
    db: BaseDatabase, device: Device, cursor: int, held: str | None, limit: int
) -> tuple[list[Any], int, str]:
    """Every page from ``cursor`` to the end: ([(rows, cursor, more, evict)], cursor, token)."""
    pages = []
    while True:
        rows, cursor, more, evict, held = await scopes.pull(db, device, cursor, limit, held, AT)
        pages.append(([tuple(r) for r in rows], cursor, more, sorted(evict)))
        if not more:
            return pages, cursor, held  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("person", "role", "limit"),
    [
        (VOL_BUILDING, "volunteer", 40),
        (VOL_INCIDENT, "volunteer", 100),
        ("p-coord-0", "coordinator", 300),
        (ALL, "coordinator", 1000),
    ],
)
def test_pulls_page_by_page_are_the_same_on_both(
    demo_twins: tuple[str, str], person: str, role: str, limit: int
) -> None:
    async def body(db: BaseDatabase, demo: Demo) -> tuple[Any, ...]:
        device = device_of(person, role)
        pages, cursor, token = await _pull_all(db, device, 0, None, limit)
        # The steady state: nothing new, the same cursor back.
        again, cursor2, token2 = await _pull_all(db, device, cursor, token, limit)
        return pages, cursor, token, again, cursor2, token2

    mine, theirs = on_both(demo_twins, body)
    assert mine[0] == theirs[0]
    assert mine[1:] == theirs[1:]
    assert len(mine[0]) > 1  # several pages
    assert sum(len(p[0]) for p in mine[0]) > limit


def test_reference_and_visibility_are_the_same_on_both(demo_twins: tuple[str, str]) -> None:
    async def body(db: BaseDatabase, demo: Demo) -> dict[str, Any]:
        out: dict[str, Any] = {}
        log = await db.select("SELECT seq, coll, id FROM winners ORDER BY seq")
        for pid, role, _ in _people(demo):
            device = device_of(pid, role)
            for coll in ("communities", "buildings", "incidents"):
                out[(pid, coll)] = await scopes.reference(db, device, coll)
            scope = await scopes.load_scope(db, device)
            out[(pid, "rows")] = await scopes.visible_rows(db, scope, log)
            keys = sorted({(c, i) for _, c, i in log})[::97]
            out[(pid, "one")] = [await scopes.visible(db, scope, c, i) for c, i in keys]
            for c in demo.communities:
                cscope = await scopes.community_scope(db, c)
                out[("community", c)] = await scopes.visible_rows(db, cscope, log)
        return out

    mine, theirs = on_both(demo_twins, body)
    assert mine.keys() == theirs.keys()
    for key in mine:
        assert mine[key] == theirs[key], key
    assert len(mine[(VOL_BUILDING, "rows")]) < len(mine[(ALL, "rows")])
    assert any(mine[(VOL_BUILDING, "one")]) and not all(mine[(VOL_BUILDING, "one")])


async def _winners_after(
    db: BaseDatabase, cursor: int, limit: int, scope: Any, exclude_node: str | None = None
) -> list[tuple]:
    """A page of the winners after ``cursor`` within ``scope`` (a ``pull_filter``
    fragment), leaving out those ``exclude_node`` wrote: how a pull embeds the fragment."""
    sql = "SELECT seq, coll, id, field, value, hlc FROM winners WHERE seq > ?"
    args: list[Any] = [cursor]
    if exclude_node is not None:
        sql += " AND substr(hlc, 31) <> ?"
        args.append(exclude_node)
    if scope is not None:
        sql += f" AND {scope[0]}"
        args.extend(scope[1])
    return await db.select(sql + " ORDER BY seq LIMIT ?", (*args, limit))


def test_the_sql_fragments_select_the_same_rows_on_both(demo_twins: tuple[str, str]) -> None:
    """``people_filter``, ``record_filter`` and ``pull_filter`` as their callers embed them
    (devices, people, quarantine, a pull): between arguments of their own."""

    async def body(db: BaseDatabase, demo: Demo) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for pid, role, _ in _people(demo):
            scope = await scopes.load_scope(db, device_of(pid, role))
            # people.listing's shape: the fragment first, then LIMIT.
            within, args = scopes.people_filter(scope, "p.id", db.sql)
            out[(pid, "people")] = await db.select(
                f"SELECT p.id FROM people p WHERE {within} ORDER BY p.id LIMIT ?", (*args, 100)
            )
            # quarantine's shape: an argument of its own first, a fragment, then more.
            who, a = scopes.people_filter(scope, "d.person", db.sql)
            out[(pid, "devices")] = await db.select(
                f"SELECT d.node FROM devices d WHERE d.role <> ? AND {who} ORDER BY d.node LIMIT ?",
                ("nobody", *a, 100),
            )
            what, b = scopes.record_filter(scope, "w.coll", "w.id", db.sql)
            out[(pid, "records")] = await db.select(
                "SELECT w.coll, w.id, w.field FROM winners w WHERE w.field <> ? "
                f"AND {what} ORDER BY 1, 2, 3 LIMIT ?",
                ("room", *b, 3000),
            )
            filt = scopes.pull_filter(scope, db.sql)
            out[(pid, "pull")] = await _winners_after(db, 0, 700, filt)
            out[(pid, "pull-mine")] = await _winners_after(db, 10, 700, filt, NODE)
        return out

    mine, theirs = on_both(demo_twins, body)
    assert mine == theirs
    assert mine[("p-coord-0", "people")] != mine[(ALL, "people")]
    assert mine[(VOL_BUILDING, "pull")] != mine[(ALL, "pull")]


# --- a whole sync ---------------------------------------------------------------------


def _change(coll: str, rid: str, field: str, value: Any, hlc: str) -> dict[str, Any]:
    return {"coll": coll, "id": rid, "field": field, "value": value, "hlc": hlc}


def _body(
    device: Device, cursor: int, batch: list[Any], scope: str | None, limit: int | None = None
) -> bytes:
    """A sync request as the PWA sends it; ``batch`` items are dicts or raw JSON bytes."""
    parts = [
        json.dumps(c, ensure_ascii=False).encode() if isinstance(c, dict) else c for c in batch
    ]
    head = {"node": device.node, "cursor": cursor, "pending": len(batch)}
    if scope is not None:
        head["scope"] = scope
    if limit is not None:
        head["limit"] = limit
    return json.dumps(head).encode()[:-1] + b', "changes": [' + b", ".join(parts) + b"]}"


def _answer(response: Any) -> dict[str, Any]:
    out = msgspec.json.decode(msgspec.json.encode(response))
    out.pop("server_time")
    # What a phone deletes is a set (docs/protocol.md): its order is no part of the answer.
    out["evict"] = sorted(out["evict"], key=lambda e: (e["coll"], e["id"]))
    return out


async def _sync_all(
    db: BaseDatabase, device: Device, cursor: int, held: str | None, batch: list[Any]
) -> tuple[list[dict[str, Any]], int, str]:
    """One sync with ``batch``, then pulls until nothing more: every answer."""
    answers = []
    while True:
        answer = _answer(await round_trip.run(db, device, _body(device, cursor, batch, held)))
        answers.append(answer)
        cursor, held, batch = answer["cursor"], answer["scope"], []
        if not answer["more"]:
            return answers, cursor, held  # type: ignore[return-value]


async def _state(db: BaseDatabase) -> dict[str, list[Any]]:
    """Winners, history, quarantine and devices, less the times the server reads from
    its clock (``received_at``, ``last_seen``, ``created_at``): the runs are moments apart."""
    queries = {
        "winners": "SELECT seq, coll, id, field, value, hlc FROM winners ORDER BY seq",
        "history": "SELECT seq, hlc, coll, id, field, value, node, person FROM history "
        "ORDER BY seq",
        "quarantine": "SELECT qid, hlc, node, person, coll, id, field, raw, error, message, "
        "resolved_at FROM quarantine ORDER BY qid",
        "devices": "SELECT node, person, pending, last_seen IS NOT NULL FROM devices ORDER BY node",
        "snapshots": "SELECT node, token, households, incidents, seq "
        "FROM scope_snapshots ORDER BY node, token",
    }
    return {k: await db.select(q) for k, q in queries.items()}


def test_a_sync_gives_the_same_outcome_and_leaves_the_same_rows_on_both(
    demo_twins: tuple[str, str],
) -> None:
    path, _ = demo_twins
    demo = Demo(path)
    conn = sqlite3.connect(path)
    [(home, mine_b)] = conn.execute(
        "SELECT id, json_extract(value, '$') FROM winners WHERE coll = 'households' "
        "AND field = 'building' AND value = json_quote(?) ORDER BY id LIMIT 1",
        (demo.buildings[0],),
    ).fetchall()
    [(away,)] = conn.execute(
        "SELECT id FROM winners WHERE coll = 'households' AND field = 'building' "
        "AND value = json_quote(?) ORDER BY id LIMIT 1",
        (demo.buildings[-1],),
    ).fetchall()
    [(elsewhere,)] = conn.execute(
        "SELECT h.id FROM winners h JOIN winners b ON b.coll = 'buildings' "
        "AND b.field = 'community' AND b.value = json_quote(?) AND h.value = json_quote(b.id) "
        "WHERE h.coll = 'households' AND h.field = 'building' ORDER BY h.id LIMIT 1",
        (demo.communities[1],),
    ).fetchall()
    [(seen,)] = conn.execute(
        "SELECT v.id FROM winners v JOIN winners h ON h.coll = 'households' "
        "AND h.field = 'building' AND h.value = json_quote(?) "
        "AND v.value = json_quote(h.id) WHERE v.coll = 'visits' AND v.field = 'household' "
        "ORDER BY v.id LIMIT 1",
        (demo.buildings[0],),
    ).fetchall()
    conn.close()
    volunteer = device_of(VOL_BUILDING, "volunteer")
    incident = demo.incidents[0]
    coordinator = device_of("p-coord-0", "coordinator")
    now = int(time.time() * 1000)
    stamp = iter(clock.format_stamp(clock.Timestamp(now, n, volunteer.node)) for n in range(100))
    visit, stray = uuid7(), uuid7()
    nested = b'{"coll": "households", "id": "' + away.encode() + b'", "field": "notes", '
    nested += b'"hlc": "' + next(stamp).encode() + b'", "value": ' + b"[" * 999 + b"]" * 999 + b"}"
    batch: list[Any] = [
        _change("visits", visit, "household", home, next(stamp)),  # a new visit
        _change("visits", visit, "outcome", "reached", next(stamp)),
        _change("visits", visit, "note", "独居老人，需送水\n二楼", next(stamp)),
        _change("household_status", f"{incident}~{home}", "needs_open", ["water"], next(stamp)),
        _change("visits", seen, "note", '楼道灯坏了 "急"', next(stamp)),  # another's visit
        _change("household_status", f"{incident}~{away}", "restored", True, next(stamp)),
        _change("visits", stray, "household", away, next(stamp)),  # outside: refused
        nested,  # malformed: quarantined as invalid
        b'{"coll": "households", "id": "x", "field": "notes", "value": 1}',  # no stamp
    ]
    c_stamp = iter(clock.format_stamp(clock.Timestamp(now, n, coordinator.node)) for n in range(10))
    c_batch = [
        _change("households", home, "contact", "王阿姨 139", next(c_stamp)),
        _change("households", elsewhere, "contact", "别的社区", next(c_stamp)),
    ]

    async def body(db: BaseDatabase, demo: Demo) -> dict[str, Any]:
        out: dict[str, Any] = {}
        out["first"], cursor, held = await _sync_all(db, volunteer, 0, None, batch)
        out["again"], cursor, held = await _sync_all(db, volunteer, cursor, held, batch)
        out["coordinator"], _, _ = await _sync_all(db, coordinator, 0, None, c_batch)
        out["later"], cursor, held = await _sync_all(db, volunteer, cursor, held, [])
        out["state"] = await _state(db)
        # Reassigned: the first building is taken away (the server's own write), so
        # its households and the visit leave the phone; then it comes back.
        await changes.write_records(db, [_assignment(VOL_BUILDING, mine_b, active=False)], at=FIXED)
        out["taken"], cursor, held = await _sync_all(db, volunteer, cursor, held, [])
        await changes.write_records(db, [_assignment(VOL_BUILDING, mine_b)], at=FIXED)
        out["back"], cursor, held = await _sync_all(db, volunteer, cursor, held, [])
        out["state-after"] = await _state(db)
        return out

    mine, theirs = on_both(demo_twins, body)
    assert mine.keys() == theirs.keys()
    for key in mine:
        assert mine[key] == theirs[key], key
    first = mine["first"][0]
    assert first["accepted"] == 5
    assert [(r["index"], r["error"]) for r in first["rejected"]] == [
        (5, "forbidden"),
        (6, "forbidden"),
        (7, "malformed_change"),
        (8, "malformed_change"),
    ]
    assert mine["again"][0]["accepted"] == 5  # the re-sent batch: the same answer, no new row
    # The two invalid changes have no readable stamp, so nothing marks them as sent
    # before: kept again (as on SQLite, whose unique index lets NULLs repeat); the
    # refused ones are kept once; and the coordinator's refused change.
    assert len(mine["state"]["quarantine"]) == 2 + 2 + 2 + 1
    assert [(r["index"], r["error"]) for r in mine["coordinator"][0]["rejected"]] == [
        (1, "forbidden")
    ]
    evicted = {(e["coll"], e["id"]) for a in mine["taken"] for e in a["evict"]}
    assert ("households", home) in evicted and ("visits", visit) in evicted
    back = {(c["coll"], c["id"]) for a in mine["back"] for c in a["changes"]}
    assert ("visits", visit) in back and ("households", home) in back


def test_evictions_after_reassignments_and_moves_are_the_same_on_both(
    demo_twins: tuple[str, str],
) -> None:
    """Every way a record leaves a scope: an incident assignment ended (its buildings'
    households and the incident's repairs and updates), a visit moved to a household
    elsewhere by a coordinator, and a coordinator of every community given one."""
    path, _ = demo_twins
    conn = sqlite3.connect(path)
    demo = Demo(path)
    [(moved, there)] = conn.execute(
        "SELECT v.id, h.id FROM winners v JOIN winners h ON h.coll = 'households' "
        "AND h.field = 'building' AND h.value = json_quote(?) "
        "WHERE v.coll = 'visits' AND v.field = 'household' "
        "AND v.value IN (SELECT json_quote(x.id) FROM winners x WHERE x.coll = 'households' "
        "AND x.field = 'building' AND x.value = json_quote(?)) ORDER BY v.id, h.id LIMIT 1",
        (demo.buildings[-1], demo.buildings[0]),
    ).fetchall()
    conn.close()
    incident = device_of(VOL_INCIDENT, "volunteer")
    building = device_of(VOL_BUILDING, "volunteer")
    everyone = device_of(ALL, "coordinator")

    async def body(db: BaseDatabase, demo: Demo) -> dict[str, Any]:
        held: dict[Device, tuple[int, str]] = {}
        out: dict[str, Any] = {}
        for device in (incident, building, everyone):
            _, cursor, token = await _pull_all(db, device, 0, None, 2000)
            held[device] = (cursor, token)
        await changes.write_records(
            db,
            [
                _assignment(VOL_INCIDENT, demo.incidents[0], incident=True, active=False),
                ("visits", moved, {"household": there}),
            ],
            at=FIXED,
        )
        community = demo.communities[0]
        await db.execute("UPDATE people SET community = ? WHERE id = ?", (community, ALL))
        for device in (incident, building, everyone):
            cursor, token = held[device]
            out[device.person] = await _pull_all(db, device, cursor, token, 2000)
        return out

    mine, theirs = on_both(demo_twins, body)
    assert mine == theirs
    evicted = {
        who: {(e[0], e[1]) for page in pages for e in page[3]}
        for who, (pages, _, _) in mine.items()
    }
    assert {c for c, _ in evicted[VOL_INCIDENT]} >= {"households", "repairs"}
    assert ("visits", moved) in evicted[VOL_BUILDING]
    assert len(evicted[ALL]) > 100  # every household of the other communities


def test_a_full_disk_fails_a_batch_whole_and_lets_a_pull_answer(
    demo_twins: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL's "disk full" (SQLSTATE 53100) is SQLite's SQLITE_FULL: a batch with
    changes fails whole with ``StorageFullError`` (507), a pull still answers."""
    import psycopg

    from server.db.postgresql.dialect import PgConn
    from server.errors import StorageFullError

    path, url = demo_twins
    demo = Demo(path)
    device = device_of(VOL_BUILDING, "volunteer")

    real = PgConn.execute

    def full(conn: Any, sql: str, args: Any = (), /) -> Any:
        # The device's bookkeeping is the statement that meets the full disk.
        if sql.startswith("UPDATE devices"):
            raise psycopg.errors.DiskFull("could not extend file: No space left")
        return real(conn, sql, args)

    async def main() -> tuple[Any, ...]:
        async with PgDatabase(url) as db:
            await _setup(db, demo)
            before = await _state(db)
            now = int(time.time() * 1000)
            hlc = clock.format_stamp(clock.Timestamp(now, 1, device.node))
            home = sorted((await scopes.load_scope(db, device)).households or ())[0]
            batch = [_change("visits", uuid7(), "household", home, hlc)]
            monkeypatch.setattr(PgConn, "execute", full)
            with pytest.raises(StorageFullError):
                await round_trip.run(db, device, _body(device, 0, batch, None))
            after_batch = await _state(db)
            answer = _answer(await round_trip.run(db, device, _body(device, 0, [], None)))
            return before, after_batch, answer, await _state(db)

    before, after_batch, answer, after_pull = run_async(main())
    assert after_batch == before  # nothing of the batch was saved
    assert answer["changes"] and answer["scope"]
    assert after_pull["devices"] == before["devices"]  # last_seen not saved: the disk is full


def test_concurrent_syncs_on_two_servers_never_make_a_pull_skip_or_repeat(
    demo_twins: tuple[str, str],
) -> None:
    """Batches (the log lock exclusive) and pulls (shared) from two pools at once: none
    waits for ever, and a phone pulling small pages meanwhile gets every new change
    exactly once — the scope, the page and the cursor of a pull read one state of the log."""
    import asyncio

    path, url = demo_twins
    demo = Demo(path)
    writers = [Device(f"{n:016x}", ALL, "coordinator", False) for n in (0xA1, 0xA2, 0xA3)]
    reader = device_of(VOL_BUILDING, "volunteer")

    async def main() -> tuple[list[tuple[str, str]], set[tuple[str, str]]]:
        async with PgDatabase(url) as one, PgDatabase(url) as two:
            await _setup(one, demo)
            homes = sorted((await scopes.load_scope(one, reader)).households or ())[:6]
            _, cursor, held = await _pull_all(one, reader, 0, None, 5000)
            written: set[tuple[str, str]] = set()
            done = asyncio.Event()

            async def write(db: PgDatabase, device: Device) -> None:
                now = int(time.time() * 1000)
                for n in range(15):
                    vid = uuid7()
                    hlc = clock.format_stamp(clock.Timestamp(now, n, device.node))
                    batch = [_change("visits", vid, "household", homes[n % len(homes)], hlc)]
                    answer = await round_trip.run(db, device, _body(device, 0, batch, None))
                    assert answer.accepted == 1
                    written.add(("visits", vid))

            async def read() -> list[tuple[str, str]]:
                nonlocal cursor, held
                got: list[tuple[str, str]] = []
                dbs = (one, two)
                turn = 0
                while True:
                    last = done.is_set()
                    answer = await round_trip.run(
                        dbs[turn % 2], reader, _body(reader, cursor, [], held, limit=2)
                    )
                    turn += 1
                    assert answer.cursor >= cursor
                    got += [(c.coll, c.id) for c in answer.changes if c.coll == "visits"]
                    cursor, held = answer.cursor, answer.scope
                    if last and not answer.more:
                        return got

            async def writers_then_done() -> None:
                await asyncio.gather(*(write((one, two)[i % 2], w) for i, w in enumerate(writers)))
                done.set()

            got, _ = await asyncio.gather(read(), writers_then_done())
            return got, written

    got, written = run_async(main())
    assert len(written) == 45
    assert len(got) == len(set(got))  # nothing twice
    assert set(got) == written  # nothing skipped


def test_a_full_quarantine_counts_the_rest_the_same_on_both(demo_twins: tuple[str, str]) -> None:
    """Past ``QUARANTINE_PER_DEVICE`` rejected changes of one device, the rest are only
    counted in one ``quarantine_full`` entry (``ON CONFLICT … DO UPDATE`` adding up)."""
    from server.db.changes import QUARANTINE_PER_DEVICE

    node = "0000000000000bad"

    def rejected(start: int, n: int) -> list[Any]:
        return [
            (
                _stamp(i, node),
                node,
                VOL_NONE,
                "visits",
                f"v{i}",
                "note",
                "{}",
                "forbidden",
                "no",
                AT,
            )
            for i in range(start, start + n)
        ] + [(None, node, VOL_NONE, None, None, None, "[", "malformed_change", "bad", AT)]

    async def body(db: BaseDatabase, demo: Demo) -> list[Any]:
        await db.write_tx(
            lambda conn: changes.quarantine_in(
                conn, rejected(0, QUARANTINE_PER_DEVICE - 10), node, AT
            )
        )
        await db.write_tx(
            lambda conn: changes.quarantine_in(conn, rejected(0, 30), node, AT)
        )  # 20 sent again
        await db.write_tx(lambda conn: changes.quarantine_in(conn, rejected(5000, 7), node, AT))
        return (await _state(db))["quarantine"]

    mine, theirs = on_both(demo_twins, body)
    assert mine == theirs
    full = [q for q in mine if q[8] == "quarantine_full"]
    assert len(full) == 1 and int(full[0][7]) > 0


def test_a_nul_in_a_rejected_change_is_kept_as_a_replacement_character(pg_url: str) -> None:
    """PostgreSQL's text cannot hold NUL (SQLite's can): a malformed change carrying one
    is still quarantined, with U+FFFD in its place, and the sync does not fail."""
    node = "0000000000000bad"
    row = (
        "h\x00",
        node,
        None,
        "vis\x00its",
        None,
        None,
        '{"value": "a\x00b"}',
        "malformed",
        "m",
        AT,
    )

    async def main() -> list[Any]:
        async with PgDatabase(pg_url) as db:
            await db.write_tx(lambda conn: changes.quarantine_in(conn, [row], node, AT))
            return await db.select("SELECT hlc, coll, raw FROM quarantine")

    assert run_async(main()) == [("h\ufffd", "vis\ufffdits", '{"value": "a\ufffdb"}')]
