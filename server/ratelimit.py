"""Per-client rate limits for enrolment, login and unknown resident links.

Litestar's ``RateLimitConfig`` applies one rate to every route it covers and counts every
request. Guessing attacks are better stopped by counting *failures* (a wrong invite code,
a wrong password, an unknown resident token) while a whole neighbourhood behind one
carrier NAT opening the resident link stays unaffected, so this small ASGI middleware
keeps a sliding window per (rule, client address) and can count either all requests or
only answers with a 4xx status. A limited client gets 429 in the one error shape with
``Retry-After``.

When an attempt counts (#9): a rule with ``reserve`` counts every attempt when it *starts*
and gives the slot back when the answer turns out not to be a failure. A concurrent burst
therefore gets at most ``limit`` attempts in, however many it sends at once — counting at
the answer let 66–100 of 100 simultaneous guesses past limits of 5–20. Rules without
``reserve`` (unknown resident links, 144-bit tokens) count at the answer, so hundreds of
residents loading the page at the same moment never hold a slot each.

Counters live in the process's memory: several server processes each allow the limit.
Behind a reverse proxy, run uvicorn with ``--proxy-headers`` and ``--forwarded-allow-ips``
so the client address is the real one.
"""

import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from schemas.errors import ErrorBody

__all__ = ["DEFAULT_RULES", "RateLimiter", "Rule", "rate_limit_middleware"]

Scope = dict[str, Any]
ASGIApp = Callable[..., Any]


@dataclass(frozen=True)
class Rule:
    """``limit`` events per ``window`` seconds per client on matching requests."""

    name: str
    methods: frozenset[str]
    path: re.Pattern[str]
    limit: int
    window: float
    failures_only: bool = False
    #: Count the attempt when it starts (a failures-only rule gives it back on success).
    reserve: bool = False
    message: str = "too many requests; wait a moment and try again"


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(
        "enroll-failures",
        frozenset({"POST"}),
        re.compile(r"^/api/v1/enroll$"),
        10,
        600,
        failures_only=True,
        reserve=True,
        message="too many wrong invite codes from this network; wait and try again",
    ),
    Rule(
        "login",
        frozenset({"POST"}),
        re.compile(r"^/api/v1/login$"),
        30,
        60,
        reserve=True,
        message="too many login attempts; wait a minute and try again",
    ),
    Rule(
        "login-failures",
        frozenset({"POST"}),
        re.compile(r"^/api/v1/login$"),
        5,
        300,
        failures_only=True,
        reserve=True,
        message="too many wrong passwords; wait five minutes and try again",
    ),
    Rule(
        "public-failures",
        frozenset({"GET", "POST"}),
        re.compile(r"^/(r|api/v1/public)/"),
        20,
        60,
        failures_only=True,
        message="too many unknown links from this network; wait a minute and try again",
    ),
    # No limit on successful public requests (#9): a whole neighbourhood behind one
    # carrier address opens the link within a minute. Their answers are cached per
    # incident version (server/public.py); floods are for the connection cap and the proxy.
)


@dataclass
class RateLimiter:
    rules: tuple[Rule, ...] = DEFAULT_RULES
    max_keys: int = 50_000
    clock: Callable[[], float] = time.monotonic
    _hits: OrderedDict[tuple[str, str], deque[float]] = field(default_factory=OrderedDict)

    def _window(self, rule: Rule, client: str, now: float) -> deque[float]:
        key = (rule.name, client)
        q = self._hits.get(key)
        if q is None:
            q = self._hits[key] = deque()
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
        else:
            self._hits.move_to_end(key)
        while q and q[0] <= now - rule.window:
            q.popleft()
        return q

    def matching(self, method: str, path: str) -> list[Rule]:
        return [r for r in self.rules if method in r.methods and r.path.match(path)]

    def check(self, rules: list[Rule], client: str) -> tuple[Rule, int] | None:
        """(the rule that is exhausted, seconds to wait), or None."""
        now = self.clock()
        for rule in rules:
            q = self._window(rule, client, now)
            if len(q) >= rule.limit:
                return rule, max(1, int(q[0] + rule.window - now + 0.999))
        return None

    def begin(self, rules: list[Rule], client: str) -> tuple[Rule, int] | list[float | None]:
        """Check ``rules`` and count the attempt in those that ``reserve``.

        Returns:
            (the exhausted rule, seconds to wait), or the tickets to pass to :meth:`end`.
        """
        hit = self.check(rules, client)
        if hit is not None:
            return hit
        now = self.clock()
        tickets: list[float | None] = []
        for rule in rules:
            if rule.reserve:
                self._window(rule, client, now).append(now)
                tickets.append(now)
            else:
                tickets.append(None)
        return tickets

    def end(self, rules: list[Rule], client: str, status: int, tickets: list[float | None]) -> None:
        """Settle an attempt once its status is known."""
        now = self.clock()
        failed = 400 <= status < 500
        for rule, ticket in zip(rules, tickets, strict=True):
            if ticket is None:
                if failed or not rule.failures_only:
                    self._window(rule, client, now).append(now)
            elif rule.failures_only and not failed:
                q = self._hits.get((rule.name, client))
                if q is not None and ticket in q:
                    q.remove(ticket)

    def record(self, rules: list[Rule], client: str, status: int) -> None:
        """Count a finished attempt in every rule (failures only where the rule says so)."""
        self.end(rules, client, status, [None] * len(rules))


def rate_limit_middleware(limiter: RateLimiter | None = None) -> Callable[[ASGIApp], ASGIApp]:
    """A Litestar/ASGI middleware factory applying ``limiter``."""
    limiter = limiter or RateLimiter()

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            rules = limiter.matching(scope["method"], scope["path"])
            if not rules:
                await app(scope, receive, send)
                return
            client = (scope.get("client") or ("unknown", 0))[0]
            got = limiter.begin(rules, client)
            if isinstance(got, tuple):
                rule, wait = got
                body = msgspec.json.encode(
                    ErrorBody("rate_limited", rule.message, {"retry_after": wait})
                )
                await send(
                    {
                        "type": "http.response.start",
                        "status": 429,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"retry-after", str(wait).encode()),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
            tickets = got

            async def tap(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    limiter.end(rules, client, message["status"], tickets)
                await send(message)

            await app(scope, receive, tap)

        return middleware

    return wrap
