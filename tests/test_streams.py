"""Live streams against real server processes (uvicorn in a subprocess, httpx-sse)."""

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from conftest import LiveServer, Phone, Stamper, eventually
from httpx_sse import ServerSentEvent, connect_sse

from server.ops.demo import HEATING
from sync.ids import uuid7

READ = httpx.Timeout(20.0)


class Stream:
    """An open SSE connection read synchronously, event by event."""

    def __init__(self, events: Iterator[ServerSentEvent], response: httpx.Response) -> None:
        self._events, self.response = events, response

    def next(self) -> ServerSentEvent:
        return next(self._events)

    def changes_until(self, seq: int) -> list[dict]:
        """Change items from ``change`` events until one with ``seq`` >= the given one."""
        out: list[dict] = []
        while not out or out[-1]["seq"] < seq:
            ev = self.next()
            if ev.event == "change":
                items = json.loads(ev.data)["changes"]
                assert int(ev.id) == items[-1]["seq"]
                out.extend(items)
        return out

    def until(self, kind: str, pred=lambda d: True) -> tuple[ServerSentEvent, dict]:
        while True:
            ev = self.next()
            if ev.event == kind:
                data = json.loads(ev.data)
                if pred(data):
                    return ev, data


@contextmanager
def sse(server: LiveServer, path: str, headers: dict | None = None) -> Iterator[Stream]:
    with (
        httpx.Client(base_url=server.url, timeout=READ) as client,
        connect_sse(client, "GET", path, headers=headers or {}) as source,
    ):
        assert source.response.status_code == 200, source.response.read()
        assert source.response.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in source.response.headers
        yield Stream(source.iter_sse(), source.response)


# One server of each kind for the module: each test enrolls its own devices, reads the
# coordinator stream from the top it finds, and waits for its own streams to be freed.
@pytest.fixture(scope="module")
def live_server(module_live_server: LiveServer) -> LiveServer:
    return module_live_server


@pytest.fixture(scope="module")
def empty_server(module_empty_server: LiveServer) -> LiveServer:
    return module_empty_server


def visits(phone: Phone, stamp: Stamper, n: int) -> list[dict]:
    return [
        {"coll": "visits", "id": uuid7(), "field": "outcome", "value": "reached", "hlc": stamp()}
        for _ in range(n)
    ]


def push(phone: Phone, changes: list[dict]) -> int:
    r = phone.sync(changes)
    assert r.status_code == 200 and r.json()["rejected"] == [], r.text
    return r.json()["cursor"]


def top(server: LiveServer) -> int:
    return server.query("SELECT max(seq) FROM history")[0][0] or 0


def test_coordinator_stream_sends_changes_in_order_with_seq_ids(live_server: LiveServer) -> None:
    coord = live_server.enroll("coordinator", "主任")
    vol = live_server.enroll()
    stamp = Stamper(vol.node)
    with sse(live_server, "/api/v1/events", coord.headers) as stream:
        sent = []
        for _ in range(3):
            batch = visits(vol, stamp, 40)
            push(vol, batch)
            sent.extend(batch)
        got = stream.changes_until(top(live_server))
    seqs = [c["seq"] for c in got]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    assert [c["hlc"] for c in got] == [c["hlc"] for c in sent]


def test_sse_resumes_from_last_event_id_losing_and_repeating_nothing(
    live_server: LiveServer,
) -> None:
    coord = live_server.enroll("coordinator", "主任")
    vol = live_server.enroll()
    stamp = Stamper(vol.node)
    start = top(live_server)
    with sse(live_server, "/api/v1/events", coord.headers) as stream:
        push(vol, visits(vol, stamp, 30))
        first = stream.changes_until(top(live_server))
        last_id = first[-1]["seq"]
    missed = visits(vol, stamp, 700)  # more than one frame's worth while disconnected
    push(vol, missed)
    headers = {**coord.headers, "Last-Event-ID": str(last_id)}
    with sse(live_server, "/api/v1/events", headers) as stream:
        push(vol, visits(vol, stamp, 5))
        second = stream.changes_until(top(live_server))
    everything = [c["seq"] for c in first + second]
    expected = [
        r[0]
        for r in live_server.query("SELECT seq FROM history WHERE seq > ? ORDER BY seq", (start,))
    ]
    assert everything == expected
    assert {c["hlc"] for c in second} >= {c["hlc"] for c in missed}


