"""The residents' live view, served lean: a thousand neighbours may hold it open at once.

``GET /api/v1/public/<token>/events`` stays an ordinary route (its router's ``resident``
guard opens the token, the rate limits, security headers and error shape apply as to
every route), but the handler answers with ``PublicStream``, a small ASGI app that writes
``http.response.body`` chunks itself. Per open stream it holds one ``Waiter`` (a
registration in the broker: no queue, no ``asyncio.Event``; one future while it waits)
and the request's own task: no task group, no second task, no chain of async iterators.
Memory per stream is in docs/performance.md (``bench/fanout.py``).

The client's disconnect is learnt from the server's protocol (``server.http.listener`` calls
the callbacks the app leaves in the scope under ``ON_CLOSE`` when the connection is lost);
under another ASGI server a task reading ``receive`` does it instead.
"""

import asyncio
import contextlib
import re
from typing import Any

from litestar import Litestar
from litestar.connection import ASGIConnection

from server.errors import DoorstepError
from server.guards.caller import resident_incident
from server.guards.security import HEADERS, HSTS
from server.live.broker import Broker

__all__ = ["ON_CLOSE", "PublicStream", "Waiter", "lean_resident_streams"]

#: Scope key: a list of callables the server calls when the client's connection is lost.
ON_CLOSE = "doorstep.on_close"

_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),
]


class Waiter:
    """One resident's open stream as the broker sees it (the ``Subscriber`` interface:
    ``offer``, ``close``, ``dropped``, ``topic``, ``node``), holding frames only between
    an offer and the moment its task takes them."""

    __slots__ = ("_fut", "dropped", "frames", "limit", "node", "topic")

    def __init__(self, topic: str, limit: int) -> None:
        self.topic = topic
        self.limit = limit
        self.node: str | None = None
        self.frames: list[tuple[int, bytes, bool]] | None = None
        self.dropped = False
        self._fut: asyncio.Future[None] | None = None

    def offer(self, seq: int, data: bytes, state: bool = False) -> None:
        if self.dropped:
            return
        if self.frames is None:
            self.frames = []
        if len(self.frames) >= self.limit:
            self.close()  # too slow: its stream ends and the client resumes by id
            return
        self.frames.append((seq, data, state))
        self._wake()

    def close(self) -> None:
        """End the stream now: nothing offered and not yet taken is sent."""
        self.dropped = True
        self.frames = None
        self._wake()

    def _wake(self) -> None:
        fut = self._fut
        if fut is not None and not fut.done():
            fut.set_result(None)

    async def take(self) -> list[tuple[int, bytes, bool]]:
        """The frames offered since the last call (waits for one); empty once dropped."""
        while not self.dropped and not self.frames:
            self._fut = asyncio.get_running_loop().create_future()
            try:
                await self._fut
            finally:
                self._fut = None
        frames, self.frames = self.frames, None
        return [] if self.dropped or frames is None else frames


async def _until_disconnect(receive: Any, waiter: Waiter) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    waiter.close()


class PublicStream:
    """The ASGI answer of one resident stream: the view the client lacks, then each new
    one (``id`` = the view's opaque version, never the server's sequence), comment pings
    from the broker's one timer, and the end when the client goes or falls behind."""

    __slots__ = ("broker", "headers", "incident", "last_id")

    def __init__(
        self,
        broker: Broker,
        incident: str,
        last_id: int | None,
        headers: list[tuple[bytes, bytes]] = _HEADERS,
    ) -> None:
        self.broker, self.incident, self.last_id = broker, incident, last_id
        self.headers = headers

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        broker = self.broker
        waiter = Waiter(f"public:{self.incident}", broker.buffer)
        broker.attach(waiter)
        on_close: list[Any] | None = scope.get(ON_CLOSE)
        watcher = None
        if on_close is not None:
            on_close.append(waiter.close)
        else:
            watcher = asyncio.ensure_future(_until_disconnect(receive, waiter))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.headers})
            await _body(send, f"retry: {broker.retry_ms}\n\n".encode())
            if self.last_id is None:
                got = await broker.public(self.incident)
            else:  # a resume, perhaps from another server: never an older view
                got = await broker.public_current(self.incident)
            sent = 0
            if got is not None:
                seq, raw, pub = got
                if self.last_id is None or self.last_id != pub.seq:
                    await _body(send, raw)
                sent = seq
            while frames := await waiter.take():
                for seq, raw, state in frames:
                    if state or seq > sent:
                        await _body(send, raw)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            broker.unsubscribe(waiter)
            if watcher is not None:
                watcher.cancel()
            if on_close is not None:
                with contextlib.suppress(ValueError):
                    on_close.remove(waiter.close)


async def _body(send: Any, data: bytes) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": True})


_PATH = re.compile(r"^/api/v1/public/([^/]+)/events$")


def lean_resident_streams(app: Litestar, https: bool = False) -> Any:
    """The ASGI app ``doorstep serve`` runs: ``app``, except that a resident stream that
    will be answered 200 is served here, outside Litestar's per-request machinery (its
    ``Request``, middleware frames and response objects would stay alive as long as the
    stream: about 7 KiB each, measured by ``bench/fanout.py``).

    The access decision is the same function the route's ``resident`` guard calls
    (``caller.resident_incident``). Anything else goes to ``app`` unchanged, which answers
    it with the route's own errors, rate limits and headers: an unknown token, a bad
    ``Last-Event-ID``, a client the rate limiter currently refuses, another method.
    The route stays in Litestar's table (tests/test_routes.py walks it; ``TestClient``
    serves it there) and answers with the same ``PublicStream``.
    """
    headers = [*_HEADERS, *HEADERS, *((HSTS,) if https else ())]

    async def serve(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            match = _PATH.match(scope["path"])
            stream = await _open(app, scope, match.group(1), headers) if match else None
            if stream is not None:
                await stream(scope, receive, send)
                return
        await app(scope, receive, send)

    return serve


async def _open(
    app: Litestar, scope: Any, token: str, headers: list[tuple[bytes, bytes]]
) -> PublicStream | None:
    """The stream to serve here, or None to let the app answer (with its errors)."""
    state = app.state
    limiter = getattr(state, "limiter", None)
    broker = getattr(state, "broker", None)
    if limiter is None or broker is None:
        return None
    client = (scope.get("client") or ("unknown", 0))[0]
    rules = limiter.matching("GET", scope["path"])
    try:
        hit = await limiter.check(rules, client)
        if hit is not None and not hit[0].spare_known:  # a known link is served (#22)
            return None
    except Exception:  # the app answers it (and logs why)
        return None
    last_id: int | None = None
    for name, value in scope["headers"]:
        if name == b"last-event-id":
            raw = value.decode("latin-1").strip()
            if raw and not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
                return None  # the app answers 400 invalid_event_id
            last_id = int(raw) if raw else None
            break
    scope["litestar_app"] = app
    try:
        incident = await resident_incident(ASGIConnection(scope), token)
    except DoorstepError:
        return None  # the app answers 404 no_share (and counts the failure)
    except Exception:  # the app answers it, with its error shape and its log line
        return None
    return PublicStream(broker, incident, last_id, headers)
