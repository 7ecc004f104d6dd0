"""Access, decided in one layer: who the caller is, which role a route needs, what it sees.

* **Every route states one rule** in its router's ``opt={"access": ...}`` (``RouteAccess``):
  ``public`` (anyone), ``resident`` (a residents' link: the token in the path is the key),
  ``device`` (any enrolled phone or logged-in browser), ``coordinator`` or ``operator``
  (``/metrics``: a bearer token, or a direct local request). The router's
  guard enforces it before any handler runs; ``create_app`` refuses a route without a
  rule, and ``tests/test_routes.py`` walks the route table against every kind of caller.
* **Who**: ``authenticate`` reads the bearer token (phones) or the session cookie
  (browsers, with CSRF on unsafe methods) once per request and leaves the ``Device`` in
  the request state; handlers receive it as the ``device`` dependency.
* **What**: the request-scoped ``Caller`` dependency answers "may this caller see this?"
  (``require_incident``, ``require_record``, ``require_community``) from the caller's read
  scope, loaded at most once per request by the same rules as pulls. Outside the scope
  the answer is 404, as for something that does not exist: a coordinator of one community
  learns nothing about another.

One error code per condition: 401 ``unauthorized`` (no or unknown credentials), 401
``revoked``, 401 ``session_expired``, 403 ``csrf``, 403 ``not_coordinator``, 404 (outside
the scope or absent).
"""

import hmac
import ipaddress
import os
from datetime import UTC, datetime
from enum import StrEnum

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from server import access
from server.db import AnyDatabase, scopes, shares
from server.db import devices as db_devices
from server.db.devices import Device
from server.errors import (
    ForbiddenRequestError,
    NotFoundError,
    RateLimitedError,
    RevokedError,
    UnauthorizedError,
)
from server.guards.ratelimit import OVER_LIMIT

__all__ = [
    "ACCESS",
    "Caller",
    "RouteAccess",
    "authenticate",
    "coordinator_guard",
    "device_guard",
    "operator_allowed",
    "operator_guard",
    "provide_caller",
    "provide_device",
    "public_guard",
    "resident_guard",
    "route_access_of",
]

ACCESS = "access"
SESSION_COOKIE = "doorstep_session"
CSRF_COOKIE = "doorstep_csrf"
CSRF_HEADER = "x-csrf-token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


class RouteAccess(StrEnum):
    PUBLIC = "public"
    RESIDENT = "resident"
    DEVICE = "device"
    COORDINATOR = "coordinator"
    #: The operator's machinery (``/metrics``): a bearer token, or a direct local request.
    OPERATOR = "operator"


def route_access_of(handler: BaseRouteHandler) -> RouteAccess | None:
    value = (handler.opt or {}).get(ACCESS)
    return RouteAccess(value) if value in RouteAccess.__members__.values() else None


def csrf_for(token: str) -> str:
    """The CSRF token of a session: derived from its secret, so nothing more is stored."""
    import hashlib

    return hmac.new(token.encode(), b"doorstep csrf", hashlib.sha256).hexdigest()[:32]


def _iso_now() -> str:
    at = datetime.now(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _database(connection: ASGIConnection) -> AnyDatabase:
    return connection.app.state.database


async def _bearer(db: AnyDatabase, header: str) -> Device:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError(
            "this device is not enrolled: open the invite link or type the invite code"
        )
    device = await db_devices.for_token(db, token.strip())
    if device is None:
        raise UnauthorizedError(
            "unknown device token: enrol this device again with a new invite code"
        )
    if device.revoked:
        raise RevokedError(
            "this device was revoked: delete local personal data, keep unsent entries "
            "for export, and enrol again",
            details={"wipe": True},
        )
    return device


async def authenticate(connection: ASGIConnection) -> Device:
    """The device behind a request: a bearer token (phones) or a session cookie (browsers).

    Cookie-authenticated unsafe requests must carry the session's CSRF token.
    """
    cached = connection.scope.get("state", {}).get("device")
    if cached is not None:
        return cached
    db = _database(connection)
    header = connection.headers.get("authorization")
    token = connection.cookies.get(SESSION_COOKIE)
    if header or not token:
        device = await _bearer(db, header or "")
    else:
        row = await db_devices.for_session(db, token)
        if row is None:
            raise UnauthorizedError("your session is unknown; log in again", code="session_expired")
        if row.revoked_at is not None:
            raise RevokedError("this session was signed out from the dashboard; log in again")
        if row.expires_at is not None and row.expires_at <= _iso_now():
            raise UnauthorizedError(
                "your session has expired; log in again", code="session_expired"
            )
        if connection.scope.get("method", "GET") not in _SAFE:
            sent = connection.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), csrf_for(token).encode()):
                raise ForbiddenRequestError(
                    "missing or wrong CSRF token: reload the page and try again", code="csrf"
                )
        device = Device(row.node, row.person, row.role, False)
    connection.state.device = device
    return device