def test_two_processes_on_one_database_deliver_the_same_sequence(
    live_server: LiveServer,
) -> None:
    other = LiveServer(live_server.db_path).start()
    try:
        coord = live_server.enroll("coordinator", "主任")
        vol_a, vol_b = live_server.enroll(), other.enroll()
        sa, sb = Stamper(vol_a.node), Stamper(vol_b.node)
        with (
            sse(live_server, "/api/v1/events", coord.headers) as one,
            sse(other, "/api/v1/events", coord.headers) as two,
        ):
            for _ in range(4):  # writes land on both processes, interleaved
                push(vol_a, visits(vol_a, sa, 25))
                push(vol_b, visits(vol_b, sb, 25))
            end = top(live_server)
            got_one = one.changes_until(end)
            got_two = two.changes_until(end)
        assert [c["seq"] for c in got_one] == [c["seq"] for c in got_two]
        assert [c["hlc"] for c in got_one] == [c["hlc"] for c in got_two]
        assert len(got_one) == 200
    finally:
        other.stop()


def stats(server: LiveServer, coord: Phone) -> dict:
    r = httpx.get(f"{server.url}/api/v1/live/stats", headers=coord.headers)
    assert r.status_code == 200
    return r.json()["streams"]


def wait_for(pred, what: str, timeout: float = 15.0) -> None:
    eventually(pred, what, timeout=timeout)


def share(server: LiveServer, coord: Phone, incident: str = HEATING) -> str:
    r = httpx.post(f"{server.url}/api/v1/incidents/{incident}/share", headers=coord.headers)
    assert r.status_code == 200, r.text
    return r.json()["token"]


def test_a_client_that_disconnects_is_cleaned_up(live_server: LiveServer) -> None:
    coord = live_server.enroll("coordinator", "主任")
    token = share(live_server, coord)
    with sse(live_server, f"/api/v1/public/{token}/events") as stream:
        stream.until("public")
        with sse(live_server, "/api/v1/events", coord.headers):
            wait_for(
                lambda: stats(live_server, coord) == {"coord": 1, f"public:{HEATING}": 1},
                "both streams registered",
            )
        wait_for(
            lambda: stats(live_server, coord) == {f"public:{HEATING}": 1},
            "the coordinator stream to be freed",
        )
    wait_for(lambda: stats(live_server, coord) == {}, "the public stream to be freed")


def public_update(vol: Phone, stamp: Stamper, text: str, public: bool = True) -> dict:
    uid = uuid7()
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    fields = {"incident": HEATING, "at": at, "text": text, "public": public}
    push(
        vol,
        [
            {"coll": "updates", "id": uid, "field": f, "value": v, "hlc": stamp()}
            for f, v in fields.items()
        ],
    )
    return {"id": uid, **fields}


def test_public_stream_sends_the_view_then_each_change_and_resumes_without_repeats(
    live_server: LiveServer,
) -> None:
    coord = live_server.enroll("coordinator", "主任")
    token = share(live_server, coord)
    stamp = Stamper(coord.node)
    with sse(live_server, f"/api/v1/public/{token}/events") as stream:
        first, view = stream.until("public")
        assert view["type"] == "public" and view["progress"]["affected"] == 741
        public_update(coord, stamp, "第二处漏点焊接完成，正在注水。")
        ev, view = stream.until("public")
        assert view["progress"]["updates"][0]["text"] == "第二处漏点焊接完成，正在注水。"
        assert ev.id != first.id  # a new view, a new (opaque) version
        last_id = ev.id
    # Reconnecting with the id of the newest view: nothing is sent again, the next
    # change is.
    headers = {"Last-Event-ID": last_id}
    with sse(live_server, f"/api/v1/public/{token}/events", headers) as stream:
        public_update(coord, stamp, "已开始注水升温。")
        ev, view = stream.until("public")
        assert view["progress"]["updates"][0]["text"] == "已开始注水升温。"
        assert ev.id != last_id


