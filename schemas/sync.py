"""The one round trip: ``POST /api/v1/sync``."""

from typing import Annotated

import msgspec
from msgspec import Meta

from schemas.change import Change
from schemas.types import Node

__all__ = [
    "MAX_CHANGES",
    "MAX_CURSOR",
    "MAX_PAGE",
    "Ref",
    "Rejection",
    "SyncRequest",
    "SyncResponse",
]

MAX_CHANGES = 5000
MAX_PAGE = 5000
DEFAULT_PAGE = 1000
#: Server sequences are SQLite integers.
MAX_CURSOR = 2**63 - 1


class SyncRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A device's unsent changes and the cursor of what it has pulled so far.

    The server decodes the whole request with one typed decoder; when a change is
    malformed it decodes the changes one at a time, so that change is rejected alone
    instead of failing the request.
    """

    node: Node
    cursor: Annotated[int, Meta(ge=0, le=MAX_CURSOR)] = 0
    changes: Annotated[list[Change], Meta(max_length=MAX_CHANGES)] = []
    limit: Annotated[int, Meta(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE
    #: The scope token of the last answer the device committed (see ``SyncResponse``).
    scope: Annotated[str, Meta(max_length=64)] | None = None
    #: Entries the device holds waiting to upload, this request's changes included (its
    #: whole outbox); the server keeps what is left after this batch for the
    #: coordinator's roster. Optional: older apps omit it.
    pending: Annotated[int, Meta(ge=0, le=10_000_000)] | None = None


class Rejection(msgspec.Struct):
    """A change the server refused, with a reason a person can read.

    Attributes:
        hlc: The change's stamp, or None when the change had none usable.
        index: Position of the change in the request's ``changes``.
        error: Stable code, e.g. ``clock_ahead`` (see docs/protocol.md).
        message: What was wrong and what to do.
    """

    hlc: str | None
    index: int
    error: str
    message: str


class Ref(msgspec.Struct):
    """One record: ``{"coll", "id"}``."""

    coll: str
    id: str


class SyncResponse(msgspec.Struct):
    """The answer: what was accepted and rejected, and a page of winners to pull.

    ``scope`` fingerprints what the device may read now; the device stores it with the
    cursor and sends it back. ``evict`` lists records the device must delete locally
    (personal data it may no longer hold) before applying ``changes``. ``epoch`` names
    the database's life since its last restore from backup: when it changes, the device
    re-sends its own accepted changes it still keeps, resets its cursor to 0 and pulls
    again (docs/protocol.md, "Epochs").
    """

    accepted: int
    rejected: list[Rejection]
    changes: list[Change]
    cursor: int
    more: bool
    server_time: str
    epoch: str
    scope: str | None = None
    evict: list[Ref] = []
