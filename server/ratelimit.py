"""Per-client rate limits for enrolment, login and the public endpoints.

Litestar's ``RateLimitConfig`` applies one rate to every route it covers and counts every
request. Guessing attacks are better stopped by counting *failures* (a wrong invite code,
a wrong password, an unknown resident token) while a whole building behind one carrier
NAT opening the resident link stays unaffected, so this small ASGI middleware keeps a
sliding window per (rule, client address) and can count either all requests or only
answers with a 4xx status. A limited client gets 429 in the one error shape with
``Retry-After``.

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
    message: str = "too many requests; wait a moment and try again"


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(
        "enroll-failures",
        frozenset({"POST"}),
        re.compile(r"^/api/v1/enroll$"),
        10,
        600,
        failures_only=True,
        message="too many wrong invite codes from this network; wait and try again",
    ),
    Rule(
        "login",
        frozenset({"POST"}),
        re.compile(r"^/api/v1/login$"),
        30,
        60,
        message="too many login attempts; wait a minute and try again",
    ),
    Rule(
        "login-failures",
        frozenset({"POST"}),
        re.compile(r"^/api/v1/login$"),
        5,
        300,
        failures_only=True,
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
    Rule(
        "public",
        frozenset({"GET", "POST"}),
        re.compile(r"^/(r|api/v1/public)/"),
        600,
        60,
        message="too many requests for the residents' page; wait a minute",
    ),
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

    def record(self, rules: list[Rule], client: str, status: int) -> None:
        now = self.clock()
        for rule in rules:
            if rule.failures_only and not 400 <= status < 500:
                continue
            self._window(rule, client, now).append(now)


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
            hit = limiter.check(rules, client)
            if hit is not None:
                rule, wait = hit
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
            status = 500

            async def tap(message: dict[str, Any]) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    limiter.record(rules, client, status)
                await send(message)

            await app(scope, receive, tap)

        return middleware

    return wrap
