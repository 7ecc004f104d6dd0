"""Coordinator login: argon2id passwords, session cookies, CSRF; device administration.

A browser login is a device like a phone: it gets an HLC node to stamp its writes with
and a token, which travels in an HttpOnly, SameSite=Strict cookie instead of a header and
expires. Requests authenticated by that cookie must carry the CSRF token (returned at
login, also in a readable cookie) in ``X-CSRF-Token`` for every unsafe method; bearer-token
requests (phones) need none, since a browser never attaches a bearer header by itself.
"""

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import FromPath, SkipValidation
from msgspec import Meta

from server import api
from server.db import Database
from server.db import devices as db_devices
from server.db import people as db_people
from server.db.devices import Device, DeviceRow
from server.errors import (
    DoorstepError,
    ForbiddenRequestError,
    NotFoundError,
    RevokedError,
    UnauthorizedError,
    decode_body,
)

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "ROUTES",
    "SESSION_COOKIE",
    "csrf_for",
    "current_device",
    "hash_password",
    "require_coordinator",
]

SESSION_COOKIE = "doorstep_session"
CSRF_COOKIE = "doorstep_csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_HOURS = 12
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})

_hasher = PasswordHasher()  # argon2id, the library's (RFC 9106 low-memory) defaults
#: Verified when the login does not exist, so a wrong name costs as long as a wrong password.
_DUMMY = _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def csrf_for(token: str) -> str:
    """The CSRF token of a session: derived from its secret, so nothing more is stored."""
    return hmac.new(token.encode(), b"doorstep csrf", hashlib.sha256).hexdigest()[:32]


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


async def current_device(request: Request, database: NamedDependency[Database]) -> Device:
    """The device behind a request: a bearer token (phones) or a session cookie (browsers).

    Cookie-authenticated unsafe requests must carry the session's CSRF token.
    """
    if request.headers.get("authorization"):
        return await api.current_device(request, database)
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return await api.current_device(request, database)
    row = await db_devices.for_session(database, token)
    if row is None:
        raise UnauthorizedError("your session is unknown; log in again", code="session_expired")
    node, person, role, revoked_at, expires_at = (
        row.node,
        row.person,
        row.role,
        row.revoked_at,
        row.expires_at,
    )
    if revoked_at is not None:
        raise RevokedError("this session was signed out from the dashboard; log in again")
    if expires_at is not None and expires_at <= _iso(_now()):
        raise UnauthorizedError("your session has expired; log in again", code="session_expired")
    if request.method not in _SAFE:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), csrf_for(token).encode()):
            raise ForbiddenRequestError(
                "missing or wrong CSRF token: reload the page and try again", code="csrf"
            )
    return Device(node, person, role, False)


def require_coordinator(device: Device) -> Device:
    if device.role != "coordinator":
        raise ForbiddenRequestError(
            "only a coordinator may do this; ask the community office", code="not_coordinator"
        )
    return device


def _secure(request: Request) -> bool:
    settings = request.app.state.settings
    return request.url.scheme == "https" or str(settings.base_url).startswith("https:")


@post("/api/v1/login", status_code=200)
async def login(request: Request, database: NamedDependency[Database]) -> Response[Session]:
    """Password login for coordinators: a session cookie and a CSRF token."""
    data = decode_body(
        _login_decoder, await request.body(), "login", '{"login": "...", "password": "..."}'
    )
    person, name, role, stored = await db_people.for_login(database, data.login)
    if not verify_password(stored, data.password) or role != "coordinator":
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
        ],
    )


@get("/api/v1/session")
async def session(
    request: Request, database: NamedDependency[Database], device: SkipValidation[Device]
) -> Session:
    """Who this browser (or phone) is; browsers get their CSRF token again after a reload."""
    name, expires = await db_devices.session_info(database, device.node)
    token = request.cookies.get(SESSION_COOKIE)
    csrf = csrf_for(token) if token and not request.headers.get("authorization") else ""
    return Session(device.node, device.person, device.role, name or "", csrf, expires)


@post("/api/v1/logout", status_code=200)
async def logout(database: NamedDependency[Database], device: SkipValidation[Device]) -> Response:
    await _revoke(database, device.node)
    return Response(
        {"ok": True},
        cookies=[
            Cookie(
                key=SESSION_COOKIE, value="", path="/", max_age=0, httponly=True, samesite="strict"
            ),
            Cookie(key=CSRF_COOKIE, value="", path="/", max_age=0, samesite="strict"),
        ],
    )


@get("/api/v1/devices")
async def devices(
    database: NamedDependency[Database], device: SkipValidation[Device]
) -> list[DeviceRow]:
    """Every enrolled phone and browser session, newest first (coordinators)."""
    require_coordinator(device)
    return await db_devices.listing(database)


async def _revoke(database: Database, node: str) -> bool:
    return await db_devices.revoke(database, node, _iso(_now()))


@post("/api/v1/devices/{node:str}/revoke", status_code=200)
async def revoke(
    node: FromPath[str], database: NamedDependency[Database], device: SkipValidation[Device]
) -> dict[str, Any]:
    """Revoke a phone or session: its next request gets 401 ``revoked`` and it wipes."""
    require_coordinator(device)
    if len(node) != 16:
        raise NotFoundError(f"no device {node[:20]!r}; node ids are 16 hex digits")
    if not await _revoke(database, node):
        found, _ = await db_devices.revoked_at(database, node)
        if not found:
            raise NotFoundError(f"no device {node}; check the device list")
        err = DoorstepError(f"device {node} was already revoked", code="already_revoked")
        err.status = 409
        raise err
    return {"revoked": node}


ROUTES = [login, session, logout, devices, revoke]
