"""Judging one field change against the schema and the clock, with no I/O.

Algorithm: a change is accepted for merging only if
  1. its collection is in ``schemas.records.COLLECTIONS`` and its field is one of that
     collection's fields (wire names, ``_deleted`` included);
  2. its id matches ``schemas.types.ID`` and, for collections with deterministic ids,
     has exactly the required number of ``~``-joined parts;
  3. its value converts to the field's declared type (enumerations, list members and
     lengths, string lengths, integer ranges; null clears a field); an element field
     ``F.e`` of a set field ``F`` (sync/sets.py) needs ``e`` to be a valid member of ``F``
     and a boolean (or null) value;
  4. its stamp parses as a 46-character HLC, carries the writer's own node, and is not
     more than ``max_ahead`` ms past the server's clock.
Each check that fails raises its own ``ChangeRejectedError`` subclass, whose ``code`` is
the stable rejection code of docs/protocol.md. Each change is judged alone so one bad
change never blocks the rest of a batch.
"""

import re
import typing
from collections.abc import Sequence
from typing import Any

import msgspec

from schemas.change import Change
from schemas.records import COLLECTIONS, DETERMINISTIC_IDS, SET_FIELDS
from schemas.types import ID
from sync.clock import MAX_DRIFT_MS, STAMP_FORM, ClockError, Timestamp, format_stamp, stamp_millis
from sync.sets import split

__all__ = [
    "ELEMENT_TYPES",
    "ELEMENT_VALUE",
    "FIELD_DECODERS",
    "FIELD_TYPES",
    "ChangeRejectedError",
    "ClockAheadError",
    "ForbiddenError",
    "InvalidIdError",
    "InvalidValueError",
    "MalformedChangeError",
    "MalformedStampError",
    "UnknownCollectionError",
    "UnknownFieldError",
    "WrongNodeError",
    "check_change",
    "check_change_json",
    "check_stamp",
    "valid_texts",
]

_ID = re.compile(ID)

#: collection → wire field name → the type its values must convert to.
FIELD_TYPES: dict[str, dict[str, Any]] = {
    coll: {f.encode_name: f.type for f in msgspec.structs.fields(cls)}
    for coll, cls in COLLECTIONS.items()
}
#: The same types as compiled JSON decoders: the server checks a value straight from
#: its raw bytes (no convert call re-hashing typing objects, no re-encoding to store it).
FIELD_DECODERS: dict[str, dict[str, msgspec.json.Decoder]] = {
    coll: {name: msgspec.json.Decoder(kind) for name, kind in fields.items()}
    for coll, fields in FIELD_TYPES.items()
}


def _member_type(kind: Any) -> Any:
    """``X`` from ``Annotated[list[X], ...] | None``."""
    for arg in typing.get_args(kind):
        origin = typing.get_origin(arg)
        if origin is typing.Annotated:
            arg = typing.get_args(arg)[0]
            origin = typing.get_origin(arg)
        if origin is list:
            return typing.get_args(arg)[0]
    raise TypeError(f"not a list type: {kind!r}")


#: collection → set field → the type each of its elements must convert to.
ELEMENT_TYPES: dict[str, dict[str, Any]] = {
    coll: {name: _member_type(FIELD_TYPES[coll][name]) for name in names}
    for coll, names in SET_FIELDS.items()
}
#: The value of an element field: in (true) or out (false; null reads as out).
ELEMENT_VALUE = bool | None
_ELEMENT_DECODER = msgspec.json.Decoder(ELEMENT_VALUE)


class ChangeRejectedError(Exception):
    """A change that cannot be merged. ``code`` is the rejection code on the wire."""

    code = "rejected"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MalformedChangeError(ChangeRejectedError):
    code = "malformed_change"


class MalformedStampError(ChangeRejectedError):
    code = "malformed_stamp"


class UnknownCollectionError(ChangeRejectedError):
    code = "unknown_collection"


class UnknownFieldError(ChangeRejectedError):
    code = "unknown_field"


class InvalidIdError(ChangeRejectedError):
    code = "invalid_id"


class InvalidValueError(ChangeRejectedError):
    code = "invalid_value"


class ClockAheadError(ChangeRejectedError):
    code = "clock_ahead"


class WrongNodeError(ChangeRejectedError):
    code = "wrong_node"


class ForbiddenError(ChangeRejectedError):
    code = "forbidden"


def check_change(coll: str, id: str, field: str, value: Any) -> None:
    """Check a change's collection, id, field and value against the schema.

    Raises:
        UnknownCollectionError, InvalidIdError, UnknownFieldError, InvalidValueError.
    """
    kind = _check_target(coll, id, field)
    try:
        msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        raise InvalidValueError(f"{coll}.{field}: {exc}") from None


def check_change_json(coll: str, id: str, field: str, value: bytes | msgspec.Raw) -> None:
    """``check_change`` for a value still in its JSON form, as received.

    Raises:
        UnknownCollectionError, InvalidIdError, UnknownFieldError, InvalidValueError.
    """
    kind = _check_target(coll, id, field)
    decoder = _ELEMENT_DECODER if kind is ELEMENT_VALUE else FIELD_DECODERS[coll][field]
    try:
        decoder.decode(value)
    except msgspec.ValidationError as exc:
        raise InvalidValueError(f"{coll}.{field}: {exc}") from None


