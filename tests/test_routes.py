"""Every route of the app, against every kind of caller, through a real server process.

The route table comes from the app itself: a route without an access rule, or without a
sample request here, fails ``test_every_route_has_a_rule_and_a_sample``. Each sample is
sent by a volunteer, a coordinator of community A (session cookie), a coordinator of all
communities (bearer token), a revoked device, a logged-out session, a resident (the link
only) and an anonymous caller; the answer must be what the route's rule says.
"""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from conftest import LiveServer, Phone, Stamper, cli, load_demo

from server.guards.caller import RouteAccess, route_access_of
from server.http.app import create_app
from server.ops.access_commands import add_coordinator, assign

PASSWORD = "night shift 3am"

CALLERS = [
    "anonymous",
    "volunteer",
    "coordinator_a",
    "coordinator_all",
    "revoked",
    "logged_out",
    "resident",
]


@dataclass
class Caller:
    name: str
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    node: str = "0000000000000000"


@dataclass
class World:
    server: LiveServer
    community_a: str
    community_b: str
    incident_a: str
    incident_b: str
    household_a: str
    household_b: str
    share_a: str
    coordinator_all: Phone
    volunteer: Phone
    revoked_node_a: str
    device_b: str
    callers: dict[str, Caller]

    def quarantined(self, household: str) -> int:
        """A fresh quarantined change on ``household`` (written by the all-communities
        coordinator); its id."""
        stamp = Stamper(self.coordinator_all.node)
        bad = {"coll": "households", "id": household, "field": "occupants", "value": "many"}
        r = self.coordinator_all.sync([{**bad, "hlc": stamp()}])
        assert r.status_code == 200 and r.json()["rejected"], r.text
        [(qid,)] = self.server.query(
            "SELECT max(qid) FROM quarantine WHERE coll = 'households' AND id = ?", (household,)
        )
        return int(qid)


def _first(server: LiveServer, sql: str, args: tuple = ()) -> Any:
    rows = server.query(sql, args)
    assert rows, sql
    return rows[0][0]


