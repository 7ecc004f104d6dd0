"""Device administration for coordinators: the list of phones and sessions, revocation.

A coordinator limited to a community sees and revokes only the devices of its people
(``db.scopes.people_filter``); any other device is a 404, as if it did not exist.
"""

from datetime import UTC, datetime
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, SkipValidation

from server.db import AnyDatabase
from server.db import devices as db_devices
from server.db.devices import DeviceRow
from server.errors import DoorstepError, NotFoundError
from server.guards import Scope

__all__ = ["ROUTES", "devices", "revoke"]


def _now() -> str:
    at = datetime.now(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


@get("/api/v1/devices")
async def devices(
    database: NamedDependency[AnyDatabase], access: SkipValidation[Scope]
) -> list[DeviceRow]:
    """The enrolled phones and browser sessions the coordinator may manage, newest first."""
    return await db_devices.listing(database, await access.read_scope())


@post("/api/v1/devices/{node:str}/revoke", status_code=200)
async def revoke(
    request: Request,
    node: FromPath[str],
    database: NamedDependency[AnyDatabase],
    access: SkipValidation[Scope],
) -> dict[str, Any]:
    """Revoke a phone or session: its next request gets 401 ``revoked`` and it wipes; its
    open streams close at once."""
    if len(node) != 16:
        raise NotFoundError(f"no device {node[:20]!r}; node ids are 16 hex digits")
    found, revoked_at = await db_devices.revoked_at(database, node, await access.read_scope())
    if not found:
        raise NotFoundError(f"no device {node}; check the device list")
    if revoked_at is not None or not await db_devices.revoke(database, node, _now()):
        err = DoorstepError(f"device {node} was already revoked", code="already_revoked")
        err.status = 409
        raise err
    request.app.state.broker.close_node(node)
    return {"revoked": node}


ROUTES = [devices, revoke]
