"""Coordinator sessions: argon2id passwords, session cookies, CSRF (device administration
is ``server.http.devices``; who a request comes from is decided in ``server.guards.caller``).

A browser login is a device like a phone: it gets an HLC node to stamp its writes with
and a token, which travels in an HttpOnly, SameSite=Strict cookie instead of a header and
expires. Requests authenticated by that cookie must carry the CSRF token (returned at
login, also in a readable cookie) in ``X-CSRF-Token`` for every unsafe method; bearer-token
requests (phones) need none, since a browser never attaches a bearer header by itself.

Login itself (#9): the request must be JSON and, when a browser says where it comes from,
same-origin (no login CSRF: a form on another site cannot send JSON, and a script there
cannot pass the Origin check). Argon2 runs in worker threads, a few at a time, never on
the event loop: a burst of wrong logins must not stall the phones' syncs.

Floods from many addresses (#22): each address stays under its own limits, yet together
they fill the password-check queue, and real coordinators got 503. So a browser that has
logged in to an account before carries a *known-device* cookie for it (an HMAC keyed by
the account's stored password hash: nothing new is stored, and a new password forgets
every such browser); its attempts are never refused for a full queue. And each account
has a budget of wrong passwords across all addresses (``ACCOUNT_RULE``): once it is
spent, attempts from browsers not known to the account are refused with 429 *before*
any hashing.
"""

import functools
import hashlib
import hmac
import logging
import os
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated

import anyio.to_thread
import msgspec
from anyio import CapacityLimiter
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import SkipValidation
from msgspec import Meta

from server.db import AnyDatabase
from server.db import devices as db_devices
from server.db import people as db_people
from server.db.devices import Device
from server.errors import (
    DoorstepError,
    ForbiddenRequestError,
    RateLimitedError,
    UnauthorizedError,
    decode_body,
)
from server.guards.caller import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, csrf_for
from server.guards.ratelimit import LimitRule, RateLimiter

__all__ = [
    "ACCOUNT_RULE",
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "KNOWN_COOKIE",
    "ROUTES",
    "SESSION_COOKIE",
    "LoginRequest",
    "csrf_for",
    "hash_in_slots",
    "hash_password",
]

SESSION_HOURS = 12

_hasher = PasswordHasher()  # argon2id, the library's (RFC 9106 low-memory) defaults


