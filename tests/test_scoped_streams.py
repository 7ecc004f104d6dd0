"""The coordinator stream of a coordinator limited to a community carries only what their
pulls would (issue 5), against a real server process with httpx-sse."""

import json
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from conftest import LiveServer, Stamper
from httpx_sse import connect_sse
from test_streams import READ, Stream, push, top

from server.ops.access_commands import add_coordinator

PASSWORD = "night shift 3am"


def community_of(server: LiveServer, coll: str, rid: str) -> str:
    field = "community" if coll != "households" else "building"
    [(value,)] = server.query(
        "SELECT value FROM winners WHERE coll = ? AND id = ? AND field = ?", (coll, rid, field)
    )
    value = json.loads(value)
    return value if coll != "households" else community_of(server, "buildings", value)


def household_in_each_community(server: LiveServer) -> dict[str, str]:
    out: dict[str, str] = {}
    rows = server.query(
        "SELECT id FROM winners WHERE coll = 'households' AND field = 'building' ORDER BY id"
    )
    for (hid,) in rows:
        out.setdefault(community_of(server, "households", hid), hid)
    assert len(out) >= 2, "the demo has two communities"
    return out


@contextmanager
def logged_in_stream(
    server: LiveServer, login: str, headers: dict | None = None
) -> Iterator[Stream]:
    """The stream of a coordinator who logged in with a password (session cookie)."""
    with httpx.Client(base_url=server.url, timeout=READ) as client:
        r = client.post("/api/v1/login", json={"login": login, "password": PASSWORD})
        assert r.status_code == 200, r.text
        with connect_sse(client, "GET", "/api/v1/events", headers=headers or {}) as source:
            assert source.response.status_code == 200, source.response.read()
            yield Stream(source.iter_sse(), source.response)


def read_until(stream: Stream, value: str) -> tuple[set[str], set[str]]:
    """(record ids of changes, incidents of progress events) until a change to ``value``."""
    ids: set[str] = set()
    values: set[object] = set()
    incidents: set[str] = set()
    while value not in values:
        ev = stream.next()
        data = json.loads(ev.data) if ev.data else {}
        if ev.event == "change":
            ids |= {c["id"] for c in data["changes"]}
            values |= {c["value"] for c in data["changes"] if isinstance(c["value"], str)}
        elif ev.event == "progress":
            incidents.add(data["progress"]["incident"])
    return ids, incidents


def test_community_coordinator_never_sees_another_communitys_household_change(
    live_server: LiveServer,
) -> None:
    (a, h_a), (b, h_b) = list(household_in_each_community(live_server).items())[:2]
    add_coordinator(live_server.db_path, "office-a", PASSWORD, name="A办", community=a)
    writer = live_server.enroll("coordinator", "街道办")  # no community: writes anywhere
    stamp = Stamper(writer.node)
    start = top(live_server)

    def note(hid: str, text: str) -> list[dict]:
        return [{"coll": "households", "id": hid, "field": "notes", "value": text, "hlc": stamp()}]

    with (
        logged_in_stream(live_server, "office-a") as scoped,
        connect_sse(
            httpx.Client(base_url=live_server.url, timeout=READ),
            "GET",
            "/api/v1/events",
            headers=writer.headers,
        ) as everything,
    ):
        # B's change first: were it leaked, the scoped stream would get it before A's.
        push(writer, note(h_b, "B栋的备注"))
        push(writer, note(h_a, "A栋的备注"))
        seen, incidents = read_until(scoped, "A栋的备注")
        assert h_b not in seen
        assert all(community_of(live_server, "incidents", i) == a for i in incidents)
        both, _ = read_until(Stream(everything.iter_sse(), everything.response), "A栋的备注")
        assert {h_a, h_b} <= both

    # Resuming with Last-Event-ID replays the missed changes through the same filter.
    push(writer, note(h_b, "B栋的第二条备注"))
    push(writer, note(h_a, "A栋的第二条备注"))
    with logged_in_stream(live_server, "office-a", {"Last-Event-ID": str(start)}) as again:
        seen, _ = read_until(again, "A栋的第二条备注")
        assert h_b not in seen and h_a in seen
    assert b != a
