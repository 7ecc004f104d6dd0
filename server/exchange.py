"""The sync round trip: judge each pushed change, write the batch, answer with a page.

Each change is decoded and judged on its own (``sync.validate``), so one malformed or
invalid change is rejected — and quarantined with its reason — while the rest of the
batch is applied in the same transaction.
"""

import time
from datetime import UTC, datetime

import msgspec

from schemas.change import Change
from schemas.sync import MAX_CHANGES, Ref, Rejection, SyncResponse
from server.db import Database, changes, console, scopes
from server.db.changes import Incoming, Quarantined
from server.db.devices import Device
from server.errors import BadRequestError, ForbiddenRequestError, PayloadTooLargeError
from sync.validate import (
    ChangeRejectedError,
    MalformedChangeError,
    check_change_json,
    check_stamp,
)

__all__ = ["iso_ms", "sync"]


class _Envelope(msgspec.Struct, forbid_unknown_fields=True):
    """SyncRequest with the changes left raw, to be decoded one by one."""

    node: str
    cursor: int = 0
    changes: list[msgspec.Raw] = []
    limit: int = 1000
    scope: str | None = None
    pending: int | None = None


class _RawChange(msgspec.Struct, forbid_unknown_fields=True):
    """A change whose value stays JSON: checked by a compiled decoder, stored as is."""

    coll: str
    id: str
    field: str
    value: msgspec.Raw
    hlc: str


class _TypedEnvelope(msgspec.Struct, forbid_unknown_fields=True):
    """The fast path: a batch whose every change has the right shape decodes in one pass."""

    node: str
    cursor: int = 0
    changes: list[_RawChange] = []
    limit: int = 1000
    scope: str | None = None
    pending: int | None = None


_envelope = msgspec.json.Decoder(_Envelope)
_typed_envelope = msgspec.json.Decoder(_TypedEnvelope)
_change = msgspec.json.Decoder(_RawChange)
_any = msgspec.json.Decoder()


def iso_ms(ms: int) -> str:
    """Unix ms → ``2026-11-22T14:05:15.123Z``."""
    at = datetime.fromtimestamp(ms / 1000, UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _decode_envelope(body: bytes) -> _Envelope | _TypedEnvelope:
    try:
        env = _typed_envelope.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError):
        # Some change (or the envelope) is malformed: decode the changes one by one so
        # each is judged alone, and report the envelope's own faults precisely.
        env = _decode_loose(body)
    return _check_envelope(env)


def _decode_loose(body: bytes) -> _Envelope:
    try:
        return _envelope.decode(body)
    except msgspec.ValidationError as exc:
        raise BadRequestError(f"sync request: {exc}", code="invalid_request") from None
    except msgspec.DecodeError:
        raise BadRequestError(
            "sync request body must be a JSON object {node, cursor, changes}",
            code="invalid_json",
        ) from None


def _check_envelope(env: _Envelope | _TypedEnvelope) -> _Envelope | _TypedEnvelope:
    if not isinstance(env.cursor, int) or env.cursor < 0:
        raise BadRequestError("cursor must be a whole number ≥ 0", code="invalid_request")
    if not 1 <= env.limit <= 5000:
        raise BadRequestError("limit must be between 1 and 5000", code="invalid_request")
    if env.pending is not None and not 0 <= env.pending <= 10_000_000:
        raise BadRequestError(
            "pending must be the number of entries waiting to upload (0 or more)",
            code="invalid_request",
        )
    if len(env.changes) > MAX_CHANGES:
        raise PayloadTooLargeError(
            f"{len(env.changes)} changes in one request; send at most {MAX_CHANGES} "
            "per request and the rest in the next",
            code="too_many_changes",
        )
    return env


def _as_raw(item: msgspec.Raw | _RawChange) -> msgspec.Raw:
    """The change as JSON, for the rare paths (rejection, quarantine) that need it."""
    if isinstance(item, _RawChange):
        return msgspec.Raw(msgspec.json.encode(item))
    return item


