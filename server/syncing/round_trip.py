"""The sync round trip: judge each pushed change, write the batch, answer with a page.

Each change is decoded and judged on its own (``sync.validate``), so one malformed or
invalid change is rejected — and quarantined with its reason — while the rest of the
batch is applied in the same transaction.

``run`` is called by ``server.http.phones.sync`` for one authenticated device; the batch, the
quarantine and the page are one call of ``server.db.syncs.exchange``.
"""

import re
import time
from datetime import UTC, datetime

import msgspec

from schemas.change import Change
from schemas.sync import MAX_CHANGES, Ref, Rejection, SyncRequest, SyncResponse
from server.db import AnyDatabase, syncs
from server.db.changes import Incoming, Quarantined
from server.db.devices import Device
from server.errors import BadRequestError, ForbiddenRequestError, PayloadTooLargeError
from sync.validate import (
    ChangeRejectedError,
    MalformedChangeError,
    check_change_json,
    check_stamp,
    valid_texts,
)

__all__ = ["iso_ms", "run"]


_request = msgspec.json.Decoder(SyncRequest)
_change = msgspec.json.Decoder(Change)
_any = msgspec.json.Decoder()

#: JSON strings (with escapes) and the punctuation that nests or separates values.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},:]', re.S)


def iso_ms(ms: int) -> str:
    """Unix ms → ``2026-11-22T14:05:15.123Z``."""
    at = datetime.fromtimestamp(ms / 1000, UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _decode(body: bytes) -> tuple[SyncRequest, list[Change | bytes]]:
    """The request, and its changes — decoded, or left as bytes to be judged one by one.

    One typed decoder (``schemas.sync.SyncRequest``) reads a well-formed request in one
    pass. If that fails, the changes are cut out of the body without decoding them (any
    nesting depth, any bytes) and the rest is decoded alone, so the request's own faults
    are reported precisely and a malformed change is rejected by itself.
    """
    try:
        req = _request.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        pass
    else:
        return req, list(req.changes)
    head, items = _split_changes(body)
    try:
        req = _request.decode(head)
    except msgspec.ValidationError as exc:
        raise BadRequestError(f"sync request: {exc}", code="invalid_request") from None
    except (msgspec.DecodeError, RecursionError):
        raise BadRequestError(
            "sync request body must be a JSON object {node, cursor, changes}",
            code="invalid_json",
        ) from None
    if len(items) > MAX_CHANGES:
        raise PayloadTooLargeError(
            f"{len(items)} changes in one request; send at most {MAX_CHANGES} "
            "per request and the rest in the next",
            code="too_many_changes",
        )
    return req, list(items)


def _split_changes(body: bytes) -> tuple[bytes, list[bytes]]:
    """(the body with ``"changes": []``, the raw bytes of each change), by a scan of its
    strings and brackets that never recurses. A body that is not an object whose
    ``changes`` is an array comes back whole, with no changes."""
    depth = 0
    key: bytes | None = None
    start = end = -1
    items: list[bytes] = []
    item_from = -1
    for m in _TOKENS.finditer(body):
        tok = m.group()
        if tok[:1] == b'"':
            if depth == 1 and start < 0:
                key = tok
            continue
        if tok in (b"[", b"{"):
            depth += 1
            if depth == 2 and tok == b"[" and key == b'"changes"' and start < 0:
                start, item_from = m.start(), m.end()
        elif tok in (b"]", b"}"):
            depth -= 1
            if depth == 1 and start >= 0 and end < 0:
                end = m.end()
                last = body[item_from : m.start()].strip()
                if last:
                    items.append(last)
        elif tok == b"," and depth == 2 and start >= 0 and end < 0:
            items.append(body[item_from : m.start()].strip())
            item_from = m.end()
        elif tok == b":" and depth == 1 and start < 0 and key != b'"changes"':
            key = None
    if start < 0 or end < 0:
        return body, []
    return body[:start] + b"[]" + body[end:], items


def _as_raw(item: Change | bytes) -> bytes:
    """The change as JSON, for the rare paths (rejection, quarantine) that need it."""
    return msgspec.json.encode(item) if isinstance(item, Change) else item


def _stamp_of(item: Change | bytes) -> str | None:
    if isinstance(item, Change):
        return item.hlc
    try:
        obj = _any.decode(item)
    except (msgspec.DecodeError, RecursionError):
        return None
    hlc = obj.get("hlc") if isinstance(obj, dict) else None
    return hlc if isinstance(hlc, str) and len(hlc) <= 64 else None


def _judge(item: Change | bytes, node: str, now: int) -> tuple[Change, str]:
    """The change and its value's JSON text, if it is well-formed and valid.

    Raises:
        ChangeRejectedError: why this change alone is refused.
    """
    if isinstance(item, Change):
        ch = item
    else:
        try:
            ch = _change.decode(item)
        except msgspec.ValidationError as exc:
            raise MalformedChangeError(f"change: {exc}") from None
        except (msgspec.DecodeError, RecursionError):
            raise MalformedChangeError(
                "change is not valid JSON (bad bytes, a lone surrogate, or nested too deeply)"
            ) from None
    try:
        text = bytes(ch.value).decode()
    except UnicodeDecodeError:
        raise MalformedChangeError("change value is not valid UTF-8") from None
    check_stamp(ch.hlc, node, now)
    try:
        check_change_json(ch.coll, ch.id, ch.field, ch.value)
    except (msgspec.DecodeError, RecursionError):
        raise MalformedChangeError(
            f"{ch.coll[:40]}.{ch.field[:40]}: value is not valid JSON or nested too deeply"
        ) from None
    return ch, text


async def run(database: AnyDatabase, device: Device, body: bytes) -> SyncResponse:
    """Handle one ``POST /api/v1/sync`` for an authenticated device."""
    env, items = _decode(body)
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
    sources: list[tuple[int, Change | bytes]] = []
    node, person = device.node, device.person
    # A well-formed batch is decoded already: the batch's fast path says which changes
    # pass every check; only the others are judged one by one, which names the error.
    quick = valid_texts(env.changes, node, now) if env.changes else [None] * len(items)
    for index, (item, text) in enumerate(zip(items, quick, strict=True)):
        if text is None:
            try:
                ch, text = _judge(item, node, now)
            except ChangeRejectedError as exc:
                hlc = _stamp_of(item)
                rejected.append(Rejection(hlc, index, exc.code, exc.message))
                bad.append(_quarantined(item, hlc, device, exc, received))
                continue
        else:
            ch = item  # type: ignore[assignment]
        good.append((ch.hlc, ch.coll, ch.id, ch.field, text, node, person, received))
        sources.append((index, item))
    # Access control (#5): a change outside the writer's rights is forbidden, quarantined.
    # Scope, authorisation, the batch and the pull page: one trip to the database thread.
    done = await syncs.exchange(
        database,
        device,
        good,
        sources,
        bad,
        lambda index, raw, exc: _quarantined(raw, _stamp_of(raw), device, exc, received),
        pending=None if env.pending is None else max(0, env.pending - len(items)),
        cursor=env.cursor,
        limit=env.limit,
        held=env.scope,
        at=received,
    )
    for index, raw, exc in done.denied:
        rejected.append(Rejection(_stamp_of(raw), index, exc.code, exc.message))
    rejected.sort(key=lambda r: r.index)
    return SyncResponse(
        accepted=done.accepted,
        rejected=rejected,
        changes=[Change(c, i, f, msgspec.Raw(v), h) for _, c, i, f, v, h in done.rows],
        cursor=done.cursor,
        more=done.more,
        server_time=iso_ms(int(time.time() * 1000)),
        epoch=database.epoch,
        scope=done.token,
        evict=[Ref(c, i) for c, i in done.evict],
    )


def _quarantined(
    item: Change | bytes,
    hlc: str | None,
    device: Device,
    exc: ChangeRejectedError,
    at: str,
) -> Quarantined:
    raw = _as_raw(item)
    try:
        obj = _any.decode(raw)
    except (msgspec.DecodeError, RecursionError):
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
