"""Incident progress on a scripted scenario: visits, deliveries, returns, restoration."""

import pytest
from conftest import Phone, Stamper, enroll, put_record

from server.db.log import IncidentInputs
from server.derived.progress import derive, public_view

INC = "inc-0001"


class World:
    """Writes records through the sync API as one coordinator device."""

    def __init__(self, phone: Phone) -> None:
        self.phone, self.stamp = phone, Stamper(phone.node)

    def put(self, coll: str, rid: str | None = None, **fields) -> str:
        return put_record(self.phone, self.stamp, coll, rid, **fields)

    def progress(self, incident: str = INC) -> dict:
        r = self.phone.client.get(
            f"/api/v1/incidents/{incident}/progress", headers=self.phone.headers
        )
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
def world(client) -> World:
    return World(enroll(client, client.db_path, role="coordinator", name="主任"))


def build(w: World) -> dict[str, list[str]]:
    """3 buildings (2 in scope), 10 households each; every 4th one vulnerable."""
    buildings = [w.put("buildings", label=f"{n}号楼", units=2, floors=5) for n in (1, 2, 3)]
    homes: dict[str, list[str]] = {}
    for b in buildings:
        homes[b] = [
            w.put(
                "households",
                building=b,
                unit=str(1 + k % 2),
                room=f"{k + 1}01",
                vulnerable=["lone_elderly"] if k % 4 == 0 else [],
            )
            for k in range(10)
        ]
    w.put(
        "incidents",
        INC,
        kind="heating_outage",
        title="停暖",
        status="repairing",
        buildings=buildings[:2],
        started_at="2026-11-22T14:00:00Z",
        eta="2026-11-23T03:20:00Z",
    )
    return homes


def visit(w: World, h: str, outcome: str, at: str, needs=(), incident: str = INC) -> str:
    return w.put(
        "visits", household=h, incident=incident, at=at, outcome=outcome, needs=list(needs)
    )


def test_progress_counts_follow_a_scripted_incident(world: World) -> None:
    w = world
    homes = build(w)
    b1, b2, b3 = homes.values()
    p = w.progress()
    assert (p["affected"], p["vulnerable"], p["visited"], p["reached"]) == (20, 6, 0, 0)

    # Door-knocking in building 1: 6 reached (two vulnerable, both need a heater), 2 not home.
    for k in range(6):
        needs = ["heater"] if k % 4 == 0 else []
        visit(w, b1[k], "reached", f"2026-11-22T15:0{k}:00Z", needs)
    visit(w, b1[6], "not_home", "2026-11-22T15:10:00Z")
    visit(w, b1[7], "not_home", "2026-11-22T15:11:00Z")
    # A second try at b1[7] finds them home; b1[6] stays not home.
    visit(w, b1[7], "reached", "2026-11-22T17:00:00Z")
    # Visits outside the scope or for another incident do not count.
    visit(w, b3[0], "reached", "2026-11-22T15:00:00Z", ["heater"])
    visit(w, b2[1], "reached", "2026-11-22T15:00:00Z", incident="other")
    p = w.progress()
    assert p["visited"] == 8 and p["reached"] == 7 and p["not_home"] == 1
    assert p["vulnerable_reached"] == 2
    assert p["needs_open"] == 2 and p["needs"] == {"heater": 2}

    # Heaters: three delivered to b1[0], b1[4] (one with qty 2); one comes back, one is lost.
    d1 = w.put(
        "deliveries",
        household=b1[0],
        incident=INC,
        item="heater",
        qty=1,
        status="delivered",
        at="2026-11-22T16:00:00Z",
    )
    w.put(
        "deliveries",
        household=b1[4],
        incident=INC,
        item="heater",
        qty=2,
        status="delivered",
        at="2026-11-22T16:05:00Z",
    )
    d3 = w.put(
        "deliveries",
        household=b2[0],
        incident=INC,
        item="heater",
        qty=1,
        status="delivered",
        at="2026-11-22T16:10:00Z",
    )
    w.put(
        "deliveries",
        household=b2[4],
        incident=INC,
        item="blanket",
        qty=3,
        status="delivered",
        at="2026-11-22T16:10:00Z",
    )
    p = w.progress()
    assert p["heaters_out"] == 4
    # A delivery at the door is a contact (#22 D12): b2[0] and b2[4] had no visit.
    assert p["visited"] == 10 and p["reached"] == 9
    assert p["needs_open"] == 0  # a heater out meets the heater need of the visit
    w.put("deliveries", d1, status="returned")
    w.put("deliveries", d3, status="lost")
    assert w.progress()["heaters_out"] == 2

    # household_status overrides what the visit found.
    w.put("household_status", f"{INC}~{b1[1]}", needs_open=["medical", "food"])
    w.put("household_status", f"{INC}~{b1[0]}", needs_open=[])
    p = w.progress()
    assert p["needs_open"] == 1 and p["needs"] == {"food": 1, "medical": 1}

    # A mistaken visit is deleted; a household leaves the scope.
    wrong = visit(w, b2[9], "reached", "2026-11-22T18:00:00Z")
    assert w.progress()["reached"] == 10
    w.put("visits", wrong, _deleted=True)
    w.put("households", b2[9], building=list(homes)[2])  # moved to building 3
    p = w.progress()
    assert p["reached"] == 9 and p["affected"] == 19

    # Restoration: household by household, then the whole incident.
    for h in b1[:3]:
        w.put("household_status", f"{INC}~{h}", restored=True)
    assert w.progress()["restored"] == 3
    w.put("incidents", INC, status="restored", restored_at="2026-11-23T03:20:00Z")
    p = w.progress()
    assert p["restored"] == 19 and p["status"] == "restored"
    assert p["restored_at"] == "2026-11-23T03:20:00Z"


