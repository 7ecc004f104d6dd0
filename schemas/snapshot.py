"""``GET /api/v1/snapshot``: a coordinator's first load in one compact answer (#12)."""

from typing import Annotated

import msgspec
from msgspec import Meta

__all__ = ["SNAPSHOT_LIMIT", "Snapshot"]

#: Field winners in one snapshot; beyond it the answer says ``more`` and the device
#: goes on with ``POST /api/v1/sync`` from ``cursor``.
SNAPSHOT_LIMIT = 100_000

#: ``[field, value, hlc]`` of one field winner.
Field = tuple[str, msgspec.Raw, str]


class Snapshot(msgspec.Struct):
    """The merged state the caller may read, as a pull from cursor 0 would page it.

    Records are ``[coll, id, [[field, value, hlc], ...]]``: each field winner exactly as
    a pull delivers it (``value`` is the stored JSON, ``hlc`` its stamp), grouped by
    record so a collection name and an id are sent once. ``cursor``, ``more`` and
    ``scope`` mean what they mean in ``SyncResponse``: the device stores them once every
    winner is stored, then syncs on from there.
    """

    records: list[tuple[str, str, list[Field]]]
    cursor: Annotated[int, Meta(ge=0)]
    more: bool
    scope: str | None
    server_time: str
