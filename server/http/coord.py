"""Coordinator endpoints: progress, share links, the live stream, review of the quarantine
and of overwritten edits.

Every route here is for coordinators (the router's guard, ``server.guards.caller``); what each
may see is asked of the request's ``Caller`` (a coordinator limited to a community gets 404
for anything of another). Credentials travel in a header or a cookie, never in a URL.
"""

import io
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import msgspec
import segno
from litestar import Request, get, post
from litestar.params import FromPath, FromQuery, SkipValidation
from litestar.response import ServerSentEvent

from schemas.checks import CheckItem
from schemas.progress import Progress
from schemas.records import COLLECTIONS
from server.db import AnyDatabase, history, log, people, shares
from server.db import quarantine as db_quarantine
from server.db.devices import Device
from server.derived.checks import derive_checks
from server.derived.progress import derive
from server.errors import BadRequestError, NotFoundError
from server.guards.caller import Caller
from server.live.broker import Broker

__all__ = [
    "ROUTES",
    "checks",
    "last_event_id",
    "live_stats",
    "progress",
    "qr_svg",
    "quarantine",
    "record_history",
    "resolve",
    "share",
    "stream",
]

#: SSE responses must never be cached or transformed by a proxy.
SSE_HEADERS = {"Cache-Control": "no-cache, no-transform"}


def last_event_id(request: Request) -> int | None:
    """The ``Last-Event-ID`` a reconnecting client sends, as a sequence number."""
    raw = request.headers.get("last-event-id")
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 18:  # not "²" or "٣"
        raise BadRequestError(
            "Last-Event-ID must be the id of an event this server sent (a whole number)",
            code="invalid_event_id",
        )
    return int(text)


def _database_and_broker(request: Request) -> tuple[AnyDatabase, Broker]:
    state = request.app.state
    return state.database, state.broker


