"""Device administration for coordinators: the list of phones and sessions, revocation.

A coordinator limited to a community sees and revokes only the devices of its people
(``db.scopes.people_filter``); any other device is a 404, as if it did not exist.
Each device's label (a phone's "Android Chrome", a login's user-agent string) is read
into a kind, a system and a browser name (``describe``), which the page words in its
language ("安卓手机 · Chrome"); a raw user-agent string is never shown (issue 22, D14).
"""

import re
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, SkipValidation

from server.db import AnyDatabase
from server.db import devices as db_devices
from server.db.devices import DeviceRow
from server.errors import DoorstepError, NotFoundError
from server.guards.caller import Caller

__all__ = ["ROUTES", "devices", "revoke"]


def _now() -> str:
    at = datetime.now(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


#: (pattern, name) in the order a user-agent string must be tried: Edge and WeChat also
#: say Chrome or Safari, Chrome also says Safari.
_BROWSERS = (
    (re.compile(r"MicroMessenger|WeChat", re.I), "WeChat"),
    (re.compile(r"\bEdg(e|A|iOS)?/|\bEdge\b"), "Edge"),
    (re.compile(r"\b(Firefox|FxiOS)\b"), "Firefox"),
    (re.compile(r"\b(Chrome|CriOS|Chromium)\b"), "Chrome"),
    (re.compile(r"\bSafari\b"), "Safari"),
)
_SYSTEMS = (
    (re.compile(r"Android", re.I), "android"),
    (re.compile(r"iPhone|iPad|iPod|\biOS\b"), "ios"),
    (re.compile(r"Windows"), "windows"),
    (re.compile(r"Mac( OS|intosh|\b)"), "mac"),
    (re.compile(r"Linux|X11|CrOS"), "linux"),
)


def describe(label: str | None, expires_at: str | None) -> tuple[str, str, str]:
    """(kind, system, browser) of a device from its label: a login (it expires) or a
    desktop system is a ``browser``, anything else a ``phone``."""
    text = label or ""
    system = next((name for rx, name in _SYSTEMS if rx.search(text)), "")
    browser = next((name for rx, name in _BROWSERS if rx.search(text)), "")
    login = expires_at is not None or text.startswith("browser")
    kind = "browser" if login or system in ("windows", "mac", "linux") else "phone"
    return kind, system, browser


@get("/api/v1/devices")
async def devices(
    database: NamedDependency[AnyDatabase], access: SkipValidation[Caller]
) -> list[DeviceRow]:
    """The enrolled phones and browser sessions the coordinator may manage, newest first,
    each described as kind, system and browser (the label stays for the command line)."""
    rows = await db_devices.listing(database, await access.read_scope())
    return [
        msgspec.structs.replace(
            r,
            **dict(
                zip(("kind", "system", "browser"), describe(r.label, r.expires_at), strict=True)
            ),
        )
        for r in rows
    ]


@post("/api/v1/devices/{node:str}/revoke", status_code=200)
async def revoke(
    request: Request,
    node: FromPath[str],
    database: NamedDependency[AnyDatabase],
    access: SkipValidation[Caller],
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
