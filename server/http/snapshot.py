"""``GET /api/v1/snapshot`` (#12): the coordinator dashboard's first load.

A browser opening the dashboard for the first time would otherwise pull a whole
community page by page (thousands of field changes, one round trip and one local commit
each) before it can show anything. The snapshot is the same pull from cursor 0 under the
same read scope (``server.db.scopes.pull``: the same filter, scope token and eviction
bookkeeping), answered in one compact response grouped by record. The dashboard shows it
at once, stores it in small transactions, and then syncs on from the cursor.
"""

import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, SkipValidation
from litestar.response import Stream

from schemas.snapshot import SNAPSHOT_LIMIT, Field, Snapshot
from server.db import AnyDatabase, scopes
from server.db.devices import Device
from server.syncing.round_trip import iso_ms

__all__ = ["ROUTES", "snapshot"]

#: Field winners read and encoded at a time: what the server holds of a snapshot at once.
PAGE = 5000

_encode = msgspec.json.Encoder()
_HEADERS = {"Cache-Control": "no-store"}


@get("/api/v1/snapshot")
async def snapshot(
    database: NamedDependency[AnyDatabase],
    device: SkipValidation[Device],
    coll: FromQuery[Literal["incidents"] | None] = None,
) -> Response[Snapshot] | Stream:
    """Every field winner the coordinator may read, and the cursor to sync on from.

    The whole snapshot is streamed page by page (``PAGE`` winners read, encoded and sent
    at a time; after the first, each page is read on the reader connection,
    ``scopes.pull_page``), so neither the server's memory nor the writer is held by one
    large community. A record may then come in two parts (its fields on two pages): the
    dashboard merges fields one by one, as it merges pull pages.

    ``?coll=incidents`` answers the incidents alone, asked for beside the whole snapshot
    so an incident's screen can draw its head (a few kB) before the community (hundreds
    of kB) has arrived. It is not a place to sync on from: its ``cursor`` is 0.
    """
    if coll is None:
        return Stream(_stream(database, device), media_type="application/json", headers=_HEADERS)
    # Reference data, read whole by every scope: one query on the reader connection,
    # answered while the writer is still making the whole snapshot.
    rows, token = await scopes.reference(database, device, coll)
    body = Snapshot(
        records=_grouped(rows),
        cursor=0,
        more=False,
        scope=token,
        server_time=iso_ms(int(time.time() * 1000)),
    )
    return Response(body, headers=_HEADERS)


def _grouped(rows: Sequence[Sequence[Any]]) -> list[tuple[str, str, list[Field]]]:
    records: dict[tuple[str, str], list[Field]] = {}
    for _seq, rcoll, rid, fld, value, hlc in rows:
        records.setdefault((rcoll, rid), []).append((fld, msgspec.Raw(value), hlc))
    return [(rcoll, rid, fields) for (rcoll, rid), fields in records.items()]


async def _stream(database: AnyDatabase, device: Device) -> AsyncIterator[bytes]:
    """The ``Snapshot`` JSON, a page at a time: the same pull from cursor 0 as a phone's
    (the first page saves the scope snapshot), at most ``SNAPSHOT_LIMIT`` winners."""
    at = iso_ms(int(time.time() * 1000))
    rows, cursor, more, _evict, token = await scopes.pull(database, device, 0, PAGE, None, at)
    sent, first = len(rows), True
    yield b'{"records":['
    while True:
        records = _grouped(rows)
        if records:
            part = _encode.encode(records)[1:-1]
            yield part if first else b"," + part
            first = False
        if not more or sent >= SNAPSHOT_LIMIT:
            break
        rows, cursor, more, _evict, token = await scopes.pull_page(
            database, device, cursor, min(PAGE, SNAPSHOT_LIMIT - sent), token, at
        )
        sent += len(rows)
    tail = {"cursor": cursor, "more": more, "scope": token}
    tail["server_time"] = iso_ms(int(time.time() * 1000))
    yield b"]," + _encode.encode(tail)[1:]


ROUTES = [snapshot]
