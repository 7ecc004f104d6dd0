"""HTTP handlers of the sync API. Thin: decode, authorise, call the store, answer."""

from datetime import UTC, datetime

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from schemas.enroll import EnrollRequest, EnrollResponse
from schemas.sync import SyncResponse
from server import exchange
from server.db import Database, devices, people
from server.db.devices import Device
from server.errors import DoorstepError, decode_body

__all__ = ["enroll", "healthz", "sync"]

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
}


@get("/healthz", sync_to_thread=False)
def healthz() -> dict[str, bool]:
    return {"ok": True}


@post("/api/v1/enroll", status_code=200)
async def enroll(request: Request, database: NamedDependency[Database]) -> EnrollResponse:
    """Spend an invite code: bind a new device token to a fresh HLC node id."""
    data = decode_body(
        _enroll_decoder, await request.body(), "enrolment", '{"code": "...", "device": "..."}'
    )
    now = exchange.iso_ms(int(datetime.now(UTC).timestamp() * 1000))
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
    request: Request, database: NamedDependency[Database], device: SkipValidation[Device]
) -> SyncResponse:
    """One round trip: push unsent changes, pull winners since the cursor."""
    return await exchange.sync(database, device, await request.body())