def test_residents_never_see_the_servers_change_counter(live_server: LiveServer) -> None:
    """Issue 9, hole 9: the residents' version is the view's own, not the global log
    position, which would show how busy every other community is."""
    coord = live_server.enroll("coordinator", "主任")
    token = share(live_server, coord)
    stamp = Stamper(coord.node)
    public_update(coord, stamp, "抢修队已到场。")
    with sse(live_server, f"/api/v1/public/{token}/events") as stream:
        ev, view = stream.until("public")
    top_now = top(live_server)
    versions = {int(ev.id), view["progress"]["seq"]}
    r = httpx.get(f"{live_server.url}/api/v1/public/{token}", timeout=30)
    versions.add(r.json()["seq"])
    assert len(versions) == 1, versions  # one version of one view, wherever it is read
    assert not 0 <= versions.pop() <= top_now


def test_internal_updates_and_unrelated_changes_send_nothing_public(
    live_server: LiveServer,
) -> None:
    coord = live_server.enroll("coordinator", "主任")
    token = share(live_server, coord)
    stamp = Stamper(coord.node)
    with sse(live_server, f"/api/v1/public/{token}/events") as stream:
        stream.until("public")
        public_update(coord, stamp, "内部：库房还有电暖气12台", public=False)
        public_update(coord, stamp, "公开：今晚恢复供暖")
        # Every view sent until the public update shows (the module's server is shared:
        # another change may send one first), none with the internal note.
        views: list[dict] = []

        def shows_public(view: dict) -> bool:
            views.append(view)
            return any(u["text"] == "公开：今晚恢复供暖" for u in view["progress"]["updates"])

        stream.until("public", shows_public)
    assert not any("内部" in u["text"] for v in views for u in v["progress"]["updates"])


def test_idle_streams_get_comment_pings(tmp_path, monkeypatch, backend) -> None:
    monkeypatch.setenv("DOORSTEP_SSE_PING", "0.2")
    server = LiveServer(str(tmp_path / "ping.db")).start()
    try:
        coord = server.enroll("coordinator", "主任")
        with (
            httpx.Client(base_url=server.url, timeout=READ) as client,
            client.stream("GET", "/api/v1/events", headers=coord.headers) as r,
        ):
            lines = r.iter_lines()
            pings = 0
            while pings < 2:
                if next(lines).startswith(":"):
                    pings += 1
    finally:
        server.stop()


@pytest.mark.parametrize("header", [None, "Bearer nope"])
def test_coordinator_stream_needs_a_token(empty_server: LiveServer, header) -> None:
    headers = {"Authorization": header} if header else {}
    r = httpx.get(f"{empty_server.url}/api/v1/events", headers=headers)
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"


def test_volunteer_may_not_read_the_coordinator_stream(empty_server: LiveServer) -> None:
    vol = empty_server.enroll()
    r = httpx.get(f"{empty_server.url}/api/v1/events", headers=vol.headers)
    assert r.status_code == 403 and set(r.json()) == {"error", "message", "details"}


def test_bad_last_event_id_is_a_400(empty_server: LiveServer) -> None:
    coord = empty_server.enroll("coordinator", "主任")
    # "²" is a digit to Python's str.isdigit and a header byte (latin-1), not a number.
    for bad in (b"abc", "²".encode("latin-1"), b"-1"):
        r = httpx.get(
            f"{empty_server.url}/api/v1/events", headers={**coord.headers, "Last-Event-ID": bad}
        )
        assert r.status_code == 400 and r.json()["error"] == "invalid_event_id", bad


def test_unknown_share_token_is_a_404_everywhere(empty_server: LiveServer) -> None:
    for path in (
        "/r/notarealtoken123",
        "/api/v1/public/notarealtoken123",
        "/api/v1/public/notarealtoken123/events",
    ):
        r = httpx.get(f"{empty_server.url}{path}")
        assert r.status_code == 404 and r.json()["error"] == "no_share", path
