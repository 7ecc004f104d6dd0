"""Web Push (VAPID, RFC 8292; payload encrypted with aes128gcm, RFC 8291) for residents.

The VAPID key pair is made on first start and kept in the database's ``meta`` table, so
every server process on the file signs with the same key and subscriptions survive
restarts. A notification goes out when the residents' view changes in a way worth a
buzz — a new public update, a new status, a new expected time — and exactly once across
processes: the process whose insert claims the change's key in ``push_sent`` sends it.

Endpoints are URLs a browser hands us, so they are checked against the known push
services (``DOORSTEP_PUSH_HOSTS`` adds hosts, e.g. a local one in tests, and allows
plain http for those only): the server must not be made to POST to arbitrary addresses.
"""

import asyncio
import base64
import hashlib
import logging
import os
from urllib.parse import urlsplit

import anyio
import msgspec
import py_vapid
from cryptography.hazmat.primitives import serialization

from schemas.progress import PublicProgress
from server.db import AnyDatabase, meta, shares
from server.db import push as db_push
from server.db.push import PushSub

__all__ = ["PUSH_SERVICES", "Pusher", "endpoint_allowed", "notification_key"]

log = logging.getLogger("doorstep.push")

#: Hosts of the browsers' push services (suffix match).
PUSH_SERVICES = (
    "fcm.googleapis.com",
    "android.googleapis.com",
    "push.services.mozilla.com",
    "push.apple.com",
    "notify.windows.com",
)
_META_KEY = "vapid_private_pem"
_TTL = 12 * 3600


def _extra_hosts() -> set[str]:
    raw = os.environ.get("DOORSTEP_PUSH_HOSTS", "")
    return {h.strip().lower() for h in raw.split(",") if h.strip()}


def endpoint_allowed(endpoint: str) -> bool:
    """Is this a push service we will POST to?"""
    try:
        parts = urlsplit(endpoint)
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    if not host or len(endpoint) > 1000 or parts.username or parts.password:
        return False
    extra = _extra_hosts()
    if host in extra or f"{host}:{parts.port}" in extra:
        return parts.scheme in ("http", "https")
    return parts.scheme == "https" and any(
        host == s or host.endswith("." + s) for s in PUSH_SERVICES
    )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def notification_key(incident: str, pub: PublicProgress) -> str:
    """What residents were last told, as a key: it changes when a push is due."""
    latest = pub.updates[0].id if pub.updates else ""
    text = f"{incident}|{pub.status}|{pub.eta}|{latest}"
    return hashlib.sha256(text.encode()).hexdigest()


class Payload(msgspec.Struct, omit_defaults=True):
    """What the residents' service worker receives (it words the notification itself)."""

    title: str
    url: str
    kind: str  # "update", "status" or "eta"
    status: str | None = None
    eta: str | None = None
    text: str | None = None
    tag: str = "doorstep"


class Pusher:
    """Sends residents' notifications for this process."""

    def __init__(self, database: AnyDatabase, base_url: str, *, concurrency: int = 8) -> None:
        self.database = database
        self.base_url = base_url.rstrip("/")
        self.vapid: py_vapid.Vapid02 | None = None
        self.public_key = ""
        self._limit = anyio.CapacityLimiter(concurrency)
        self.sent = 0

    async def start(self) -> None:
        pem = await meta.get(self.database, _META_KEY)
        if pem is None:
            fresh = py_vapid.Vapid02()
            fresh.generate_keys()
            pem = await meta.claim(self.database, _META_KEY, fresh.private_pem().decode())
        self.vapid = py_vapid.Vapid02.from_pem(pem.encode())
        point = self.vapid.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.public_key = _b64(point)

    def _claims(self) -> dict[str, str]:
        sub = (
            self.base_url if self.base_url.startswith("https://") else "mailto:ops@doorstep.invalid"
        )
        return {"sub": sub}

    async def subscribed(self, incident: str, pub: PublicProgress | None) -> None:
        """A new subscriber hears about what happens next, not what they are looking at."""
        if pub is not None:
            await db_push.claim(self.database, notification_key(incident, pub), incident, _now())

    async def on_public(
        self, incident: str, old: PublicProgress | None, new: PublicProgress
    ) -> None:
        """Broker hook: the residents' view of ``incident`` changed."""
        payload = self._payload(incident, old, new)
        if payload is None:
            return
        subs = await db_push.subs(self.database, incident)
        if not subs:
            return
        if not await db_push.claim(
            self.database, notification_key(incident, new), incident, _now()
        ):
            return  # another process (or an earlier run) sent it
        token = await shares.of_incident(self.database, incident)
        if token is None:
            return
        payload.url = f"{self.base_url}/r/{token}"
        data = msgspec.json.encode(payload).decode()
        await asyncio.gather(*(self._send(s, data) for s in subs))

    def _payload(
        self, incident: str, old: PublicProgress | None, new: PublicProgress
    ) -> Payload | None:
        title = new.title or "Doorstep"
        latest = new.updates[0] if new.updates else None
        if latest is not None and (
            # A new update, not an older one back on top after a retraction (#22 D10).
            old is None or latest.id not in {u.id for u in old.updates}
        ):
            return Payload(title, "", "update", new.status, new.eta, latest.text[:500], incident)
        if old is None or old.status != new.status:
            return Payload(title, "", "status", new.status, new.eta, None, incident)
        if old.eta != new.eta:
            return Payload(title, "", "eta", new.status, new.eta, None, incident)
        return None

    async def _send(self, sub: PushSub, data: str) -> None:
        # Imported on the first send: it brings aiohttp, a second of start-up for every
        # server that never sends a push.
        from pywebpush import WebPushException, webpush

        info = {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}
        if not endpoint_allowed(sub.endpoint):
            await db_push.remove(self.database, sub.endpoint)
            return
        try:
            await anyio.to_thread.run_sync(
                lambda: webpush(
                    info,
                    data,
                    vapid_private_key=self.vapid,
                    vapid_claims=self._claims(),
                    ttl=_TTL,
                    timeout=10,
                ),
                limiter=self._limit,
            )
            self.sent += 1
        except WebPushException as exc:
            status = getattr(exc.response, "status_code", None)
            # 404/410: the browser unsubscribed; forget it. Anything else: count it.
            await db_push.failed(self.database, sub.endpoint, gone=status in (404, 410))
            log.warning("push to %s failed: %s", urlsplit(sub.endpoint).hostname, status)
        except Exception as exc:  # network errors must not stop the other sends
            await db_push.failed(self.database, sub.endpoint, gone=False)
            log.warning(
                "push to %s failed: %s", urlsplit(sub.endpoint).hostname, type(exc).__name__
            )


def _now() -> str:
    from datetime import UTC, datetime

    at = datetime.now(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