def _now() -> str:
    at = datetime.now(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def qr_svg(text: str) -> str:
    """A QR code as SVG, made on the server (segno: pure Python, no JS encoder to ship)."""
    out = io.BytesIO()
    segno.make(text, error="m").save(
        out, kind="svg", scale=6, border=2, xmldecl=False, nl=False, title="QR"
    )
    return out.getvalue().decode()


@get("/api/v1/incidents/{incident:str}/checks")
async def checks(
    request: Request, incident: FromPath[str], access: SkipValidation[Caller]
) -> list[CheckItem]:
    """The incident's 需核实 list, derived from the records now (server/derived/checks.py)."""
    await access.require_incident(incident)
    database, _ = _database_and_broker(request)
    data = await log.incident_inputs(database, incident)
    if data is None:
        raise NotFoundError(f"no incident {incident[:100]!r}; check the link", code="no_incident")
    resolutions = await log.checks_of(database, incident)
    return derive_checks(incident, data, resolutions, int(time.time() * 1000))


@get("/api/v1/incidents/{incident:str}/progress")
async def progress(
    request: Request, incident: FromPath[str], access: SkipValidation[Caller]
) -> Progress:
    """The incident's aggregates, derived from the records now."""
    await access.require_incident(incident)
    database, _ = _database_and_broker(request)
    data = await log.incident_inputs(database, incident)
    if data is None:
        raise NotFoundError(f"no incident {incident[:100]!r}; check the link", code="no_incident")
    return derive(incident, data)


class ShareResponse(msgspec.Struct):
    token: str
    url: str
    qr: str


@post("/api/v1/incidents/{incident:str}/share", status_code=200)
async def share(
    request: Request,
    incident: FromPath[str],
    device: SkipValidation[Device],
    access: SkipValidation[Caller],
) -> ShareResponse:
    """The incident's public link for residents (created once, then the same link)."""
    await access.require_incident(incident)
    database, _ = _database_and_broker(request)
    if not await shares.incident_exists(database, incident):
        raise NotFoundError(
            f"no incident {incident[:100]!r} on the server yet; sync first, then share",
            code="no_incident",
        )
    token = await shares.of_incident(database, incident)
    if token is None:
        # 144 random bits: the link is the only key to the page.
        token = secrets.token_urlsafe(18)
        await shares.add(database, token, incident, device.person, _now())
        token = await shares.of_incident(database, incident) or token
    url = f"{request.app.state.settings.base_url.rstrip('/')}/r/{token}"
    return ShareResponse(token=token, url=url, qr=qr_svg(url))


@get("/api/v1/events")
async def stream(request: Request, device: SkipValidation[Device]) -> ServerSentEvent:
    """Coordinator stream: ``change`` and ``progress`` events, ``id`` = server sequence.

    A coordinator with a community receives only what their pulls would give them.
    """
    _, broker = _database_and_broker(request)
    # A coordinator limited to a community gets only their community's records (#5); the
    # stream ends when the device is revoked or the session ends (#9).
    community = await people.community_of(request.app.state.database, device.person)
    events = broker.coordinator_stream(last_event_id(request), community, node=device.node)
    return ServerSentEvent(events, headers=SSE_HEADERS)


class QuarantineItem(msgspec.Struct):
    qid: int
    hlc: str | None
    node: str
    person: str | None
    name: str | None
    coll: str | None
    id: str | None
    field: str | None
    raw: str
    error: str
    message: str
    received_at: str
    resolved_at: str | None


@get("/api/v1/quarantine")
async def quarantine(
    request: Request,
    access: SkipValidation[Caller],
    all: FromQuery[bool] = False,
    limit: FromQuery[int] = 200,
) -> list[QuarantineItem]:
    """Rejected changes, newest first, for a coordinator to review (of its community)."""
    database, _ = _database_and_broker(request)
    rows = await db_quarantine.listing(
        database, max(1, min(limit, 1000)), include_resolved=all, scope=await access.read_scope()
    )
    return [QuarantineItem(*r) for r in rows]


@post("/api/v1/quarantine/{qid:int}/resolve", status_code=200)
async def resolve(
    request: Request, qid: FromPath[int], access: SkipValidation[Caller]
) -> dict[str, Any]:
    """Mark a rejected change as reviewed (it stays on record)."""
    database, _ = _database_and_broker(request)
    # Any whole number parses from the path; SQLite integers stop at 2**63 - 1.
    if not 1 <= qid < 2**63 or not await db_quarantine.resolve(
        database, qid, _now(), await access.read_scope()
    ):
        raise NotFoundError(f"no unresolved rejected change {qid}", code="no_quarantined")
    return {"qid": qid, "resolved": True}


class HistoryItem(msgspec.Struct):
    seq: int
    field: str
    value: msgspec.Raw
    hlc: str
    node: str
    person: str | None
    name: str | None
    received_at: str
    winner: bool


@get("/api/v1/records/{coll:str}/{rid:str}/history")
async def record_history(
    request: Request, coll: FromPath[str], rid: FromPath[str], access: SkipValidation[Caller]
) -> list[HistoryItem]:
    """Every accepted write of one record — including the ones that lost — with who and when."""
    if coll not in COLLECTIONS:
        raise NotFoundError(f"no collection {coll[:50]!r}", code="unknown_collection")
    await access.require_record(coll, rid)
    database, _ = _database_and_broker(request)
    rows = await history.of_record(database, coll, rid, 2000)
    return [
        HistoryItem(s, f, msgspec.Raw(v.encode()), h, n, p, name, at, bool(w))
        for s, f, v, h, n, p, name, at, w in rows
    ]


@get("/api/v1/live/stats")
async def live_stats(request: Request, access: SkipValidation[Caller]) -> dict[str, Any]:
    """Open streams of this process, by topic, and how far its tailer has read (a
    coordinator limited to a community sees its own topic only)."""
    _, broker = _database_and_broker(request)
    streams = broker.count()
    community = await access.community()
    if not await access.unlimited():
        streams = {t: n for t, n in streams.items() if t == f"coord:{community}"}
    return {"tail": broker.last, "streams": streams}


ROUTES = [checks, progress, share, stream, quarantine, resolve, record_history, live_stats]
