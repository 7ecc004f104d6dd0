"""Uploading a community's 住户台账 from the console (#19, docs/ledger.md)."""

from typing import Annotated

import msgspec
from msgspec import Meta

from schemas.types import Id, ShortText

__all__ = ["MAX_UPLOAD", "LedgerUpload"]

#: The largest file the console uploads (base64 in a JSON body under the 4 MiB limit).
MAX_UPLOAD = 3 * 1024 * 1024


class LedgerUpload(msgspec.Struct, forbid_unknown_fields=True):
    """A ledger file to preview (``dry_run``) or import.

    ``community`` is an existing community (a coordinator of one community imports into
    theirs and may leave it out); ``community_name`` names a new one, for a coordinator of
    every community. ``map`` places columns by their header text (docs/ledger.md).
    """

    file: Annotated[str, Meta(max_length=MAX_UPLOAD * 4 // 3 + 4)]
    filename: Annotated[str, Meta(max_length=200)] = ""
    community: Id | None = None
    community_name: ShortText | None = None
    street: ShortText | None = None
    map: Annotated[dict[Annotated[str, Meta(max_length=100)], ShortText], Meta(max_length=60)] = {}
    dry_run: bool = True
