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

from server.resident_stream import ON_CLOSE

__all__ = [
    "Limits",
    "accept_backlog",
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


@dataclass(frozen=True)
class Limits:
    """Read deadlines (seconds) and the most connections held at once."""

    header_timeout: float = 10.0
    body_timeout: float = 60.0
    max_connections: int = 1000


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
    tally = _Tally()

    class GuardedH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None
        _phase = ""  # "header" or "body" while a deadline is armed

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections and not self._evict_one():
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
            # client goes (server/resident_stream.py) instead of reading ``receive``.
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
                elif self._phase:
                    self._disarm()

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

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline, self._phase = None, ""

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
