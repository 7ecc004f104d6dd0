"""Slow clients cannot exhaust the server: read deadlines and a connection cap (#9).

uvicorn (0.54, h11) has no deadline on reading a request: ``--timeout-keep-alive`` is
armed only after a response, so a connection that sends half a header is kept forever.
With 1,100 of them under a 1,024 open-file limit, ``accept()`` failed with EMFILE in a
loop (asyncio logs a traceback per try: 14 MB in 6 s) and ``/healthz`` timed out.
``--limit-concurrency`` does not help: it answers 503 only once a request is complete.

This module subclasses uvicorn's h11 protocol (passed as ``uvicorn.run(http=...)``, the
documented way to choose a protocol class) and adds:

* a **header deadline**: a request's header must be complete within ``header_timeout``
  seconds of the connection opening (or of the first byte of the next request on a
  kept-alive connection); otherwise 408 and close.
* a **body deadline**: the body must arrive within ``body_timeout`` seconds of the
  header; otherwise the connection is closed (the handler sees a disconnect).
* a **connection cap** below the open-file limit: when a new connection would exceed it,
  the connection that has been waiting longest for a request header (or idle between
  requests) is closed to make room; if every connection is busy with a request, the new
  one gets 503 at once. ``accept()`` therefore never runs out of files.

* **bodies in flight** (#22): a body must keep up a minimum average rate
  (``min_body_rate`` bytes/s over the time since ``body_grace`` seconds after its header), or
  the connection is closed. At most ``max_bodies`` bodies are read at once, and at most
  ``max_bodies_per_address`` from one client address; a body that would pass either cap
  closes the slowest body in flight (of that address, for the address cap: bytes received
  per second, over at least its first tenth of a second), so a phone's sync, whose body
  arrives whole at once, outlasts bodies that trickle. When the connection cap finds no
  idle connection to close, it too closes the slowest body. Slow bodies (1 byte / 5 s to
  the residents' public push endpoint, from 900 connections) used to hold every
  connection until the 60 s body deadline: ``/healthz`` and every phone got 503.

Closed slow connections are counted and reported in one log line per minute at most.
Responses (SSE streams, downloads) have no deadline: only reading the request does.
"""

import asyncio
import logging
import resource
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from server.errors import CLOSED_BY_SERVER
from server.live.residents import ON_CLOSE

__all__ = [
    "Limits",
    "accept_backlog",
    "body_limits",
    "default_max_connections",
    "guarded_protocol",
    "quiet_accept_errors",
    "raise_open_file_limit",
]

log = logging.getLogger("doorstep")