async def public_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Anyone may call it (the handler itself checks what it needs, e.g. an invite code)."""


async def device_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    await authenticate(connection)


async def coordinator_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    device = await authenticate(connection)
    if device.role != "coordinator":
        raise ForbiddenRequestError(
            "only a coordinator may do this; ask the community office", code="not_coordinator"
        )


def operator_allowed(connection: ASGIConnection) -> bool:
    """``DOORSTEP_METRICS_TOKEN`` as a bearer token when it is set; otherwise only a
    request made on the server itself (a loopback address, not forwarded by the proxy)."""
    token = os.environ.get("DOORSTEP_METRICS_TOKEN", "")
    if token:
        scheme, _, given = connection.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)
    if connection.headers.get("x-forwarded-for") or connection.headers.get("forwarded"):
        return False
    host = connection.client.host if connection.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def operator_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Anyone else gets a 404, as for a page that does not exist."""
    if not operator_allowed(connection):
        raise NotFoundError("no such page")


async def resident_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """The residents' link: the token in the path must open an incident (else 404)."""
    token = str(connection.path_params.get("token", ""))
    connection.state.incident = await resident_incident(connection, token)


async def resident_incident(connection: ASGIConnection, token: str) -> str:
    """The incident a share token opens (cached briefly: residents reconnect often)."""
    import time

    cache: dict[str, tuple[float, str]] = connection.app.state.share_cache
    hit = cache.get(token)
    now = time.monotonic()
    if hit is not None and now - hit[0] < 60.0:
        return hit[1]
    incident = None
    if 10 <= len(token) <= 64:
        incident = await shares.incident_of(_database(connection), token)
    if incident is None:
        over = connection.scope.get(OVER_LIMIT)  # type: ignore[call-overload]
        if over is not None:  # this address guessed too often (server/guards/ratelimit.py)
            raise RateLimitedError(over[0], details={"retry_after": over[1]})
        raise NotFoundError(
            "this link is not valid (or no longer); ask in the residents' group for the "
            "current one",
            code="no_share",
        )
    if len(cache) > 10_000:
        cache.clear()
    cache[token] = (now, incident)
    return incident


class Caller:
    """What the caller of this request may see; its read scope is loaded at most once."""

    def __init__(self, db: AnyDatabase, device: Device) -> None:
        self.db = db
        self.device = device
        self._scope: access.Scope | None = None

    async def read_scope(self) -> access.Scope:
        if self._scope is None:
            self._scope = await scopes.load_scope(self.db, self.device)
        return self._scope

    async def community(self) -> str | None:
        """The caller's community; None for every community (or a volunteer)."""
        return (await self.read_scope()).community

    async def unlimited(self) -> bool:
        return (await self.read_scope()).unlimited

    async def require_incident(self, incident: str) -> None:
        """404 unless the caller's scope holds ``incident``."""
        scope = await self.read_scope()
        if scope.incidents is not None and incident not in scope.incidents:
            raise NotFoundError(
                f"no incident {incident[:100]!r} you can see; check the link",
                code="no_incident",
            )

    async def require_record(self, coll: str, rid: str) -> None:
        """404 unless the caller may read the record (by the rules of pulls)."""
        scope = await self.read_scope()
        if scope.unlimited:
            return
        if not await scopes.visible(self.db, scope, coll, rid):
            raise NotFoundError(f"no record {coll}/{rid[:60]} you can see", code="no_record")

    async def require_covers(self, person: str, role: str, community: str | None) -> None:
        """403 ``works_elsewhere`` unless the caller reads everything ``person`` (in
        ``role``, of ``community``) reads, now and as their community's coordinator
        assigns them: a new invite for them enrols a device that reads it."""
        scope = await self.read_scope()
        if scope.unlimited:
            return
        theirs = await scopes.load_scope(self.db, Device("", person, role, False))
        if community not in (None, scope.community) or not access.covers(scope, theirs):
            raise ForbiddenRequestError(
                "this person also works in another community; ask a coordinator of every "
                "community to invite them again",
                code="works_elsewhere",
            )

    async def require_community(self, community: str | None) -> None:
        """404 unless ``community`` is the caller's (every one, for an unlimited one)."""
        scope = await self.read_scope()
        if not scope.unlimited and (community is None or community != scope.community):
            raise NotFoundError("nothing of that community you can see", code="not_found")


async def provide_device(request: Request) -> Device:
    return await authenticate(request)


async def provide_caller(request: Request) -> Caller:
    return Caller(_database(request), await authenticate(request))