@functools.cache
def _dummy() -> str:
    """Verified when the login does not exist, so a wrong name costs as long as a wrong
    password. Made on first use: an argon2 hash at import slowed every start and CLI call."""
    return _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _dummy(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


#: Password checks running at once: argon2id takes ~64 MiB and a core's worth of time each.
ARGON2_THREADS = max(1, min(4, (os.cpu_count() or 2) // 2))
#: Logins waiting for a password check beyond which the server answers 503 at once.
ARGON2_QUEUE = 32


def _argon2_slots(app: Litestar) -> CapacityLimiter:
    # One limiter per app, made inside its event loop (anyio limiters belong to a loop).
    slots = getattr(app.state, "argon2_slots", None)
    if slots is None:
        slots = app.state.argon2_slots = CapacityLimiter(ARGON2_THREADS)
    return slots


async def check_password(
    app: Litestar, stored: str | None, password: str, known: bool = False
) -> bool:
    """``verify_password`` in a worker thread, ``ARGON2_THREADS`` at a time.

    Raises:
        DoorstepError: 503 ``busy`` when ``ARGON2_QUEUE`` logins are already waiting,
            unless the browser is ``known`` to the account (it waits its turn).
    """
    slots = _argon2_slots(app)
    if not known and slots.statistics().tasks_waiting >= ARGON2_QUEUE:
        err = DoorstepError(
            "the server is busy checking other logins; wait a few seconds and try again",
            code="busy",
            details={"retry_after": 5},
        )
        err.status = 503
        raise err
    return await anyio.to_thread.run_sync(verify_password, stored, password, limiter=slots)


async def hash_in_slots(app: Litestar, password: str) -> str:
    """``hash_password`` in a worker thread, in the login's ``ARGON2_THREADS`` slots
    (each hash takes ~64 MiB: sixty at once took the server past 1.7 GiB)."""
    return await anyio.to_thread.run_sync(hash_password, password, limiter=_argon2_slots(app))


log = logging.getLogger("doorstep")

#: The browser has logged in to the account before (HttpOnly; a year).
KNOWN_COOKIE = "doorstep_known"
KNOWN_DAYS = 365
#: Wrong passwords for one account, from every address together, before attempts from
#: browsers not known to it are refused without hashing.
ACCOUNT_RULE = LimitRule(
    "login-account-failures",
    frozenset({"POST"}),
    re.compile(r"^/api/v1/login$"),
    20,
    300,
    failures_only=True,
    reserve=True,
    message="too many wrong passwords for this login from many places; log in from a "
    "browser that has logged in to it before, or wait five minutes",
)


def known_device_proof(stored: str, person: str) -> str:
    """The known-device cookie of an account: keyed by its password hash."""
    return hmac.new(stored.encode(), f"known device {person}".encode(), hashlib.sha256).hexdigest()


def _is_known(request: Request, stored: str | None, person: str | None) -> bool:
    cookie = request.cookies.get(KNOWN_COOKIE)
    if not cookie or stored is None or person is None:
        return False
    return hmac.compare_digest(cookie, known_device_proof(stored, person))


async def _account_gate(limiter: RateLimiter, account: str) -> list[int | None] | None:
    """Count an attempt against the account's budget: its ticket, or None when the
    counters cannot be reached (the per-address limits still hold).

    Raises:
        RateLimitedError: the account's budget is spent.
    """
    try:
        got = await limiter.begin([ACCOUNT_RULE], account)
    except Exception:
        log.exception("login account counters could not be read or written")
        return None
    if isinstance(got, tuple):
        raise RateLimitedError(ACCOUNT_RULE.message, details={"retry_after": got[1]})
    return got


async def _account_settle(
    limiter: RateLimiter, account: str, ok: bool, tickets: list[int | None] | None
) -> None:
    if tickets is None:
        return
    try:
        await limiter.end([ACCOUNT_RULE], account, 200 if ok else 401, tickets)
    except Exception:  # the answer stands; only this count is lost
        log.exception("login account counters could not be written")


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme.lower()}://{rest.split('/', 1)[0].lower()}"


def require_same_origin_json(request: Request) -> None:
    """Refuse a login that is not JSON or that a browser says comes from another site.

    Clients that are not browsers (the CLI, tests, scripts) send neither ``Origin`` nor
    ``Sec-Fetch-Site`` and are not refused; browsers always send ``Origin`` on a POST.
    """
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/json":
        err = DoorstepError(
            "login must be sent as JSON (Content-Type: application/json)",
            code="unsupported_media_type",
        )
        err.status = 415
        raise err
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    own = {
        _origin(str(request.app.state.settings.base_url)),
        _origin(f"{request.url.scheme}://{request.headers.get('host', '')}"),
    }
    if (site is not None and site not in ("same-origin", "none")) or (
        origin is not None and _origin(origin) not in own
    ):
        raise ForbiddenRequestError(
            "login is only accepted from this site's own login page; open it and try again",
            code="cross_origin",
        )


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    login: Annotated[str, Meta(min_length=1, max_length=100)]
    password: Annotated[str, Meta(min_length=1, max_length=200)]
    device: Annotated[str, Meta(max_length=200)] = ""


class Session(msgspec.Struct):
    """Who is logged in, the HLC node the browser stamps with, and its CSRF token."""

    node: str
    person: str
    role: str
    name: str
    csrf: str
    expires_at: str | None


_login_decoder = msgspec.json.Decoder(LoginRequest)


def _secure(request: Request) -> bool:
    settings = request.app.state.settings
    return request.url.scheme == "https" or str(settings.base_url).startswith("https:")


@post("/api/v1/login", status_code=200)
async def login(request: Request, database: NamedDependency[AnyDatabase]) -> Response[Session]:
    """Password login for coordinators: a session cookie and a CSRF token."""
    require_same_origin_json(request)
    data = decode_body(
        _login_decoder, await request.body(), "login", '{"login": "...", "password": "..."}'
    )
    person, name, role, stored = await db_people.for_login(database, data.login)
    known = _is_known(request, stored, person)
    limiter: RateLimiter = request.app.state.limiter
    account = "account:" + data.login.strip().lower()
    tickets = None if known else await _account_gate(limiter, account)
    ok = await check_password(request.app, stored, data.password, known)
    ok = ok and role == "coordinator"
    await _account_settle(limiter, account, ok, tickets)
    if not ok:
        raise UnauthorizedError(
            "wrong login or password; check both, or ask for a new password",
            code="login_failed",
        )
    token = secrets.token_urlsafe(32)
    now = _now()
    expires = _iso(now + timedelta(hours=SESSION_HOURS))
    node = secrets.token_hex(8)
    label = ("browser " + data.device).strip()[:200]
    assert person is not None
    await db_devices.add_session(database, node, token, person, label, _iso(now), expires)
    csrf = csrf_for(token)
    secure = _secure(request)
    max_age = SESSION_HOURS * 3600
    return Response(
        Session(node, person, "coordinator", name or "", csrf, expires),  # type: ignore[arg-type]
        cookies=[
            Cookie(
                key=SESSION_COOKIE,
                value=token,
                path="/",
                httponly=True,
                samesite="strict",
                secure=secure,
                max_age=max_age,
            ),
            Cookie(
                key=CSRF_COOKIE,
                value=csrf,
                path="/",
                httponly=False,
                samesite="strict",
                secure=secure,
                max_age=max_age,
            ),
            Cookie(
                key=KNOWN_COOKIE,
                value=known_device_proof(stored or "", person),
                path="/api/v1/login",
                httponly=True,
                samesite="strict",
                secure=secure,
                max_age=KNOWN_DAYS * 86400,
            ),
        ],
    )


@get("/api/v1/session")
async def session(
    request: Request, database: NamedDependency[AnyDatabase], device: SkipValidation[Device]
) -> Session:
    """Who this browser (or phone) is; browsers get their CSRF token again after a reload."""
    name, expires = await db_devices.session_info(database, device.node)
    token = request.cookies.get(SESSION_COOKIE)
    csrf = csrf_for(token) if token and not request.headers.get("authorization") else ""
    return Session(device.node, device.person, device.role, name or "", csrf, expires)


@post("/api/v1/logout", status_code=200)
async def logout(
    request: Request, database: NamedDependency[AnyDatabase], device: SkipValidation[Device]
) -> Response:
    """End this session (or phone enrolment): its open streams close at once."""
    await db_devices.revoke(database, device.node, _iso(_now()))
    request.app.state.broker.close_node(device.node)
    return Response(
        {"ok": True},
        cookies=[
            Cookie(
                key=SESSION_COOKIE, value="", path="/", max_age=0, httponly=True, samesite="strict"
            ),
            Cookie(key=CSRF_COOKIE, value="", path="/", max_age=0, samesite="strict"),
        ],
    )


ROUTES = [login, session, logout]
