"""The field change: the unit of every write."""

from typing import Any

import msgspec

__all__ = ["Change"]


class Change(msgspec.Struct, forbid_unknown_fields=True):
    """One field of one record set to one value, stamped with a hybrid logical clock.

    Attributes:
        coll: Collection name, e.g. ``visits``.
        id: Record id (UUIDv7, or a deterministic ``a~b`` id for shared state).
        field: Field name, or ``_deleted``.
        value: Any JSON value; checked against the field's type by ``sync.validate``.
        hlc: The 46-character stamp; identifies the change.
    """

    coll: str
    id: str
    field: str
    value: Any
    hlc: str
