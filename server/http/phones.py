"""The phones' routes: ``/healthz``, enrolment, the sync round trip and the nudge stream.

Thin: decode, authorise, call the store, answer. ``POST /api/v1/sync`` hands the body to
``server.syncing.round_trip.run``; the nudges are ``server.live.broker`` subscriptions.
"""

from datetime import UTC, datetime

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import SkipValidation
from litestar.response import ServerSentEvent

from schemas.enroll import EnrollRequest, EnrollResponse
from schemas.sync import SyncResponse
from server.db import AnyDatabase, devices, people, scopes
from server.db.devices import Device
from server.errors import DoorstepError, decode_body
from server.http.metrics import observe_sync
from server.syncing import round_trip

__all__ = ["enroll", "healthz", "nudges", "sync"]

_enroll_decoder = msgspec.json.Decoder(EnrollRequest)

_INVITE_ERRORS = {
    "invite_unknown": (
        400,
        "this invite code does not exist; check it or ask the coordinator for a new one",
    ),
    "invite_used": (
        409,
        "this invite code has already been used; ask the coordinator for a new one",
    ),
    "invite_expired": (410, "this invite code has expired; ask the coordinator for a new one"),
    "invite_revoked": (
        410,
        "this invite code was withdrawn by the coordinator; ask them for a new one",
    ),
}


@get("/healthz", sync_to_thread=False)
def healthz() -> dict[str, bool]:
    return {"ok": True}


@post("/api/v1/enroll", status_code=200)
async def enroll(request: Request, database: NamedDependency[AnyDatabase]) -> EnrollResponse:
    """Spend an invite code: bind a new device token to a fresh HLC node id."""
    data = decode_body(
        _enroll_decoder, await request.body(), "enrolment", '{"code": "...", "device": "..."}'
    )
    now = round_trip.iso_ms(int(datetime.now(UTC).timestamp() * 1000))
    result = await devices.enroll(database, data.code, data.device, now)
    if isinstance(result, str):
        status, message = _INVITE_ERRORS[result]
        err = DoorstepError(message, code=result)
        err.status = status
        raise err
    token, device = result
    return EnrollResponse(
        token=token,
        node=device.node,
        role=device.role,  # type: ignore[arg-type]
        person=device.person,
        name=await people.name_of(database, device.person),
    )


@post("/api/v1/sync", status_code=200)
async def sync(
    request: Request, database: NamedDependency[AnyDatabase], device: SkipValidation[Device]
) -> SyncResponse:
    """One round trip: push unsent changes, pull winners since the cursor."""
    counts = request.app.state.metrics
    try:
        answer = await round_trip.run(database, device, await request.body())
    except DoorstepError as exc:
        observe_sync(counts, None, exc.code)
        raise
    observe_sync(counts, answer)
    return answer


@get("/api/v1/nudges")
async def nudges(
    request: Request, database: NamedDependency[AnyDatabase], device: SkipValidation[Device]
) -> ServerSentEvent:
    """A phone's live nudges while online: ``changed`` when something it may read was
    written by another device (docs/live.md). No data rides on it; the phone syncs."""
    scope = await scopes.load_scope(database, device)
    events = request.app.state.broker.volunteer_stream(device.node, scope)
    return ServerSentEvent(events, headers={"Cache-Control": "no-cache, no-transform"})
