"""Residents' endpoints, reached by an unguessable per-incident link ``/r/<token>``.

The token in the path is the capability: whoever has the link may read the incident's
public view (``schemas.progress.PublicProgress``) — progress and public updates, never a
name, room, phone, note, vulnerability or need. The live wiring these routes read from
(one ``Broker`` and ``Pusher`` per process) is started by ``server.wiring``.
"""

from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import File, ServerSentEvent

from schemas.progress import PublicProgress
from server.coord import SSE_HEADERS, last_event_id, qr_svg
from server.db import push as db_push
from server.db.push import PushSub
from server.errors import BadRequestError, NotFoundError
from server.guards import resident_incident
from server.live import Broker
from server.push import endpoint_allowed

__all__ = ["RESIDENT_ROUTES", "ROUTES"]


async def _incident(request: Request, token: str) -> str:
    """The incident the link opens (checked by the router's guard, cached per request)."""
    incident = request.scope.get("state", {}).get("incident")
    return incident if incident is not None else await resident_incident(request, token)


@get("/r/{token:str}", include_in_schema=False)
async def resident_page(request: Request, token: FromPath[str]) -> File:
    """The residents' page (the same static page for every link; it reads its token)."""
    await _incident(request, token)
    return File(
        request.app.state.settings.pwa_dir / "resident.html",
        content_disposition_type="inline",
        media_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-cache", "Referrer-Policy": "no-referrer"},
    )


@get("/r/{token:str}/qr.svg", include_in_schema=False)
async def resident_qr(request: Request, token: FromPath[str]) -> Response:
    """A QR code of the residents' link, to print or show on the coordinator's screen."""
    await _incident(request, token)
    url = f"{request.app.state.settings.base_url.rstrip('/')}/r/{token}"
    return Response(
        qr_svg(url), media_type="image/svg+xml", headers={"Cache-Control": "max-age=3600"}
    )


@get("/resident-sw.js", include_in_schema=False, sync_to_thread=False)
def resident_sw(request: Request) -> File:
    """The residents' service worker (push only), scoped to ``/r/``."""
    return File(
        request.app.state.settings.pwa_dir / "js/resident/sw.js",
        content_disposition_type="inline",
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/r/"},
    )


@get("/api/v1/public/{token:str}")
async def public_progress(request: Request, token: FromPath[str]) -> Response:
    """Progress and public updates of the link's incident, now."""
    incident = await _incident(request, token)
    got = await request.app.state.broker.public(incident)
    if got is None:
        raise NotFoundError("this incident no longer exists", code="no_incident")
    _, _, pub = got
    return Response(
        msgspec.json.encode(_with_key(pub, request.app.state.pusher.public_key)),
        media_type="application/json",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


class _PublicAnswer(PublicProgress, kw_only=True):
    push_key: str = ""


def _with_key(pub: PublicProgress, key: str) -> _PublicAnswer:
    fields = {f: getattr(pub, f) for f in pub.__struct_fields__}
    return _PublicAnswer(**fields, push_key=key)


@get("/api/v1/public/{token:str}/events")
async def public_events(request: Request, token: FromPath[str]) -> ServerSentEvent:
    """The same view, live: a ``public`` event whenever it changes; ``id`` = the view's
    opaque version (never the server's sequence)."""
    incident = await _incident(request, token)
    broker: Broker = request.app.state.broker
    return ServerSentEvent(
        broker.public_stream(incident, last_event_id(request)), headers=SSE_HEADERS
    )


class _Keys(msgspec.Struct):
    p256dh: str
    auth: str


class _Subscription(msgspec.Struct):
    """A browser's ``PushSubscription.toJSON()``."""

    endpoint: str
    keys: _Keys
    expirationTime: Any = None  # the browser's spelling


class _Unsubscribe(msgspec.Struct):
    endpoint: str


def _decode(body: bytes, kind: type[Any]) -> Any:
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise BadRequestError(f"push subscription: {exc}", code="invalid_request") from None
    except msgspec.DecodeError:
        raise BadRequestError(
            "body must be the JSON of a browser push subscription", code="invalid_json"
        ) from None


@post("/api/v1/public/{token:str}/push", status_code=201)
async def push_subscribe(request: Request, token: FromPath[str]) -> dict[str, bool]:
    """Subscribe a browser to this incident's notifications."""
    incident = await _incident(request, token)
    sub: _Subscription = _decode(await request.body(), _Subscription)
    if not endpoint_allowed(sub.endpoint):
        raise BadRequestError(
            "this push endpoint is not a known browser push service", code="invalid_endpoint"
        )
    if not (40 <= len(sub.keys.p256dh) <= 120 and 16 <= len(sub.keys.auth) <= 40):
        raise BadRequestError("push subscription keys have the wrong size", code="invalid_keys")
    await db_push.add(
        request.app.state.database,
        incident,
        PushSub(sub.endpoint, sub.keys.p256dh, sub.keys.auth),
        _now(),
    )
    got = await request.app.state.broker.public(incident)
    await request.app.state.pusher.subscribed(incident, got[2] if got else None)
    return {"subscribed": True}


@post("/api/v1/public/{token:str}/push/unsubscribe", status_code=200)
async def push_unsubscribe(request: Request, token: FromPath[str]) -> dict[str, bool]:
    incident = await _incident(request, token)
    sub: _Unsubscribe = _decode(await request.body(), _Unsubscribe)
    await db_push.remove(request.app.state.database, sub.endpoint, incident)
    return {"subscribed": False}


def _now() -> str:
    at = datetime.now(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


#: Reached with a residents' link: the token in the path is checked by the router's guard.
RESIDENT_ROUTES = [
    resident_page,
    resident_qr,
    public_progress,
    public_events,
    push_subscribe,
    push_unsubscribe,
]
ROUTES = [*RESIDENT_ROUTES, resident_sw]
