"""``GET /api/v1/snapshot`` (#12): the coordinator dashboard's first load.

A browser opening the dashboard for the first time would otherwise pull a whole
community page by page (thousands of field changes, one round trip and one local commit
each) before it can show anything. The snapshot is the same pull from cursor 0 under the
same read scope (``server.db.scopes.pull``: the same filter, scope token and eviction
bookkeeping), answered in one compact response grouped by record. The dashboard shows it
at once, stores it in small transactions, and then syncs on from the cursor.
"""

import time
from typing import Literal

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, SkipValidation

from schemas.snapshot import SNAPSHOT_LIMIT, Field, Snapshot
from server.db import AnyDatabase, scopes
from server.db.devices import Device
from server.exchange import iso_ms

__all__ = ["ROUTES", "snapshot"]


@get("/api/v1/snapshot")
async def snapshot(
    database: NamedDependency[AnyDatabase],
    device: SkipValidation[Device],
    coll: FromQuery[Literal["incidents"] | None] = None,
) -> Response[Snapshot]:
    """Every field winner the coordinator may read, and the cursor to sync on from.

    ``?coll=incidents`` answers the incidents alone, asked for beside the whole snapshot
    so an incident's screen can draw its head (a few kB) before the community (hundreds
    of kB) has arrived. It is not a place to sync on from: its ``cursor`` is 0.
    """
    if coll is None:
        at = iso_ms(int(time.time() * 1000))
        rows, cursor, more, _evict, token = await scopes.pull(
            database, device, 0, SNAPSHOT_LIMIT, None, at
        )
    else:
        # Reference data, read whole by every scope: one query on the reader connection,
        # answered while the writer is still making the whole snapshot.
        rows, token = await scopes.reference(database, device, coll)
        cursor, more = 0, False
    records: dict[tuple[str, str], list[Field]] = {}
    for _seq, rcoll, rid, fld, value, hlc in rows:
        records.setdefault((rcoll, rid), []).append((fld, msgspec.Raw(value), hlc))
    body = Snapshot(
        records=[(rcoll, rid, fields) for (rcoll, rid), fields in records.items()],
        cursor=cursor,
        more=more,
        scope=token,
        server_time=iso_ms(int(time.time() * 1000)),
    )
    return Response(body, headers={"Cache-Control": "no-store"})


ROUTES = [snapshot]
