"""Residents' endpoints, reached by an unguessable per-incident link ``/r/<token>``.

The token in the path is the capability: whoever has the link may read the incident's
public view (``schemas.progress.PublicProgress``) — progress and public updates, never a
name, room, phone, note, vulnerability or need. The live wiring these routes read from
(one ``Broker`` and ``Pusher`` per process) is started by ``server.live.wiring``.

A whole neighbourhood behind one carrier address opens the link within a minute (#9), so
the successful page and data are not rate-limited per address and cost next to nothing:
the page is held in memory, the data encoded once per incident version, and both carry an
``ETag`` so a reload answers 304. Unknown tokens still count as failures
(server/guards/ratelimit.py); floods are for the connection cap (server/http/listener.py)
and the proxy.
"""

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import File

from schemas.progress import PublicProgress
from server.db import push as db_push
from server.db.push import PushSub
from server.errors import BadRequestError, NotFoundError
from server.guards.caller import resident_incident
from server.http.coord import last_event_id, qr_svg
from server.live.push import endpoint_allowed
from server.live.residents import PublicStream

__all__ = ["RESIDENT_ROUTES", "ROUTES"]


async def _incident(request: Request, token: str) -> str:
    """The incident the link opens (checked by the router's guard, cached per request)."""
    incident = request.scope.get("state", {}).get("incident")
    return incident if incident is not None else await resident_incident(request, token)


_PAGE: dict[Path, tuple[tuple[int, int], bytes, str]] = {}


def _page(path: Path) -> tuple[bytes, str]:
    """The residents' page and its ETag, read again only when the file changes."""
    st = path.stat()
    stamp = (st.st_mtime_ns, st.st_size)
    hit = _PAGE.get(path)
    if hit is None or hit[0] != stamp:
        body = path.read_bytes()
        hit = _PAGE[path] = (stamp, body, f'"{hashlib.sha256(body).hexdigest()[:16]}"')
    return hit[1], hit[2]


def _cached(request: Request, body: bytes, etag: str, media_type: str, cache: str) -> Response:
    """``body`` with its ETag, or 304 when the client already holds it."""
    headers = {"Cache-Control": cache, "ETag": etag, "Referrer-Policy": "no-referrer"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(b"", status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


@get("/r/{token:str}", include_in_schema=False)
async def resident_page(request: Request, token: FromPath[str]) -> Response:
    """The residents' page (the same static page for every link; it reads its token)."""
    await _incident(request, token)
    body, etag = _page(request.app.state.settings.pwa_dir / "resident.html")
    return _cached(request, body, etag, "text/html; charset=utf-8", "no-cache")


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
    version, _, pub = got
    body, etag = _public_answer(request, incident, version, pub)
    return _cached(request, body, etag, "application/json", "private, no-cache")


def _public_answer(
    request: Request, incident: str, version: int, pub: PublicProgress
) -> tuple[bytes, str]:
    """The encoded public answer of an incident and its ETag, made once per version.

    ``version`` is the sequence at which the incident's public view last changed (the
    broker's public frame cache): a per-incident version, so other incidents' writes do
    not invalidate it.
    """
    cache: dict[str, tuple[int, bytes, str]] = request.app.state.public_cache
    hit = cache.get(incident)
    if hit is None or hit[0] != version:
        body = msgspec.json.encode(_with_key(pub, request.app.state.pusher.public_key))
        tag = hashlib.sha256(incident.encode()).hexdigest()[:12]
        if len(cache) > 10_000:
            cache.clear()
        hit = cache[incident] = (version, body, f'"{tag}-{version}"')
    return hit[1], hit[2]


class _PublicAnswer(PublicProgress, kw_only=True):
    push_key: str = ""


def _with_key(pub: PublicProgress, key: str) -> _PublicAnswer:
    fields = {f: getattr(pub, f) for f in pub.__struct_fields__}
    return _PublicAnswer(**fields, push_key=key)


@get("/api/v1/public/{token:str}/events")
async def public_events(request: Request, token: FromPath[str]) -> PublicStream:
    """The same view, live: a ``public`` event whenever it changes; ``id`` = the view's
    opaque version (never the server's sequence). Served lean (server/live/residents.py):
    the whole neighbourhood may hold it open."""
    incident = await _incident(request, token)
    return PublicStream(request.app.state.broker, incident, last_event_id(request))


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
