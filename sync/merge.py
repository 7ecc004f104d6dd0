"""Last-writer-wins merge of field changes.

Algorithm (the contract is docs/protocol.md; pwa/js/sync/merge.js mirrors this module):

State is a map from the key ``(coll, id, field)`` to the winning change for that field.
apply(state, change):
    current = state.get(key)
    if current is None or change.hlc > current.hlc: state[key] = change   (it wins)
    otherwise nothing changes; in particular the same hlc twice is a no-op.
Stamps are compared as plain strings, which is their total order (see sync/clock.py).

Why it converges: for each key the result is the change with the greatest stamp among
all changes seen, and "greatest" does not depend on the order in which changes arrive or
on how often one arrives. So merging is commutative, associative and idempotent, and any
shuffle, duplication or loss-then-retry of a set of changes ends in the same state.
This rests on stamps being unique (one stamp per field change, one node per device); two
different changes under one stamp would be a protocol violation, and here the first one
seen would stay.

Deletion is the field ``_deleted``: a record whose ``_deleted`` winner is ``True`` is left
out of :func:`records`, and a later ``_deleted = False`` brings it back with all its
other winning fields, because deleting never discards them.

Set-valued fields (``needs_open``, ``vulnerable``, ``buildings``) are merged per element
through element fields such as ``needs_open.water``, each itself last-writer-wins;
:func:`records` folds them into the list (the rule is in sync/sets.py).

A change is anything with ``coll``, ``id``, ``field``, ``value`` and ``hlc`` as attributes
(the :class:`Change` below, or the wire Struct in schemas/) or as mapping keys. The state
keeps the objects it was given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sync.sets import fold

__all__ = [
    "Change",
    "Key",
    "RecordKey",
    "apply",
    "key_of",
    "merge",
    "records",
    "winners_equal",
]

Key = tuple[str, str, str]
RecordKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Change:
    """One field of one record set to one value.

    Attributes:
        coll: Collection name.
        id: Record id.
        field: Field name, or ``_deleted``.
        value: Any JSON value; a list is one value, replaced as a whole.
        hlc: The 46-character stamp that orders and identifies the change.
    """

    coll: str
    id: str
    field: str
    value: Any
    hlc: str


def _get(change: Any, name: str) -> Any:
    if isinstance(change, Mapping):
        return change[name]
    return getattr(change, name)


def key_of(change: Any) -> Key:
    """The state key of a change.

    Args:
        change: A change object or mapping.

    Returns:
        ``(coll, id, field)``.
    """
    if isinstance(change, Mapping):
        return (change["coll"], change["id"], change["field"])
    return (change.coll, change.id, change.field)


def apply(state: dict[Key, Any], change: Any) -> bool:
    """Merge one change into ``state`` in place.

    Args:
        state: Map from key to winning change; mutated.
        change: A change object or mapping.

    Returns:
        True if the change is now the winner of its field; False if an equal or greater
        stamp was already there (the state is unchanged).
    """
    key = key_of(change)
    current = state.get(key)
    if current is not None and _get(change, "hlc") <= _get(current, "hlc"):
        return False
    state[key] = change
    return True


def merge(state: Mapping[Key, Any], changes: Iterable[Any]) -> dict[Key, Any]:
    """Merge changes into a copy of ``state``.

    Args:
        state: Map from key to winning change; left untouched.
        changes: Change objects or mappings, in any order, duplicates allowed.

    Returns:
        A new map from key to winning change.
    """
    result = dict(state)
    for change in changes:
        apply(result, change)
    return result


def winners_equal(a: Mapping[Key, Any], b: Mapping[Key, Any]) -> bool:
    """Whether two states hold the same winners.

    States are compared by stamp and value per key, so a state of :class:`Change` objects
    equals one of wire Structs or dicts holding the same changes.

    Args:
        a: A state.
        b: Another state.

    Returns:
        True if both have the same keys and, per key, the same hlc and value.
    """
    if a.keys() != b.keys():
        return False
    for key, left in a.items():
        right = b[key]
        if _get(left, "hlc") != _get(right, "hlc") or _get(left, "value") != _get(right, "value"):
            return False
    return True


def records(state: Mapping[Key, Any]) -> dict[RecordKey, dict[str, Any]]:
    """Fold field winners into records.

    Args:
        state: Map from key to winning change.

    Returns:
        Map from ``(coll, id)`` to ``{field: value}`` with every winning field, including
        ``_deleted`` when its winner is False, and set fields folded from their element
        fields (sync/sets.py); records whose ``_deleted`` winner is ``True`` are left out.
    """
    stamped: dict[RecordKey, dict[str, tuple[str, Any]]] = {}
    for (coll, record_id, field), change in state.items():
        stamped.setdefault((coll, record_id), {})[field] = (
            _get(change, "hlc"),
            _get(change, "value"),
        )
    folded = {key: fold(key[0], fields) for key, fields in stamped.items()}
    return {key: fields for key, fields in folded.items() if fields.get("_deleted") is not True}
