"""Server-Sent Event payloads. The SSE ``event:`` line names the kind, and the JSON data
carries the same name in ``type``, so one typed decoder reads any of them.
"""

from typing import Any

import msgspec

from schemas.progress import Progress, PublicProgress

__all__ = ["ChangeItem", "ChangesEvent", "Event", "ProgressEvent", "PublicEvent"]


class ChangeItem(msgspec.Struct):
    """One accepted change from the server's log, with its sequence number."""

    seq: int
    coll: str
    id: str
    field: str
    value: Any
    hlc: str


class ChangesEvent(msgspec.Struct, tag="change", tag_field="type"):
    """Accepted changes in sequence order; the SSE id is the last one's ``seq``."""

    changes: list[ChangeItem]


class ProgressEvent(msgspec.Struct, tag="progress", tag_field="type"):
    """An incident's progress changed (coordinator stream)."""

    progress: Progress


class PublicEvent(msgspec.Struct, tag="public", tag_field="type"):
    """The residents' view of an incident changed (public stream)."""

    progress: PublicProgress


Event = ChangesEvent | ProgressEvent | PublicEvent
