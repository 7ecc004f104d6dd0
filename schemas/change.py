"""The field change: the unit of every write."""

from typing import Annotated

import msgspec
from msgspec import Meta

__all__ = ["Change"]


class Change(msgspec.Struct, forbid_unknown_fields=True):
    """One field of one record set to one value, stamped with a hybrid logical clock.

    Attributes:
        coll: Collection name, e.g. ``visits``.
        id: Record id (UUIDv7, or a deterministic ``a~b`` id for shared state).
        field: Field name, or ``_deleted``.
        value: Any JSON value, kept as its JSON text (stored as received); checked
            against the field's type by ``sync.validate``.
        hlc: The 46-character stamp; identifies the change.

    The length caps bound what a request can hold; the exact rules (id pattern, known
    collections and fields, stamp format) are ``sync.validate``'s, which names each error.
    """

    coll: Annotated[str, Meta(max_length=100)]
    id: Annotated[str, Meta(max_length=200)]
    field: Annotated[str, Meta(max_length=100)]
    value: msgspec.Raw
    hlc: Annotated[str, Meta(max_length=64)]
