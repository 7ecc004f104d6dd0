"""The sync path on PostgreSQL gives SQLite's answers (issue 14): scopes, pulls page by
page, evictions, the reference data, the visibility of live rows, the SQL fragments other
modules embed, and a whole sync (``syncs.exchange``) with its winners, history and
quarantine.

Differential: the demo community in a SQLite file and its PostgreSQL copy
(``demo_twins``), the same people and assignments written into both, then the same public
function called on both with the same arguments; the answers must be equal.
"""

import hashlib
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from conftest import run_async

from server.access import Scope
from server.db import changes, scopes
from server.db.changes import Incoming
from server.db.core import BaseDatabase, Database
from server.db.devices import Device
from server.db.pg.core import PgDatabase
from sync import clock

AT = "2026-11-30T08:00:00.000Z"
NODE = "7e57000000000001"  # the test's own writes (assignments)
T0 = 1_764_000_000_000

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
        import msgspec

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
    if isinstance(db, PgDatabase):
        for pid, role, community in people:
            await db.write(
                "INSERT INTO people (id, name, role, created_at, community) "
                "VALUES ($1, $2, $3, $4, $5)",
                (pid, pid, role, AT, community),
            )
            await db.write(
                "INSERT INTO devices (node, person, role, created_at) VALUES ($1, $2, $3, $4)",
                (device_of(pid, role).node, pid, role, AT),
            )
    else:
        for pid, role, community in people:
            await db.write(
                "INSERT INTO people (id, name, role, created_at, community) VALUES (?, ?, ?, ?, ?)",
                (pid, pid, role, AT, community),
            )
            await db.write(
                "INSERT INTO devices (node, person, role, created_at) VALUES (?, ?, ?, ?)",
                (device_of(pid, role).node, pid, role, AT),
            )
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
    await changes.apply(db, rows)


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
        tail = await changes.pull(db, 0, 100_000)
        log = [(r[0], r[1], r[2]) for r in tail[0]]
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


def test_the_sql_fragments_select_the_same_rows_on_both(demo_twins: tuple[str, str]) -> None:
    """``people_filter``, ``record_filter`` and ``pull_filter`` as their callers embed them
    (devices, people, quarantine, ``changes.pull``): after arguments of their own."""

    async def body(db: BaseDatabase, demo: Demo) -> dict[str, Any]:
        pg = db.dialect == "postgresql"
        out: dict[str, Any] = {}
        for pid, role, _ in _people(demo):
            scope = await scopes.load_scope(db, device_of(pid, role))
            # people.listing's shape: the fragment first, then LIMIT.
            within, args = scopes.people_filter(scope, "p.id", dialect=db.dialect)
            limit = f"${len(args) + 1}" if pg else "?"
            out[(pid, "people")] = await db.read(  # type: ignore[attr-defined]
                f"SELECT p.id FROM people p WHERE {within} ORDER BY p.id LIMIT {limit}",
                (*args, 100),
            )
            # quarantine's shape: an argument of its own first, two fragments, then more.
            first = "$1" if pg else "?"
            who, a = scopes.people_filter(scope, "d.person", dialect=db.dialect, start=2)
            last = f"${2 + len(a)}" if pg else "?"
            out[(pid, "devices")] = await db.read(  # type: ignore[attr-defined]
                f"SELECT d.node FROM devices d WHERE d.role <> {first} AND {who} "
                f"ORDER BY d.node LIMIT {last}",
                ("nobody", *a, 100),
            )
            what, b = scopes.record_filter(scope, "w.coll", "w.id", dialect=db.dialect, start=2)
            last = f"${2 + len(b)}" if pg else "?"
            out[(pid, "records")] = await db.read(  # type: ignore[attr-defined]
                f"SELECT w.coll, w.id, w.field FROM winners w WHERE w.field <> {first} "
                f"AND {what} ORDER BY 1, 2, 3 LIMIT {last}",
                ("room", *b, 3000),
            )
            filt = scopes.pull_filter(scope, dialect=db.dialect)
            out[(pid, "pull")] = await changes.pull(db, 0, 700, scope=filt)
            out[(pid, "pull-mine")] = await changes.pull(
                db, 10, 700, exclude_node=NODE, exclude_after=0, scope=filt
            )
        return out

    mine, theirs = on_both(demo_twins, body)
    assert mine == theirs
    assert mine[("p-coord-0", "people")] != mine[(ALL, "people")]
    assert mine[(VOL_BUILDING, "pull")] != mine[(ALL, "pull")]
