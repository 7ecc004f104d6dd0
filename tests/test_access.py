"""Roles and scopes, enforced by the server: partial replication and write authorisation.

The property tests build random worlds (buildings, households with personal fields,
visits, household status, an incident) and random assignments, let a volunteer's device
sync like the PWA does (cursor + scope token, evictions applied), change the world and the
assignments, sync again, and check against rules recomputed here from the world itself:
the device never holds a personal field of a household outside its scope, and holds every
winner inside it (scope growth backfills older changes).
"""

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import Phone, Stamper, db_for, invite, query, run_async
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from schemas.records import PERSONAL_FIELDS
from server.access import Facts, Scope, may_write, read_scope
from server.db import open_database
from server.http.app import create_app
from server.ops.admin import create_invite, write_records
from sync.validate import ForbiddenError

_example = itertools.count()
_tick = itertools.count(1)

Key = tuple[str, str, str]


def put(db: str, records: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Write records as the server (like the CLI); each call strictly later than the last."""
    at = datetime.now(UTC) - timedelta(hours=1) + timedelta(milliseconds=10 * next(_tick))
    write_records(db, records, at=at)


def enroll(client: Any, db: str, role: str = "volunteer") -> Phone:
    """Enrol in-process (conftest.enroll runs the CLI: too slow for many examples)."""
    code, _ = create_invite(db, role, name="志愿者")
    d = client.post("/api/v1/enroll", json={"code": code}).json()
    return Phone(client, d["token"], d["node"], d["person"], d["role"])


class Device:
    """What the PWA keeps: field winners, cursor and scope token; applies evictions."""

    def __init__(self, phone: Phone) -> None:
        self.phone = phone
        self.cursor = 0
        self.scope: str | None = None
        self.state: dict[Key, tuple[str, Any]] = {}

    def sync(self, changes: list[dict] | None = None, limit: int = 1000) -> list[dict]:
        rejected: list[dict] = []
        first = True
        while True:
            r = self.phone.sync(
                changes if first else [], cursor=self.cursor, limit=limit, scope=self.scope
            )
            first = False
            assert r.status_code == 200, r.text
            d = r.json()
            rejected += d["rejected"]
            gone = {(e["coll"], e["id"]) for e in d["evict"]}
            self.state = {k: v for k, v in self.state.items() if (k[0], k[1]) not in gone}
            for c in d["changes"]:
                key = (c["coll"], c["id"], c["field"])
                if key not in self.state or c["hlc"] > self.state[key][0]:
                    self.state[key] = (c["hlc"], c["value"])
            self.cursor, self.scope = d["cursor"], d["scope"]
            if not d["more"]:
                return rejected

    def records(self, coll: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for (c, i, f), (_, v) in self.state.items():
            if c == coll:
                out.setdefault(i, {})[f] = v
        return out


def server_winners(db: str) -> dict[Key, tuple[str, Any]]:
    import json

    rows = query(db, "SELECT coll, id, field, hlc, value FROM winners")
    return {(c, i, f): (h, json.loads(v)) for c, i, f, h, v in rows}


# -- a random world ---------------------------------------------------------------------

world_st = st.fixed_dictionaries(
    {
        "buildings": st.integers(1, 4),
        # building index of each household
        "households": st.lists(st.integers(0, 3), max_size=7),
        # (household index, household set after the note?) of each visit
        "visits": st.lists(st.tuples(st.integers(0, 6), st.booleans()), max_size=6),
        "statuses": st.lists(st.integers(0, 6), max_size=4),
        "incident_buildings": st.sets(st.integers(0, 3), max_size=3),
        "before": st.sets(st.integers(0, 3), max_size=3),
        "after": st.sets(st.integers(0, 3), max_size=3),
        "incident_before": st.booleans(),
        "incident_after": st.booleans(),
        # (household index, new building index): households that move between syncs
        "moves": st.lists(st.tuples(st.integers(0, 6), st.integers(0, 3)), max_size=2),
        "limit": st.integers(1, 9),
    }
)


class World:
    def __init__(self, db: str, person: str, spec: dict) -> None:
        n = next(_example)
        self.db, self.person, self.spec = db, person, spec
        self.community = f"c{n}"
        self.buildings = [f"b{n}x{k}" for k in range(spec["buildings"])]
        self.incident = f"i{n}"
        self.home: dict[str, str] = {}
        self.visit_of: dict[str, str] = {}
        records: list = [("communities", self.community, {"name": "精图社区"})]
        late: list = []
        for b in self.buildings:
            records.append(("buildings", b, {"community": self.community, "label": b}))
        for k, bi in enumerate(spec["households"]):
            hid = f"h{n}x{k}"
            self.home[hid] = self.buildings[bi % len(self.buildings)]
            records.append(
                (
                    "households",
                    hid,
                    {
                        "building": self.home[hid],
                        "unit": "1",
                        "room": f"{k}01",
                        "occupants": 1,
                        "vulnerable": ["lone_elderly"],
                        "contact": f"王秀英 1380000{k:04d}",
                        "notes": "独居，行动不便",
                    },
                )
            )
        hids = list(self.home)
        if hids:
            for k, (hi, late_household) in enumerate(spec["visits"]):
                vid = f"v{n}x{k}"
                target = hids[hi % len(hids)]
                records.append(("visits", vid, {"outcome": "reached", "note": "需要电暖气"}))
                if late_household:
                    late.append(("visits", vid, {"household": target}))
                else:
                    records.append(("visits", vid, {"household": target}))
                    self.visit_of[vid] = target
            for hi in spec["statuses"]:
                records.append(
                    (
                        "household_status",
                        f"{self.incident}~{hids[hi % len(hids)]}",
                        {"restored": False, "needs_open": ["heater"]},
                    )
                )
        records.append(
            (
                "incidents",
                self.incident,
                {
                    "community": self.community,
                    "title": "暖气停供",
                    "status": "repairing",
                    "buildings": [
                        self.buildings[i % len(self.buildings)]
                        for i in sorted(spec["incident_buildings"])
                    ],
                },
            )
        )
        put(db, records)
        # A visit's household arriving after its note, after the device's first sync: the
        # older note must ride along when the visit enters the scope.
        self.late = late

    def assign(self, which: set[int], incident: bool) -> None:
        wanted = {self.buildings[i % len(self.buildings)] for i in which}
        recs = [
            (
                "assignments",
                f"{self.person}~{b}",
                {"person": self.person, "building": b, "active": b in wanted},
            )
            for b in self.buildings
        ]
        recs.append(
            (
                "assignments",
                f"{self.person}~{self.incident}",
                {"person": self.person, "incident": self.incident, "active": incident},
            )
        )
        put(self.db, recs)
        self.assigned, self.whole_incident = wanted, incident

    def move(self) -> None:
        hids = list(self.home)
        recs = list(self.late)
        self.visit_of.update({vid: f["household"] for _, vid, f in self.late})
        for hi, bi in self.spec["moves"]:
            if hids:
                hid = hids[hi % len(hids)]
                self.home[hid] = self.buildings[bi % len(self.buildings)]
                recs.append(("households", hid, {"building": self.home[hid]}))
        if recs:
            put(self.db, recs)

    def scope(self) -> set[str]:
        """Households the volunteer may see, by the rules in docs/security.md."""
        b = set(self.assigned)
        if self.whole_incident:
            b |= {self.buildings[i % len(self.buildings)] for i in self.spec["incident_buildings"]}
        return {h for h, home in self.home.items() if home in b}

    def check(self, device: Device) -> None:
        allowed = self.scope()
        mine = set(self.home)
        households = device.records("households")
        # Never a personal field (or any field) of a household outside the scope.
        for hid, rec in households.items():
            if hid in mine:
                assert hid in allowed, f"{hid} outside scope: {rec}"
        for vid in device.records("visits"):
            if vid in self.visit_of:
                assert self.visit_of[vid] in allowed, f"visit {vid} of {self.visit_of[vid]}"
        for sid in device.records("household_status"):
            if sid.startswith(self.incident + "~"):
                assert sid.split("~")[1] in allowed
        personal = {(c, f) for c, fs in PERSONAL_FIELDS.items() for f in fs}
        for c, i, f in device.state:
            if (c, f) in personal and c == "households" and i in mine:
                assert i in allowed
        # And everything inside it, at the server's winning value (growth backfills).
        winners = server_winners(self.db)
        for key, (hlc, value) in winners.items():
            c, i, _ = key
            inside = (
                (c == "households" and i in allowed)
                or (c == "visits" and self.visit_of.get(i) in allowed)
                or (
                    c == "household_status"
                    and i.startswith(self.incident + "~")
                    and i.split("~")[1] in allowed
                )
            )
            if inside:
                assert device.state.get(key) == (hlc, value), f"missing {key}"


@settings(
    # The same rules on both engines (one scope code, #21); PostgreSQL makes a database
    # per example, so fewer of them.
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=world_st)
def test_volunteer_holds_exactly_its_scope_across_assignment_changes(
    tmp_path, backend, spec
) -> None:
    # A fresh database per example: reference data of earlier examples would otherwise
    # make every full pull longer and longer.
    db = db_for(str(tmp_path / f"w{next(_tick)}.db"))
    with TestClient(app=create_app(db=db)) as client:
        _scope_round_trip(client, db, spec)


def _scope_round_trip(client: TestClient, db: str, spec: dict) -> None:
    phone = enroll(client, db)
    device = Device(phone)
    world = World(db, phone.person, spec)
    world.assign(spec["before"], spec["incident_before"])
    device.sync(limit=spec["limit"])
    world.check(device)
    # The coordinator re-assigns, households move; the next sync (paged) must evict what
    # left the scope and deliver what entered it, older changes included.
    world.assign(spec["after"], spec["incident_after"])
    world.move()
    device.sync(limit=spec["limit"])
    world.check(device)
    # Syncing again changes nothing.
    before = dict(device.state)
    device.sync(limit=spec["limit"])
    assert device.state == before


write_st = st.lists(
    st.tuples(
        st.sampled_from(
            ["visits", "deliveries", "household_status", "households", "assignments", "updates"]
        ),
        st.integers(0, 5),  # household index
        st.booleans(),  # for visits/deliveries: an existing record (else a new one)
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(assigned=st.sets(st.integers(0, 2), max_size=2), writes=write_st)
def test_writes_outside_scope_are_forbidden_quarantined_and_never_block_the_batch(
    shared_client, assigned, writes
) -> None:
    db = shared_client.db_path
    n = next(_example)
    phone = enroll(shared_client, db)
    buildings = [f"wb{n}x{k}" for k in range(3)]
    homes = {f"wh{n}x{k}": buildings[k % 3] for k in range(6)}
    existing = {hid: f"wv{n}x{k}" for k, hid in enumerate(homes)}
    recs: list = [("buildings", b, {"label": b}) for b in buildings]
    recs += [("households", h, {"building": b, "contact": "李桂兰"}) for h, b in homes.items()]
    recs += [("visits", v, {"household": h, "outcome": "not_home"}) for h, v in existing.items()]
    recs += [
        ("deliveries", f"wd{n}x{k}", {"household": h, "item": "heater"})
        for k, h in enumerate(homes)
    ]
    recs += [("assignments", f"{phone.person}~{buildings[i]}", {"active": True}) for i in assigned]
    put(db, recs)
    allowed = {h for h, b in homes.items() if b in {buildings[i] for i in assigned}}
    stamp = Stamper(phone.node)
    changes, expect = [], []
    hids = list(homes)
    for k, (coll, hi, old) in enumerate(writes):
        hid = hids[hi]
        if coll == "visits":
            rid = existing[hid] if old else f"nv{n}x{k}"
            fld, value = ("note", "独居老人") if old else ("household", hid)
        elif coll == "deliveries":
            rid = f"wd{n}x{hi}" if old else f"nd{n}x{k}"
            fld, value = ("qty", 1) if old else ("household", hid)
        elif coll == "household_status":
            rid, fld, value = f"inc{n}~{hid}", "restored", True
        elif coll == "households":
            rid, fld, value = hid, "contact", "改了"
        elif coll == "assignments":
            rid, fld, value = f"{phone.person}~{homes[hid]}", "active", True
        else:
            rid, fld, value = f"u{n}x{k}", "text", "hello"
        ok = coll in ("visits", "deliveries", "household_status") and hid in allowed
        changes.append({"coll": coll, "id": rid, "field": fld, "value": value, "hlc": stamp()})
        expect.append(ok)
    r = phone.sync(changes)
    assert r.status_code == 200, r.text
    d = r.json()
    refused = {x["index"]: x for x in d["rejected"]}
    assert all(x["error"] == "forbidden" and x["message"] for x in refused.values())
    assert {i for i, ok in enumerate(expect) if not ok} == set(refused)
    assert d["accepted"] == sum(expect)
    quarantined = {
        h
        for (h,) in query(
            db, "SELECT hlc FROM quarantine WHERE node = ? AND error = 'forbidden'", (phone.node,)
        )
    }
    applied = {h for (h,) in query(db, "SELECT hlc FROM history WHERE node = ?", (phone.node,))}
    assert quarantined == {changes[i]["hlc"] for i in refused}
    assert applied == {c["hlc"] for i, c in enumerate(changes) if expect[i]}


# -- the rules, one case each --------------------------------------------------------------


def _scope(
    role: str = "volunteer",
    h: set[str] | None = None,
    i: set[str] | None = None,
    b: set[str] | None = None,
    community: str | None = None,
) -> Scope:
    def fs(x):
        return None if x is None else frozenset(x)

    return Scope("p", role, fs(b), fs(h), fs(i), community)


VOL = _scope(h={"h1"}, i={"i1"}, b={"b1"})
COORD = _scope("coordinator", h={"h1"}, i={"i1"}, b={"b1"}, community="c1")

RULES = [
    # (scope, coll, id, field, value, facts, allowed)
    (VOL, "visits", "v", "household", "h1", Facts({"h1"}), True),
    (VOL, "visits", "v", "household", "h2", Facts({"h2"}), False),
    (VOL, "visits", "v", "household", None, Facts({None}), False),
    (VOL, "visits", "v", "note", "x", Facts({"h1", "h2"}), False),  # moving out of scope
    (VOL, "visits", "v", "note", "x", Facts(), True),  # anchor arrives in the next batch
    (VOL, "household_status", "i9~h1", "restored", True, Facts(), True),
    (VOL, "household_status", "i9~h2", "restored", True, Facts(), False),
    (VOL, "repairs", "r", "incident", "i1", Facts({"i1"}), True),
    (VOL, "repairs", "r", "incident", "i2", Facts({"i2"}), False),
    # Volunteers send field reports, never incidents (#22 M1, D18).
    (VOL, "incidents", "n", "status", "reported", Facts(), False),
    (VOL, "incidents", "n", "title", "门口漏水", Facts(), False),
    (VOL, "reports", "n", "text", "门口漏水", Facts(), True),
    (VOL, "reports", "n", "community", "c1", Facts({"c1"}, communities=frozenset({"c1"})), True),
    (VOL, "reports", "n", "community", "c2", Facts({"c2"}, communities=frozenset({"c1"})), False),
    (VOL, "reports", "n", "reporter", "p", Facts(), True),
    (VOL, "reports", "n", "reporter", "q", Facts(), False),
    (VOL, "reports", "n", "status", "pending", Facts(), True),
    (VOL, "reports", "n", "status", "merged", Facts(), False),
    (VOL, "reports", "n", "ack_at", "2026-11-23T10:00Z", Facts(), False),
    (VOL, "reports", "r", "text", "x", Facts({"c1"}, foreign=True), False),
    (COORD, "reports", "r", "status", "merged", Facts({"c1"}), True),
    (COORD, "reports", "r", "incident", "i1", Facts({"c1"}), True),
    (COORD, "reports", "r", "incident", "i9", Facts({"c1"}), False),
    (COORD, "reports", "r", "status", "acknowledged", Facts({"c9"}), False),
    (VOL, "incidents", "n", "status", "restored", Facts(), False),
    (VOL, "incidents", "i1", "status", "reported", Facts(foreign=True), False),
    (VOL, "incidents", "n", "eta", "2026-11-23T10:00Z", Facts(), False),
    (VOL, "incidents", "n", "buildings", ["b2"], Facts(), False),
    (VOL, "updates", "u", "public", True, Facts(), False),
    (VOL, "households", "h1", "contact", "x", Facts({"b1"}), False),
    (VOL, "assignments", "p~b2", "active", True, Facts(), False),
    (VOL, "buildings", "b1", "label", "x", Facts(), False),
    (COORD, "households", "h1", "contact", "x", Facts({"b1"}), True),
    (COORD, "households", "h9", "contact", "x", Facts({"b9"}), False),
    (COORD, "incidents", "i1", "status", "restored", Facts({"c1"}), True),
    (COORD, "incidents", "i9", "status", "restored", Facts({"c9"}), False),
    (COORD, "incidents", "i1", "buildings", ["b1", "b9"], Facts({"c1"}), False),
    (COORD, "updates", "u", "public", True, Facts({"i1"}), True),
    (COORD, "assignments", "v~b1", "active", True, Facts(), True),
    (COORD, "assignments", "v~b9", "active", True, Facts(), False),
    (COORD, "assignments", "v~b1", "building", "b2", Facts(), False),
    (COORD, "communities", "c9", "name", "x", Facts(), False),
    (_scope("coordinator"), "households", "h9", "contact", "x", Facts({"b9"}), True),
    (_scope("coordinator"), "assignments", "v~b1", "person", "w", Facts(), False),
]


@pytest.mark.parametrize(("scope", "coll", "rid", "fld", "value", "facts", "ok"), RULES)
def test_write_rule(scope, coll, rid, fld, value, facts, ok) -> None:
    if ok:
        may_write(scope, coll, rid, fld, value, facts)
    else:
        with pytest.raises(ForbiddenError, match=r"\w+ .{10,}"):
            may_write(scope, coll, rid, fld, value, facts)


def test_read_scope_counts_only_active_own_assignments_and_whole_incidents() -> None:
    g = read_scope(
        "p",
        "volunteer",
        assignments={
            "p~b1": {"active": True},
            "p~b2": {"active": False},
            "p~b3": {"active": True, "_deleted": True},
            "q~b4": {"active": True},
            "p~i1": {"active": True, "incident": "i1"},
        },
        incident_buildings={"i1": ["b5", "b6"], "i2": ["b1"], "i3": ["b9"]},
    )
    assert g.buildings == {"b1", "b5", "b6"}
    assert g.incidents == {"i1", "i2"}


def test_coordinator_of_a_community_sees_only_its_households(client) -> None:
    db = client.db_path
    put(
        db,
        [
            ("buildings", "cb1", {"community": "cc1"}),
            ("buildings", "cb2", {"community": "cc2"}),
            ("households", "ch1", {"building": "cb1", "contact": "张建国"}),
            ("households", "ch2", {"building": "cb2", "contact": "李淑珍"}),
        ],
    )
    coord = enroll(client, db, "coordinator")

    async def move() -> None:
        async with open_database(db) as d:
            await d.execute("UPDATE people SET community = 'cc1' WHERE id = ?", (coord.person,))

    run_async(move())
    got = {c["id"] for c in coord.sync().json()["changes"] if c["coll"] == "households"}
    assert got == {"ch1"}


def test_a_device_never_chooses_its_scope(client) -> None:
    """Client-sent filters are not part of the protocol: unknown keys are refused."""
    v = enroll(client, client.db_path)
    r = v.sync(filter={"households": "*"})
    assert r.status_code == 400


def test_invite_via_cli_then_assign_command_scopes_the_phone(client) -> None:
    from conftest import run_cli

    db = client.db_path
    put(
        db,
        [
            ("buildings", "ab1", {"label": "1号楼"}),
            ("buildings", "ab2", {"label": "2号楼"}),
            ("households", "ah1", {"building": "ab1", "contact": "甲"}),
            ("households", "ah2", {"building": "ab2", "contact": "乙"}),
        ],
    )
    code = invite(db)["code"]
    d = client.post("/api/v1/enroll", json={"code": code}).json()
    phone = Phone(client, d["token"], d["node"], d["person"], d["role"])
    device = Device(phone)
    run_cli("assign", "--db", db, "--person", phone.person, "--building", "ab1")
    device.sync()
    assert set(device.records("households")) == {"ah1"}
    run_cli("assign", "--db", db, "--person", phone.person, "--building", "ab1", "--off")
    device.sync()
    assert device.records("households") == {}