def _check_target(coll: str, id: str, field: str) -> Any:
    fields = FIELD_TYPES.get(coll)
    if fields is None:
        raise UnknownCollectionError(
            f"unknown collection {coll[:40]!r}; known: {', '.join(FIELD_TYPES)}"
        )
    _check_id(coll, id)
    kind = fields.get(field)
    if kind is None:
        parts = split(coll, field)
        if parts is None:
            raise UnknownFieldError(f"{coll} has no field {field[:40]!r}")
        base, element = parts
        try:
            msgspec.convert(element, ELEMENT_TYPES[coll][base])
        except msgspec.ValidationError:
            raise UnknownFieldError(
                f"{coll}.{base} has no element {element[:40]!r}; an element field is "
                f"{base}.<member>, e.g. one of {coll}.{base}'s allowed values"
            ) from None
        return ELEMENT_VALUE
    return kind


def _check_id(coll: str, id: str) -> None:
    if not _ID.fullmatch(id):  # not match: '$' would let a trailing newline through
        raise InvalidIdError(
            f"{coll} id must be 1-100 characters of letters, digits, '-', '_' or '~'"
        )
    parts = DETERMINISTIC_IDS.get(coll)
    if parts is not None:
        if id.count("~") != parts - 1 or "" in id.split("~"):
            raise InvalidIdError(f"{coll} id must have {parts} parts joined by '~'")
    elif "~" in id:
        raise InvalidIdError(f"{coll} id must not contain '~'")


def check_stamp(hlc: str, node: str, now: int, max_ahead: int = MAX_DRIFT_MS) -> int:
    """Check a change's stamp for the device ``node`` at server time ``now`` (ms).

    Returns:
        The stamp's time in ms.

    Raises:
        MalformedStampError, WrongNodeError, ClockAheadError.
    """
    try:
        millis = stamp_millis(hlc)
    except ClockError:
        raise MalformedStampError(
            "hlc must be 46 characters: YYYY-MM-DDTHH:MM:SS.mmmZ-CCCC-<16 hex node>"
        ) from None
    stamped_by = hlc[30:]  # the node of a well-formed stamp
    if stamped_by != node:
        raise WrongNodeError(
            f"stamped by device {stamped_by}, not by this device ({node}); "
            "re-enrolled phones must not resend another device's entries"
        )
    ahead = millis - now
    if ahead > max_ahead:
        raise ClockAheadError(
            f"clock is {_duration(ahead)} ahead of the server; "
            "the app corrects its clock and sends the entry again"
        )
    return millis


def valid_texts(
    changes: Sequence[Change],
    node: str,
    now: int,
    max_ahead: int = MAX_DRIFT_MS,
) -> list[str | None]:
    """The value text (UTF-8) of each change of a batch that passes every check of
    ``check_stamp`` and ``check_change_json``; None for any other.

    A fast path for a whole batch, not a judge: it only says yes. A None is judged again
    by the checks above, which name the error, so it may also be a change this path does
    not handle (an element field of a set). What a batch repeats is checked once: a record
    id (six fields of one visit share it) and the date of a minute of stamps; a stamp's
    form is one regular expression and its distance ahead one string comparison. No
    ``Timestamp`` is built and no exception is raised for a valid change.

    Args:
        changes: the batch, decoded (its values still JSON).
    """
    out: list[str | None] = []
    add = out.append
    good_ids: set[tuple[str, str]] = set()
    good_minutes: set[str] = set()
    form = STAMP_FORM.fullmatch
    types = FIELD_DECODERS
    # Fixed-width stamps order as their times do: "not more than max_ahead past now" is
    # "its time text (the first 24 characters) at most that of now + max_ahead".
    try:
        latest = format_stamp(Timestamp(now + max_ahead, 0, "0" * 16))[:24]
    except ClockError:
        latest = ""  # beyond year 9999: every stamp goes to the full checks
    for ch in changes:
        coll, rid, fld, value, hlc = ch.coll, ch.id, ch.field, ch.value, ch.hlc
        decoders = types.get(coll)
        decoder = decoders.get(fld) if decoders is not None else None
        if decoder is None or hlc[30:] != node or form(hlc) is None or hlc[:24] > latest:
            add(None)
            continue
        try:
            if hlc[:16] not in good_minutes:
                stamp_millis(hlc)  # a day that exists
                good_minutes.add(hlc[:16])
            if (coll, rid) not in good_ids:
                _check_id(coll, rid)
                good_ids.add((coll, rid))
            decoder.decode(value)
            add(bytes(value).decode())
        except (
            ClockError,
            ChangeRejectedError,
            msgspec.ValidationError,
            msgspec.DecodeError,
            RecursionError,
            UnicodeDecodeError,
        ):
            add(None)
    return out


def _duration(ms: int) -> str:
    minutes = ms // 60000
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 2 * 24 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} days"