def _stamp_of(raw: msgspec.Raw | _RawChange) -> str | None:
    if isinstance(raw, _RawChange):
        return raw.hlc if len(raw.hlc) <= 64 else None
    try:
        obj = _any.decode(raw)
    except msgspec.DecodeError:
        return None
    hlc = obj.get("hlc") if isinstance(obj, dict) else None
    return hlc if isinstance(hlc, str) and len(hlc) <= 64 else None


async def sync(database: Database, device: Device, body: bytes) -> SyncResponse:
    """Handle one ``POST /api/v1/sync`` for an authenticated device."""
    env = _decode_envelope(body)
    if env.node != device.node:
        raise ForbiddenRequestError(
            f"this token belongs to device {device.node}, not {env.node[:16]!r}",
            code="wrong_node",
        )
    now = int(time.time() * 1000)
    received = iso_ms(now)
    good: list[Incoming] = []
    bad: list[Quarantined] = []
    rejected: list[Rejection] = []
    sources: list[tuple[int, msgspec.Raw | _RawChange]] = []
    for index, raw in enumerate(env.changes):
        try:
            if isinstance(raw, _RawChange):
                ch = raw
            else:
                try:
                    ch = _change.decode(raw)
                except msgspec.ValidationError as exc:
                    raise MalformedChangeError(f"change: {exc}") from None
            check_stamp(ch.hlc, device.node, now)
            check_change_json(ch.coll, ch.id, ch.field, ch.value)
        except ChangeRejectedError as exc:
            hlc = _stamp_of(raw)
            rejected.append(Rejection(hlc, index, exc.code, exc.message))
            bad.append(_quarantined(raw, hlc, device, exc, received))
            continue
        good.append(
            (
                ch.hlc,
                ch.coll,
                ch.id,
                ch.field,
                bytes(ch.value).decode(),
                device.node,
                device.person,
                received,
            )
        )
        sources.append((index, raw))
    # Access control (#5): a change outside the writer's rights is forbidden, quarantined.
    scope = await scopes.load_scope(database, device)
    good, denied = await scopes.authorise(database, scope, good, sources)
    for index, raw, exc in denied:
        rejected.append(Rejection(_stamp_of(raw), index, exc.code, exc.message))
        bad.append(_quarantined(raw, _stamp_of(raw), device, exc, received))
    rejected.sort(key=lambda r: r.index)
    await changes.apply(database, good, bad, node=device.node, seen_at=received)
    if env.pending is not None:
        # What the phone still holds after this batch, for the coordinator's roster.
        left = max(0, env.pending - len(env.changes))
        await console.record_pending(database, device.node, left, received)
    rows, cursor, more, evict, token = await scopes.pull(
        database, device, env.cursor, env.limit, env.scope, received
    )
    return SyncResponse(
        accepted=len(good),
        rejected=rejected,
        changes=[Change(c, i, f, msgspec.Raw(v), h) for _, c, i, f, v, h in rows],
        cursor=cursor,
        more=more,
        server_time=iso_ms(int(time.time() * 1000)),
        epoch=database.epoch,
        scope=token,
        evict=[Ref(c, i) for c, i in evict],
    )


def _quarantined(
    item: msgspec.Raw | _RawChange,
    hlc: str | None,
    device: Device,
    exc: ChangeRejectedError,
    at: str,
) -> Quarantined:
    raw = _as_raw(item)
    try:
        obj = _any.decode(raw)
    except msgspec.DecodeError:
        obj = None
    get = obj.get if isinstance(obj, dict) else (lambda _k: None)

    def text(key: str) -> str | None:
        v = get(key)
        return v[:100] if isinstance(v, str) else None

    return (
        hlc,
        device.node,
        device.person,
        text("coll"),
        text("id"),
        text("field"),
        bytes(raw).decode(errors="replace")[:20000],
        exc.code,
        exc.message,
        at,
    )
