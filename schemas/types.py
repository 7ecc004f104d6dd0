"""Constrained scalar types shared by records and wire messages."""

from typing import Annotated

from msgspec import Meta

__all__ = [
    "HLC",
    "ID",
    "LONG_TEXT",
    "MAX_LIST",
    "NODE",
    "Id",
    "LongText",
    "Node",
    "ShortText",
    "Stamp",
    "Time",
]

MAX_LIST = 20
SHORT_TEXT = 200
LONG_TEXT = 4000

#: Record ids: UUIDv7 strings, or deterministic ids joined with "~".
ID = r"^[A-Za-z0-9_~-]{1,100}$"
#: A 46-character hybrid logical clock stamp (checked fully by sync.clock.parse).
HLC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z-[0-9a-f]{4}-[0-9a-f]{16}$"
NODE = r"^[0-9a-f]{16}$"
#: ISO 8601 date-time in UTC or with an offset, seconds and fraction optional.
TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$"

Id = Annotated[str, Meta(pattern=ID, min_length=1, max_length=100)]
Stamp = Annotated[str, Meta(pattern=HLC, min_length=46, max_length=46)]
Node = Annotated[str, Meta(pattern=NODE)]
Time = Annotated[str, Meta(pattern=TIME, max_length=40)]
ShortText = Annotated[str, Meta(max_length=SHORT_TEXT)]
LongText = Annotated[str, Meta(max_length=LONG_TEXT)]