def _raw(status: str, code: str, message: str, extra: str = "") -> bytes:
    """A whole response in the one error shape, written before any request is read."""
    body = f'{{"error": "{code}", "message": "{message}", "details": null}}'.encode()
    head = (
        f"HTTP/1.1 {status}\r\nconnection: close\r\ncontent-type: application/json\r\n"
        f"{extra}content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


_408 = _raw("408 Request Timeout", "timeout", "the request was not sent in time; try again")
_503 = _raw(
    "503 Service Unavailable",
    "busy",
    "the server has too many connections; try again in a few seconds",
    "retry-after: 5\r\n",
)


_503_BODIES = _raw(
    "503 Service Unavailable",
    "busy",
    "the server is receiving too many uploads; try again in a few seconds",
    "retry-after: 5\r\n",
)

#: A body's rate is measured over at least this many seconds: one that just began is
#: judged by what it sent in its first tenth of a second (a phone's sync body, whole).
RATE_FLOOR = 0.1


@dataclass(frozen=True)
class Limits:
    """Read deadlines (seconds), the most connections held at once, and the bodies read
    at once (see ``body_limits`` for the defaults of the zeros)."""

    header_timeout: float = 10.0
    body_timeout: float = 60.0
    max_connections: int = 1000
    #: Bytes per second a body must average once ``body_grace`` seconds have passed.
    min_body_rate: float = 512.0
    body_grace: float = 5.0
    max_bodies: int = 0
    max_bodies_per_address: int = 0


def body_limits(max_connections: int, bodies: int = 0, per_address: int = 0) -> tuple[int, int]:
    """(bodies in flight at once, and per address): by default a quarter of the
    connections (so slow bodies never hold the rest), and an eighth of that per address
    (a carrier NAT puts many phones behind one, but their bodies take milliseconds)."""
    bodies = bodies or max(4, max_connections // 4)
    return bodies, per_address or max(2, bodies // 8)


@dataclass
class _Body:
    started: float
    address: str
    received: int = 0

    def rate(self, now: float) -> float:
        return self.received / max(now - self.started, RATE_FLOOR)


def raise_open_file_limit() -> int:
    """Raise the soft open-file limit to the hard one (as Go does since 1.19); return it.

    Services often start with a soft limit of 1,024 and a far higher hard limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if want > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):
            pass
    return soft


def accept_backlog(open_files: int) -> int:
    """The listen backlog. asyncio accepts up to this many connections in one go before
    the protocol sees any of them, so the cap must leave that many files free too."""
    return min(2048, max(64, open_files // 16))


def default_max_connections(open_files: int) -> int:
    """Connections to allow: the open-file limit less one accept burst and room for the
    database, the files being sent and the log (an eighth, at least 64)."""
    return max(16, open_files - accept_backlog(open_files) - max(64, open_files // 8))


class _Tally:
    """Counts closed slow connections; one log line per ``every`` seconds at most."""

    def __init__(self, every: float = 15.0) -> None:
        self.every, self.counts = every, dict[str, int]()
        self.flush: asyncio.TimerHandle | None = None

    def add(self, why: str) -> None:
        self.counts[why] = self.counts.get(why, 0) + 1
        if self.flush is None:
            self.flush = asyncio.get_running_loop().call_later(self.every, self._report)

    def _report(self) -> None:
        self.flush = None
        text = ", ".join(f"{n} {k}" for k, n in sorted(self.counts.items()))
        log.warning("connections closed in the last %.0f s: %s", self.every, text)
        self.counts.clear()


def guarded_protocol(limits: Limits) -> type[H11Protocol]:
    """uvicorn's h11 protocol with read deadlines and a connection cap (see module doc)."""
    waiting: OrderedDict[Any, None] = OrderedDict()  # connections not inside a request
    bodies: dict[Any, _Body] = {}  # connections whose request body is being read
    per_address: dict[str, int] = {}
    max_bodies, max_per_address = body_limits(
        limits.max_connections, limits.max_bodies, limits.max_bodies_per_address
    )
    tally = _Tally()
    sweeper: list[asyncio.TimerHandle] = []  # the one periodic check of body rates

    def shed_slowest(now: float, address: str | None = None) -> bool:
        """Close the slowest body in flight (of ``address``, if given)."""
        rates = [
            (body.rate(now), conn)
            for conn, body in bodies.items()
            if address in (None, body.address)
        ]
        if not rates:
            return False
        _, conn = min(rates, key=lambda pair: pair[0])
        tally.add("slowest body closed to make room")
        conn._closed_by_server()
        conn.transport.abort()
        return True

    def sweep() -> None:
        """Close every body below the minimum rate; runs each second while bodies exist."""
        sweeper.clear()
        if not bodies:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        for conn, body in list(bodies.items()):
            late = now - body.started - limits.body_grace
            if late > 0 and body.received < limits.min_body_rate * late:
                tally.add("body too slow")
                conn._closed_by_server()
                conn.transport.close()
        sweeper.append(loop.call_later(1.0, sweep))

    class GuardedH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None
        _phase = ""  # "header" or "body" while a deadline is armed

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if (
                len(self.connections) > limits.max_connections
                and not self._evict_one()
                and not shed_slowest(self.loop.time())
            ):
                tally.add("refused (all connections busy)")
                transport.write(_503)
                transport.close()
                return
            waiting[self] = None
            self._arm("header", limits.header_timeout)

        def _evict_one(self) -> bool:
            for other in waiting:
                if other is not self:
                    del waiting[other]
                    tally.add("closed to make room")
                    other._disarm()
                    other.transport.abort()
                    return True
            return False

        def connection_lost(self, exc: Exception | None) -> None:
            waiting.pop(self, None)
            self._disarm()
            cycle = self.cycle
            super().connection_lost(exc)
            for callback in tuple(cycle.scope.get(ON_CLOSE, ()) if cycle is not None else ()):
                callback()

        def handle_events(self) -> None:
            super().handle_events()
            # Before the request's task first runs: a stream may ask to be told when the
            # client goes (server/live/residents.py) instead of reading ``receive``.
            if self.cycle is not None and ON_CLOSE not in self.cycle.scope:
                self.cycle.scope[ON_CLOSE] = []  # type: ignore[literal-required]

        def data_received(self, data: bytes) -> None:
            if self._deadline is None and not self._in_request():
                self._arm("header", limits.header_timeout)  # the next request begins
            super().data_received(data)
            if self.transport.is_closing():
                return
            if self._in_request():
                waiting.pop(self, None)
                if self.conn.their_state is h11.SEND_BODY:
                    if self._phase != "body":
                        self._arm("body", limits.body_timeout)
                        if not self._body_begins():
                            return
                    bodies[self].received += len(data)
                elif self._phase:
                    self._disarm()

        def _address(self) -> str:
            """The client's address; behind the proxy on loopback, the one it forwards
            (the last X-Forwarded-For entry: the address the proxy itself saw)."""
            peer = self.client[0] if self.client else "unknown"
            if peer in ("127.0.0.1", "::1") and self.cycle is not None:
                for name, value in self.cycle.scope["headers"]:
                    if name == b"x-forwarded-for":
                        return value.decode("latin-1").rsplit(",", 1)[-1].strip() or peer
            return peer

        def _body_begins(self) -> bool:
            """Count a body in flight, making room at the caps; False when refused."""
            now, address = self.loop.time(), self._address()
            room = (
                per_address.get(address, 0) < max_per_address or shed_slowest(now, address)
            ) and (len(bodies) < max_bodies or shed_slowest(now))
            if not room:
                tally.add("body refused (too many uploads)")
                if self.cycle is not None and not self.cycle.response_started:
                    self.transport.write(_503_BODIES)
                self._closed_by_server()
                self.transport.close()
                return False
            bodies[self] = _Body(now, address)
            per_address[address] = per_address.get(address, 0) + 1
            if not sweeper:
                sweeper.append(self.loop.call_later(1.0, sweep))
            return True

        def on_response_complete(self) -> None:
            self._disarm()
            super().on_response_complete()  # may start a pipelined request
            if not self.transport.is_closing() and not self._in_request():
                waiting[self] = None  # idle between requests: first to go if room is needed

        def _in_request(self) -> bool:
            return self.cycle is not None and not self.cycle.response_complete

        def _arm(self, phase: str, seconds: float) -> None:
            self._disarm()
            self._phase = phase
            self._deadline = self.loop.call_later(seconds, self._expired)

        def _closed_by_server(self) -> None:
            """Before closing a connection in a request: counted here, not logged per request."""
            self._disarm()
            if self.cycle is not None:
                self.cycle.scope[CLOSED_BY_SERVER] = True  # type: ignore[literal-required]

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline, self._phase = None, ""
            body = bodies.pop(self, None)
            if body is not None:
                left = per_address.pop(body.address) - 1
                if left:
                    per_address[body.address] = left

        def _expired(self) -> None:
            phase = self._phase
            self._deadline, self._phase = None, ""
            if self.transport.is_closing():
                return
            tally.add(f"{phase} timeout")
            if phase == "header" and self.conn.our_state is h11.IDLE:
                self.transport.write(_408)
            self.transport.close()

    return GuardedH11Protocol


class _AcceptErrors(logging.Filter):
    """asyncio logs a traceback for every failed ``accept()`` (EMFILE); keep one short
    line per minute. The connection cap makes this rare; it stays a safety net."""

    def __init__(self) -> None:
        super().__init__()
        self.last = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        if "accept" not in record.getMessage():
            return True
        now = time.monotonic()
        if now - self.last < 60:
            return False
        self.last = now
        record.exc_info, record.exc_text = None, None
        record.msg, record.args = "accept() failed: out of open files (shown once a minute)", ()
        return True


def quiet_accept_errors() -> None:
    logging.getLogger("asyncio").addFilter(_AcceptErrors())
