"""The residents' stream served outside Litestar's per-request machinery (server/live/residents.py)
keeps every promise of the route: headers, errors, rate limits, cleanup."""

import asyncio
import json
from types import SimpleNamespace

import httpx
import pytest
from conftest import LiveServer, run_async
from test_streams import share, sse, stats, wait_for

from server.db import changes, open_database
from server.guards.security import CSP
from server.live.broker import Broker
from server.live.residents import PublicStream


async def _open_and_close(port: int, path: str, n: int, at_once: int = 100) -> int:
    """``n`` streams, ``at_once`` at a time: each reads its first ``public`` event and goes."""
    got = 0

    async def one() -> None:
        nonlocal got
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            buf = b""
            while b"event: public" not in buf:
                chunk = await reader.read(65536)
                if not chunk:
                    return
                buf += chunk
            got += 1
        finally:
            writer.close()

    for i in range(0, n, at_once):
        await asyncio.gather(*(one() for _ in range(min(at_once, n - i))))
    return got


@pytest.fixture(scope="module")
def live_server(module_live_server: LiveServer) -> LiveServer:
    """One demo server for the module: each test waits for its own streams to be freed,
    and the rate-limit test guesses from an address of its own."""
    return module_live_server


def test_two_thousand_streams_open_and_close_and_leave_nothing_open(
    live_server: LiveServer,
) -> None:
    coord = live_server.enroll("coordinator", "主任")
    token = share(live_server, coord)
    port = int(live_server.url.rsplit(":", 1)[1])
    got = run_async(_open_and_close(port, f"/api/v1/public/{token}/events", 2000))
    assert got == 2000
    wait_for(lambda: stats(live_server, coord) == {}, "every resident stream to be freed")
    metrics = httpx.get(f"{live_server.url}/metrics").text
    assert 'doorstep_open_streams{kind="public"} 0.0' in metrics


def test_the_lean_stream_has_the_routes_headers(live_server: LiveServer) -> None:
    coord = live_server.enroll("coordinator", "主任")
    token = share(live_server, coord)
    with sse(live_server, f"/api/v1/public/{token}/events") as stream:
        stream.until("public")
        h = stream.response.headers
        assert h["content-security-policy"] == CSP
        assert h["referrer-policy"] == "no-referrer" and h["x-frame-options"] == "DENY"
        assert h["cache-control"] == "no-cache, no-transform"
        assert h["content-type"] == "text/event-stream; charset=utf-8"


def test_the_lean_stream_keeps_the_routes_errors_and_rate_limit(
    live_server: LiveServer,
) -> None:
    coord = live_server.enroll("coordinator", "主任")
    token = share(live_server, coord)
    url = f"{live_server.url}/api/v1/public/{token}/events"
    bad = httpx.get(url, headers={"Last-Event-ID": "abc"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_event_id"
    assert "content-security-policy" in bad.headers
    # An address that guessed too many links is refused further unknown ones, as every
    # residents' route refuses them (server/guards/ratelimit.py), yet still gets the valid
    # stream (#22: one address may be a whole neighbourhood behind a carrier NAT).
    guesser = {"X-Forwarded-For": "198.18.7.7"}
    for i in range(21):
        r = httpx.get(
            f"{live_server.url}/api/v1/public/notarealtoken{i:03d}/events", headers=guesser
        )
        assert set(r.json()) == {"error", "message", "details"}
        assert r.status_code == (404 if i < 20 else 429), r.text
    with sse(live_server, f"/api/v1/public/{token}/events", guesser) as s:
        s.until("public")


class _Broker:
    """What ``PublicStream`` uses of the broker; the current view has version 7."""

    buffer, retry_ms = 8, 2000

    def __init__(self) -> None:
        self.subs: set = set()

    def attach(self, sub):
        self.subs.add(sub)
        return sub

    def unsubscribe(self, sub) -> None:
        self.subs.discard(sub)

    async def public(self, incident: str):
        return 40, b"id: 7\nevent: public\ndata: {}\n\n", SimpleNamespace(seq=7)

    public_current = public


async def _serve_once(last_id: int | None) -> tuple[list[bytes], _Broker]:
    """One stream under a plain ASGI caller (no ``ON_CLOSE``): it watches ``receive``."""
    broker, sent, gone = _Broker(), [], asyncio.Event()
    messages = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict:
        if messages:
            return messages.pop()
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message.get("body", b""))

    task = asyncio.create_task(PublicStream(broker, "i1", last_id)({}, receive, send))
    while not broker.subs or len(sent) < 2:
        await asyncio.sleep(0)
    (waiter,) = broker.subs
    waiter.offer(40, b"old")  # already in the view sent: left out
    waiter.offer(41, b"new")
    waiter.offer(-1, b": ping\n\n", True)
    while b": ping\n\n" not in sent:
        await asyncio.sleep(0)
    gone.set()
    await asyncio.wait_for(task, 5)
    return [b for b in sent if b], broker


def test_the_stream_under_another_asgi_server_resumes_exactly_and_cleans_up() -> None:
    frames, broker = run_async(_serve_once(None))
    assert frames[1:] == [b"id: 7\nevent: public\ndata: {}\n\n", b"new", b": ping\n\n"]
    assert frames[0].startswith(b"retry: ") and broker.subs == set()
    frames, broker = run_async(_serve_once(7))  # holds version 7: not sent again
    assert frames[1:] == [b"new", b": ping\n\n"] and broker.subs == set()


def test_a_resume_is_never_answered_with_a_view_older_than_the_database(fresh_db: str) -> None:
    # Server C's tailer had not yet read the update server A had already streamed (the
    # flaky multi-server test of issue 21): a resume there must get the newer view.
    def change(n: int, coll: str, rid: str, field: str, value: object) -> tuple:
        hlc = f"2026-12-07T21:{n:02d}:00.000Z-0000-cccccccccccccccc"
        return (hlc, coll, rid, field, json.dumps(value), "cccccccccccccccc", None, "x")

    def update(n: int, text: str) -> list[tuple]:
        return [
            change(n, "updates", f"u{n}", "incident", "i1"),
            change(n + 1, "updates", f"u{n}", "text", text),
            change(n + 2, "updates", f"u{n}", "public", True),
        ]

    async def main() -> tuple[list[str], list[str]]:
        async with open_database(fresh_db) as db:
            await db.write_tx(
                lambda conn: changes.apply_in(
                    conn,
                    [change(0, "incidents", "i1", "title", "停水"), *update(1, "抢修队已出发。")],
                ),
                appends=True,
            )
            # Its tailer reads the log only when woken (no poll within the test).
            broker = Broker(db, poll=600, slow_poll=600)
            await broker.start()
            try:
                await broker.public("i1")  # the view it holds: the first update
                await db.write_tx(
                    lambda conn: changes.apply_in(conn, update(10, "抢修队已到场。")), appends=True
                )  # streamed by server A
                stale = await broker.public("i1")
                current = await broker.public_current("i1")
            finally:
                await broker.stop()
            texts = [[u.text for u in got[2].updates] for got in (stale, current)]
            return texts[0], texts[1]

    stale, current = run_async(main())
    assert stale == ["抢修队已出发。"]
    assert current[0] == "抢修队已到场。"