def test_a_heater_delivered_without_a_visit_counts_the_household_as_visited_and_reached(
    world: World,
) -> None:
    w = world
    b1 = next(iter(build(w).values()))
    home = b1[0]  # vulnerable (every 4th)
    d = w.put(
        "deliveries",
        household=home,
        incident=INC,
        item="heater",
        qty=1,
        status="delivered",
        at="2026-11-22T16:00:00Z",
    )
    p = w.progress()
    assert (p["visited"], p["reached"], p["vulnerable_reached"]) == (1, 1, 1)
    # Taken back later: someone still met the household at the door.
    w.put("deliveries", d, status="returned")
    p = w.progress()
    assert (p["visited"], p["reached"], p["heaters_out"]) == (1, 1, 0)
    # A 已搬走 visit elsewhere is visited but not reached, and no other counter.
    visit(w, b1[1], "moved", "2026-11-22T16:10:00Z")
    p = w.progress()
    assert (p["visited"], p["reached"], p["not_home"], p["refused"]) == (2, 1, 0, 0)


def test_progress_lists_public_updates_newest_first_and_never_internal_ones(world) -> None:
    w = world
    build(w)
    w.put("updates", incident=INC, at="2026-11-22T14:30:00Z", text="已关阀泄水", public=True)
    w.put("updates", incident=INC, at="2026-11-22T15:30:00Z", text="库房剩12台", public=False)
    late = w.put("updates", incident=INC, at="2026-11-22T16:30:00Z", text="已下井作业", public=True)
    gone = w.put("updates", incident=INC, at="2026-11-22T17:30:00Z", text="发错了", public=True)
    w.put("updates", gone, _deleted=True)
    p = w.progress()
    assert [u["text"] for u in p["updates"]] == ["已下井作业", "已关阀泄水"]
    assert p["updates"][0]["id"] == late


def test_progress_of_an_unknown_incident_is_a_404(world) -> None:
    r = world.phone.client.get("/api/v1/incidents/nope/progress", headers=world.phone.headers)
    assert r.status_code == 404 and r.json()["error"] == "no_incident"


def test_progress_is_for_coordinators_only(client) -> None:
    vol = enroll(client, client.db_path)
    r = client.get(f"/api/v1/incidents/{INC}/progress", headers=vol.headers)
    assert r.status_code == 403 and r.json()["error"] == "not_coordinator"


def _inputs(n: int) -> IncidentInputs:
    homes = {f"h{k}": {"building": "b", "unit": "1"} for k in range(n)}
    visits = {f"v{k}": {"household": f"h{k}", "outcome": "reached"} for k in range(n)}
    return IncidentInputs(
        seq=9,
        incident={"status": "repairing", "buildings": ["b"]},
        households=homes,
        visits=visits,
    )


@pytest.mark.parametrize(("n", "shown"), [(1, False), (9, False), (10, True), (741, True)])
def test_small_incidents_show_residents_no_counts(n: int, shown: bool) -> None:
    pub = public_view(derive("i", _inputs(n)), None)
    counts = (pub.affected, pub.visited, pub.restored)
    assert counts == ((n, n, 0) if shown else (None, None, None))


def test_set_fields_written_per_element_count_in_progress(client, world: World) -> None:
    """#11: two volunteers' needs both count; a vulnerable mark made by a volunteer counts
    at once; a refused door has its own counter; an incident's scope grows by element."""
    w = world
    homes = build(w)
    b1, b2, _ = homes.values()
    building1, _, building3 = homes
    # Two volunteers assigned to building 1, each writing from their own phone.
    vols = [enroll(client, client.db_path, name=n) for n in ("志愿者甲", "志愿者乙")]
    for v in vols:
        w.put(
            "assignments",
            f"{v.person}~{building1}",
            person=v.person,
            building=building1,
            active=True,
        )
    a, b = (World(v) for v in vols)
    status = f"{INC}~{b1[1]}"
    a.put("household_status", status, **{"needs_open.water": True})
    b.put("household_status", status, **{"needs_open.medical": True})
    p = w.progress()
    assert p["needs_open"] == 1 and p["needs"] == {"medical": 1, "water": 1}
    # Household b1[1] was not vulnerable; a volunteer marks it, and it is reached.
    before = p["vulnerable"]
    a.put("households", b1[1], **{"vulnerable.empty_nest": True})
    visit(b, b1[1], "reached", "2026-11-22T15:00:00Z")
    p = w.progress()
    assert p["vulnerable"] == before + 1 and p["vulnerable_reached"] == 1
    # A household outside the volunteer's buildings cannot be marked.
    r = a.phone.sync(
        [
            {
                "coll": "households",
                "id": b2[1],
                "field": "vulnerable.infant",
                "value": True,
                "hlc": a.stamp(),
            }
        ]
    )
    assert [x["error"] for x in r.json()["rejected"]] == ["forbidden"]
    # Refused: visited, never reached, latest refused; not counted as reached.
    visit(b, b1[2], "refused", "2026-11-22T15:01:00Z")
    p = w.progress()
    assert p["refused"] == 1 and p["reached"] == 1 and p["visited"] == 2
    # The coordinator adds building 3 to the scope by element: 10 more households.
    w.put("incidents", INC, **{f"buildings.{building3}": True})
    assert w.progress()["affected"] == 30
    # A removal on one element takes one need out, the other stays.
    a.put("household_status", status, **{"needs_open.water": False})
    assert w.progress()["needs"] == {"medical": 1}