def _login(server: LiveServer, login: str) -> tuple[dict[str, str], dict[str, str], str]:
    r = httpx.post(f"{server.url}/api/v1/login", json={"login": login, "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    return dict(r.cookies), {"X-CSRF-Token": body["csrf"]}, body["node"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[World]:
    db = str(tmp_path_factory.mktemp("routes") / "routes.db")
    load_demo(db)
    server = LiveServer(db).start()
    try:
        yield _world(server)
    finally:
        server.stop()


def _world(server: LiveServer) -> World:
    incidents = server.query(
        "SELECT value, id FROM winners WHERE coll = 'incidents' AND field = 'community' ORDER BY id"
    )
    by_community: dict[str, str] = {}
    for value, iid in incidents:
        by_community.setdefault(json.loads(value), iid)
    (a, inc_a), (b, inc_b) = sorted(by_community.items())[:2]

    def household_of(community: str) -> tuple[str, str]:
        return server.query(
            "SELECT h.id, json_extract(h.value, '$') FROM winners h JOIN winners b "
            "ON b.coll = 'buildings' AND b.field = 'community' "
            "AND b.id = json_extract(h.value, '$') "
            "WHERE h.coll = 'households' AND h.field = 'building' AND b.value = json_quote(?) "
            "ORDER BY h.id LIMIT 1",
            (community,),
        )[0]

    (h_a, building_a), (h_b, _) = household_of(a), household_of(b)
    coordinator_all = server.enroll("coordinator", "街道办")
    volunteer = server.enroll("volunteer", "志愿者A")
    assign(db := server.db_path, volunteer.person, building=building_a)
    add_coordinator(db, "office-a", PASSWORD, name="A办", community=a)
    add_coordinator(db, "office-b", PASSWORD, name="B办", community=b)
    add_coordinator(db, "office-a-gone", PASSWORD, name="A办2", community=a)
    add_coordinator(db, "office-sample", PASSWORD, name="样本", community=a)
    cookies_a, csrf_a, node_a = _login(server, "office-a")
    _, _, device_b = _login(server, "office-b")
    cli("revoke", "--db", db, device_b)  # a device of B, revoked: 409 to those who see it
    cookies_gone, csrf_gone, node_gone = _login(server, "office-a-gone")
    r = httpx.post(
        f"{server.url}/api/v1/logout", cookies=cookies_gone, headers=csrf_gone, timeout=10
    )
    assert r.status_code == 200, r.text
    # A device of community A, revoked: revoking it again is a 409 for those who see it.
    _, _, revoked_node_a = _login(server, "office-a")
    cli("revoke", "--db", db, revoked_node_a)
    gone_phone = server.enroll("volunteer", "已撤销")
    cli("revoke", "--db", db, gone_phone.node)
    r = httpx.post(f"{server.url}/api/v1/incidents/{inc_a}/share", headers=coordinator_all.headers)
    assert r.status_code == 200, r.text
    callers = {
        "anonymous": Caller("anonymous"),
        "volunteer": Caller("volunteer", volunteer.headers, node=volunteer.node),
        "coordinator_a": Caller("coordinator_a", csrf_a, cookies_a, node_a),
        "coordinator_all": Caller(
            "coordinator_all", coordinator_all.headers, node=coordinator_all.node
        ),
        "revoked": Caller("revoked", gone_phone.headers, node=gone_phone.node),
        "logged_out": Caller("logged_out", csrf_gone, cookies_gone, node_gone),
        "resident": Caller("resident"),
    }
    return World(
        server,
        a,
        b,
        inc_a,
        inc_b,
        h_a,
        h_b,
        r.json()["token"],
        coordinator_all,
        volunteer,
        revoked_node_a,
        device_b,
        callers,
    )


@dataclass
class Sample:
    """One request per target: ``own`` (inside community A), ``foreign`` (community B)."""

    make: Callable[[World, Caller, str], tuple[str, Any]]
    ok: int = 200
    scoped: bool = False  # has a foreign target (a coordinator of A must get 404)
    stream: bool = False


def _fixed(path: str, body: Any = None) -> Callable[[World, Caller, str], tuple[str, Any]]:
    return lambda w, c, t: (path, body)


def _incident(suffix: str) -> Callable[[World, Caller, str], tuple[str, Any]]:
    return lambda w, c, t: (
        f"/api/v1/incidents/{w.incident_a if t == 'own' else w.incident_b}{suffix}",
        None,
    )


SAMPLES: dict[tuple[str, str], Sample] = {
    ("GET", "/healthz"): Sample(_fixed("/healthz")),
    ("POST", "/api/v1/enroll"): Sample(_fixed("/api/v1/enroll", {"code": "ZZZZ-ZZZZ"}), ok=400),
    ("POST", "/api/v1/login"): Sample(
        _fixed("/api/v1/login", {"login": "office-sample", "password": PASSWORD})
    ),
    ("GET", "/sw.js"): Sample(_fixed("/sw.js")),
    ("GET", "/resident-sw.js"): Sample(_fixed("/resident-sw.js")),
    ("GET", "/{file_path:path}"): Sample(_fixed("/index.html")),
    ("HEAD", "/{file_path:path}"): Sample(_fixed("/index.html")),
    ("GET", "/"): Sample(_fixed("/")),
    ("POST", "/api/v1/sync"): Sample(
        lambda w, c, t: ("/api/v1/sync", {"node": c.node, "cursor": 0, "changes": []})
    ),
    ("GET", "/api/v1/session"): Sample(_fixed("/api/v1/session")),
    ("GET", "/api/v1/nudges"): Sample(_fixed("/api/v1/nudges"), stream=True),
    ("GET", "/api/v1/roster"): Sample(_fixed("/api/v1/roster")),
    ("GET", "/api/v1/snapshot"): Sample(_fixed("/api/v1/snapshot")),
    ("GET", "/api/v1/incidents"): Sample(_fixed("/api/v1/incidents")),
    ("GET", "/api/v1/incidents/{incident:str}/brief"): Sample(_incident("/brief"), scoped=True),
    ("GET", "/api/v1/incidents/{incident:str}/checks"): Sample(_incident("/checks"), scoped=True),
    # The test talks to the server directly over loopback, which is what /metrics allows
    # when no DOORSTEP_METRICS_TOKEN is set (tests/test_metrics.py covers the refusals).
    ("GET", "/metrics"): Sample(_fixed("/metrics")),
    ("POST", "/api/v1/logout"): Sample(_fixed("/api/v1/logout")),
    ("GET", "/api/v1/incidents/{incident:str}/progress"): Sample(
        _incident("/progress"), scoped=True
    ),
    ("POST", "/api/v1/incidents/{incident:str}/share"): Sample(_incident("/share"), scoped=True),
    ("GET", "/api/v1/incidents/{incident:str}/export"): Sample(_incident("/export"), scoped=True),
    ("GET", "/api/v1/events"): Sample(_fixed("/api/v1/events"), stream=True),
    ("GET", "/api/v1/quarantine"): Sample(_fixed("/api/v1/quarantine")),
    ("POST", "/api/v1/quarantine/{qid:int}/resolve"): Sample(
        lambda w, c, t: (
            f"/api/v1/quarantine/{w.quarantined(w.household_a if t == 'own' else w.household_b)}"
            "/resolve",
            None,
        ),
        scoped=True,
    ),
    ("GET", "/api/v1/records/{coll:str}/{rid:str}/history"): Sample(
        lambda w, c, t: (
            f"/api/v1/records/households/{w.household_a if t == 'own' else w.household_b}/history",
            None,
        ),
        scoped=True,
    ),
    ("GET", "/api/v1/live/stats"): Sample(_fixed("/api/v1/live/stats")),
    ("GET", "/api/v1/devices"): Sample(_fixed("/api/v1/devices")),
    ("POST", "/api/v1/devices/{node:str}/revoke"): Sample(
        lambda w, c, t: (
            f"/api/v1/devices/{w.revoked_node_a if t == 'own' else w.device_b}/revoke",
            None,
        ),
        ok=409,  # own: already revoked — the rule let the caller through
        scoped=True,
    ),
    ("GET", "/api/v1/people"): Sample(_fixed("/api/v1/people")),
    ("POST", "/api/v1/ledger"): Sample(
        lambda w, c, t: (
            "/api/v1/ledger",
            {
                "file": "5qW85Y+3LOmXqOeJjOWPtwozLDQwMQo=",  # "楼号,门牌号\n3,401\n"
                "community": w.community_a if t == "own" else w.community_b,
                "dry_run": True,
            },
        ),
        scoped=True,
    ),
    ("GET", "/api/v1/invites"): Sample(_fixed("/api/v1/invites")),
    ("POST", "/api/v1/invites"): Sample(_fixed("/api/v1/invites", {"people": [{"name": "样本"}]})),
    ("POST", "/api/v1/people/{person:str}/invite"): Sample(
        lambda w, c, t: (f"/api/v1/people/{w.volunteer.person}/invite", {})
    ),
    ("POST", "/api/v1/people/{person:str}/invites/revoke"): Sample(
        lambda w, c, t: (f"/api/v1/people/{w.volunteer.person}/invites/revoke", None)
    ),
    # An empty body: 400 for every coordinator, after the rule let them through (only a
    # coordinator of every community may add one: tests/test_invites.py).
    ("POST", "/api/v1/coordinators"): Sample(_fixed("/api/v1/coordinators", {}), ok=400),
    ("POST", "/api/v1/setup"): Sample(
        _fixed("/api/v1/setup", {"code": "ZZZZ-ZZZZ", "login": "x", "password": "x" * 12}),
        ok=400,
    ),
    ("GET", "/r/{token:str}"): Sample(lambda w, c, t: (f"/r/{w.share_a}", None)),
    ("GET", "/r/{token:str}/qr.svg"): Sample(lambda w, c, t: (f"/r/{w.share_a}/qr.svg", None)),
    ("GET", "/api/v1/public/{token:str}"): Sample(
        lambda w, c, t: (f"/api/v1/public/{w.share_a}", None)
    ),
    ("GET", "/api/v1/public/{token:str}/events"): Sample(
        lambda w, c, t: (f"/api/v1/public/{w.share_a}/events", None), stream=True
    ),
    ("POST", "/api/v1/public/{token:str}/push"): Sample(
        lambda w, c, t: (
            f"/api/v1/public/{w.share_a}/push",
            {"endpoint": "https://evil.example/x", "keys": {"p256dh": "x" * 60, "auth": "y" * 20}},
        ),
        ok=400,  # let through, then refused for its endpoint
    ),
    ("POST", "/api/v1/public/{token:str}/push/unsubscribe"): Sample(
        lambda w, c, t: (
            f"/api/v1/public/{w.share_a}/push/unsubscribe",
            {"endpoint": "https://fcm.googleapis.com/x"},
        )
    ),
}


def _routes() -> list[tuple[str, str, RouteAccess | None]]:
    app = create_app(db=":memory:")
    out = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            for method in sorted(getattr(handler, "http_methods", ()) or ()):
                if method == "OPTIONS" or route.path.startswith("/schema"):
                    continue
                out.append((method, route.path, route_access_of(handler)))
    # Sorted: the order of one path's handlers differs between processes, and the
    # xdist workers of .ci/run must collect the same tests in the same order.
    return sorted(out, key=lambda r: (r[1], r[0]))


def test_every_route_has_a_rule_and_a_sample() -> None:
    routes = _routes()
    assert len(routes) >= 25
    missing = [(m, p) for m, p, rule in routes if rule is None]
    assert not missing, f"routes without an access rule: {missing}"
    unsampled = [(m, p) for m, p, _ in routes if (m, p) not in SAMPLES]
    assert not unsampled, f"routes without a sample in tests/test_routes.py: {unsampled}"


def expected(rule: RouteAccess, caller: str, target: str, ok: int) -> int:
    if rule in (RouteAccess.PUBLIC, RouteAccess.RESIDENT, RouteAccess.OPERATOR):
        return ok
    if caller in ("anonymous", "revoked", "logged_out", "resident"):
        return 401
    if rule == RouteAccess.DEVICE:
        return ok
    if caller == "volunteer":
        return 403
    if caller == "coordinator_a" and target == "foreign":
        return 404
    return ok


def _send(world: World, caller: Caller, method: str, path: str, body: Any, stream: bool) -> int:
    with httpx.Client(base_url=world.server.url, cookies=caller.cookies, timeout=30) as client:
        if stream:
            with client.stream(method, path, headers=caller.headers) as r:
                return r.status_code
        return client.request(method, path, headers=caller.headers, json=body).status_code


def _cases() -> list[tuple[str, str, str, str]]:
    out = []
    for method, path, _ in _routes():
        if (method, path) == ("POST", "/api/v1/logout"):
            continue  # ends the caller's session: tested last, below
        sample = SAMPLES.get((method, path))
        targets = ("own", "foreign") if sample is not None and sample.scoped else ("own",)
        for caller in CALLERS:
            for target in targets:
                out.append((method, path, caller, target))
    return out


@pytest.mark.parametrize(("method", "path", "caller", "target"), _cases())
def test_route_answers_each_caller_by_its_rule(
    world: World, method: str, path: str, caller: str, target: str
) -> None:
    rule = {(m, p): r for m, p, r in _routes()}[(method, path)]
    assert rule is not None
    sample = SAMPLES[(method, path)]
    who = world.callers[caller]
    url, body = sample.make(world, who, target)
    got = _send(world, who, method, url, body, sample.stream)
    assert got == expected(rule, caller, target, sample.ok), (method, url, caller, target)


def test_a_wrong_residents_link_is_a_404_for_everyone(world: World) -> None:
    for caller in world.callers.values():
        assert _send(world, caller, "GET", "/api/v1/public/not-a-real-token-1", None, False) == 404


def _get(world: World, caller: str, path: str) -> Any:
    who = world.callers[caller]
    with httpx.Client(base_url=world.server.url, cookies=who.cookies, timeout=30) as client:
        r = client.get(path, headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_community_coordinator_lists_only_its_communitys_quarantine(world: World) -> None:
    mine, theirs = world.quarantined(world.household_a), world.quarantined(world.household_b)
    seen = {q["qid"] for q in _get(world, "coordinator_a", "/api/v1/quarantine?all=true")}
    assert mine in seen and theirs not in seen
    everything = {q["qid"] for q in _get(world, "coordinator_all", "/api/v1/quarantine")}
    assert {mine, theirs} <= everything


def test_a_community_coordinator_lists_only_its_communitys_devices_and_people(
    world: World,
) -> None:
    nodes = {d["node"] for d in _get(world, "coordinator_a", "/api/v1/devices")}
    assert world.revoked_node_a in nodes and world.volunteer.node in nodes
    assert world.device_b not in nodes and world.coordinator_all.node not in nodes
    people = {p["name"] for p in _get(world, "coordinator_a", "/api/v1/people")}
    assert {"A办", "志愿者A"} <= people and not {"B办", "街道办"} & people
    assert world.device_b in {d["node"] for d in _get(world, "coordinator_all", "/api/v1/devices")}


@pytest.mark.parametrize("caller", CALLERS)
def test_logout_answers_each_caller_by_its_rule(world: World, caller: str) -> None:
    who = world.callers[caller]
    want = expected(RouteAccess.DEVICE, caller, "own", 200)
    assert _send(world, who, "POST", "/api/v1/logout", None, False) == want
