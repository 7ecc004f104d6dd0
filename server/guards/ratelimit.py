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

Counters are shared (#14): they live in the database (``server.db.ratelimits``), so
several server processes on one database allow the limit in total, not each. Checking
and reserving is one write transaction; only requests on the rules' routes pay for it
(a sync never does). Behind a reverse proxy, run uvicorn with ``--proxy-headers`` and
``--forwarded-allow-ips`` so the client address is the real one.
"""

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from schemas.errors import ErrorBody
from server.db import AnyDatabase
from server.db import ratelimits as db_rates
from server.errors import DoorstepError

__all__ = ["DEFAULT_RULES", "OVER_LIMIT", "LimitRule", "RateLimiter", "rate_limit_middleware"]

#: An ASGI connection scope (not an access scope: those are ``server.access.Scope``).
ASGIScope = dict[str, Any]
ASGIApp = Callable[..., Any]

log = logging.getLogger("doorstep")


@dataclass(frozen=True)
class LimitRule:
    """``limit`` events per ``window`` seconds per client on matching requests."""

    name: str
    methods: frozenset[str]
    path: re.Pattern[str]
    limit: int
    window: float
    failures_only: bool = False
    #: Count the attempt when it starts (a failures-only rule gives it back on success).
    reserve: bool = False
    #: When exhausted, refuse only requests that would fail: the request goes on with
    #: ``OVER_LIMIT`` in its scope, and the handler refuses an unknown resident token
    #: with 429 but serves a known one (#22: guesses behind a carrier NAT must not lock
    #: the neighbourhood out of its valid link).
    spare_known: bool = False
    message: str = "too many requests; wait a moment and try again"


DEFAULT_RULES: tuple[LimitRule, ...] = (
    LimitRule(
        "enroll-failures",
        frozenset({"POST"}),
        re.compile(r"^/api/v1/enroll$"),
        10,
        600,
        failures_only=True,
        reserve=True,
        message="too many wrong invite codes from this network; wait and try again",
    ),
    LimitRule(
        "setup-failures",
        frozenset({"POST"}),
        re.compile(r"^/api/v1/setup$"),
        10,
        600,
        failures_only=True,
        reserve=True,
        message="too many wrong setup links from this network; wait and try again",
    ),
    LimitRule(
        "login",
        frozenset({"POST"}),
        re.compile(r"^/api/v1/login$"),
        30,
        60,
        reserve=True,
        message="too many login attempts; wait a minute and try again",
    ),
    LimitRule(
        "login-failures",
        frozenset({"POST"}),
        re.compile(r"^/api/v1/login$"),
        5,
        300,
        failures_only=True,
        reserve=True,
        message="too many wrong passwords; wait five minutes and try again",
    ),
    LimitRule(
        "public-failures",
        frozenset({"GET", "POST"}),
        re.compile(r"^/(r|api/v1/public)/"),
        20,
        60,
        failures_only=True,
        spare_known=True,
        message="too many unknown links from this network; wait a minute and try again",
    ),
    LimitRule(
        "public-push",
        frozenset({"POST"}),
        re.compile(r"^/api/v1/public/[^/]+/push(/unsubscribe)?$"),
        60,
        60,
        reserve=True,
        message="too many notification sign-ups from this network; wait a minute and try again",
    ),
    # Push sign-ups (#22) are limited per address: anyone with the link may start them,
    # and each is an upload; refused ones are answered before their body is read.
    # No limit on successful public requests (#9): a whole neighbourhood behind one
    # carrier address opens the link within a minute. Their answers are cached per
    # incident version (server/http/public.py); floods are for the connection cap and the proxy.
)


#: Scope key of a request let through an exhausted ``spare_known`` rule: (message, wait).
OVER_LIMIT = "doorstep.over_limit"

#: Seconds between two prunes of old counters by one process.
PRUNE_EVERY = 60.0


@dataclass
class RateLimiter:
    """The rules, applied with counters in the database (``server.db.ratelimits``)."""

    database: AnyDatabase
    rules: tuple[LimitRule, ...] = DEFAULT_RULES
    #: Wall-clock seconds: the counters are shared by processes that share the clock.
    clock: Callable[[], float] = time.time
    #: Seconds a "no attempt of this rule counted anywhere" answer is trusted, for rules
    #: that count at the answer: residents opening a link cost no query while nobody
    #: guesses (another process's first failures are seen within this time).
    quiet_for: float = 1.0
    _quiet: dict[str, float] = field(default_factory=dict)
    _pruned_at: float = 0.0

    def matching(self, method: str, path: str) -> list[LimitRule]:
        return [r for r in self.rules if method in r.methods and r.path.match(path)]

    def _wait(
        self, rules: list[LimitRule], full: tuple[int, float], now: float
    ) -> tuple[LimitRule, int]:
        rule = rules[full[0]]
        return rule, max(1, int(full[1] + rule.window - now + 0.999))

    def _prune_before(self, now: float) -> float | None:
        if now - self._pruned_at < PRUNE_EVERY:
            return None
        self._pruned_at = now
        return now - max(r.window for r in self.rules)

    async def check(self, rules: list[LimitRule], client: str) -> tuple[LimitRule, int] | None:
        """(the rule that is exhausted, seconds to wait), or None."""
        now = self.clock()
        if all(not r.reserve and self._quiet.get(r.name, 0.0) > now for r in rules):
            return None
        full = await db_rates.exhausted(self.database, client, _limits(rules), now)
        if full is not None:
            return self._wait(rules, full, now)
        lazy = [r for r in rules if not r.reserve]
        for name in await db_rates.quiet(self.database, _limits(lazy), now):
            self._quiet[name] = now + self.quiet_for
        return None

    async def begin(
        self, rules: list[LimitRule], client: str
    ) -> tuple[LimitRule, int] | list[int | None]:
        """Check ``rules`` and count the attempt in those that ``reserve``, in one
        transaction across every process.

        Returns:
            (the exhausted rule, seconds to wait), or the tickets to pass to :meth:`end`.
        """
        if not any(r.reserve for r in rules):
            hit = await self.check(rules, client)
            return hit if hit is not None else [None] * len(rules)
        now = self.clock()
        # A client already over a limit is answered from a read: a flood of refused
        # attempts never queues for the writer that the phones' syncs use.
        full = await db_rates.exhausted(self.database, client, _limits(rules), now)
        if full is not None:
            return self._wait(rules, full, now)
        got = await db_rates.begin(
            self.database,
            client,
            _limits(rules),
            [r.reserve for r in rules],
            now,
            self._prune_before(now),
        )
        return self._wait(rules, got, now) if isinstance(got, tuple) else got

    async def end(
        self, rules: list[LimitRule], client: str, status: int, tickets: list[int | None]
    ) -> None:
        """Settle an attempt once its status is known."""
        failed = 400 <= status < 500
        add: list[str] = []
        give_back: list[int] = []
        for rule, ticket in zip(rules, tickets, strict=True):
            if ticket is None:
                if failed or not rule.failures_only:
                    add.append(rule.name)
                    self._quiet.pop(rule.name, None)
            elif rule.failures_only and not failed:
                give_back.append(ticket)
        if add or give_back:
            now = self.clock()
            await db_rates.settle(
                self.database, client, add, give_back, now, self._prune_before(now)
            )

    async def record(self, rules: list[LimitRule], client: str, status: int) -> None:
        """Count a finished attempt in every rule (failures only where the rule says so)."""
        await self.end(rules, client, status, [None] * len(rules))


def _limits(rules: list[LimitRule]) -> list[db_rates.Limit]:
    return [(r.name, r.limit, r.window) for r in rules]


async def _send_error(
    send: Any, status: int, code: str, message: str, wait: int | None = None
) -> None:
    body = msgspec.json.encode(
        ErrorBody(code, message, {"retry_after": wait} if wait is not None else None)
    )
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if wait is not None:
        headers.append((b"retry-after", str(wait).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def rate_limit_middleware(limiter: RateLimiter) -> Callable[[ASGIApp], ASGIApp]:
    """A Litestar/ASGI middleware factory applying ``limiter``."""

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: ASGIScope, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            rules = limiter.matching(scope["method"], scope["path"])
            if not rules:
                await app(scope, receive, send)
                return
            client = (scope.get("client") or ("unknown", 0))[0]
            try:
                got = await limiter.begin(rules, client)
            except DoorstepError as exc:  # the storage is full: 507, in the one shape
                await _send_error(send, exc.status, exc.code, str(exc))
                return
            except Exception:
                log.exception("rate-limit counters could not be read or written")
                await _send_error(send, 503, "busy", _BUSY, 5)
                return
            if isinstance(got, tuple) and got[0].spare_known:
                # Known resident links are served; the handler refuses unknown ones.
                scope[OVER_LIMIT] = (got[0].message, got[1])
                rules = [r for r in rules if not r.spare_known]
                got = await limiter.begin(rules, client) if rules else []
            if isinstance(got, tuple):
                rule, wait = got
                await _send_error(send, 429, "rate_limited", rule.message, wait)
                return
            tickets = got

            async def tap(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    try:
                        await limiter.end(rules, client, message["status"], tickets)
                    except Exception:  # the answer stands; only this count is lost
                        log.exception("rate-limit counters could not be written")
                await send(message)

            await app(scope, receive, tap)

        return middleware

    return wrap


_BUSY = "the server is busy; wait a few seconds and try again"
