"""Set-valued fields: membership per element, each element last-writer-wins.

Algorithm (the contract is docs/protocol.md; pwa/js/sync/sets.js mirrors this module):

A set field ``F`` of a collection (``schemas.records.SET_FIELDS``: household_status
``needs_open``, households ``vulnerable``, incidents ``buildings``) is written in two ways:

* an **element change** ``F.e`` (e.g. ``needs_open.water``) with value ``true`` (e is in)
  or ``false``/``null`` (e is out). Each element field is an ordinary field, merged
  last-writer-wins per ``(coll, id, "F.e")`` like every other, so two devices adding
  different elements touch different keys and both adds are kept; a removal is the
  element its author turned off, and nothing else;
* a **whole-list change** ``F = [...]`` (old phones, imports, the demo): one write of
  every element at its stamp — the listed ones in, every other one out.

The value of ``F`` in a record is folded from the winners, per element ``e``:
    member(e) = the value of whichever of the winners ``F.e`` and ``F`` has the greater
                stamp (for ``F``: ``e`` is listed; a missing or null ``F`` lists nothing).
    F = the members, listed ones first in the list's order, then the others in code-point
        order; if no element field of F was ever written, F is the list winner as it is.
Element fields do not appear in folded records. The fold reads only field winners, and
winners converge (sync/merge.py), so the fold converges too: the server's SQL upsert and
the phone's IndexedDB ``putIfNewer`` stay plain per-field LWW.

A stamp identifies one change, so ``F`` and ``F.e`` never share a stamp and there is no
tie to break.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from schemas.records import SET_FIELDS

__all__ = ["SEP", "element_field", "fold", "is_set_field", "members", "split"]

#: Joins a set field and an element into an element field name: ``needs_open.water``.
SEP = "."


def element_field(field: str, element: str) -> str:
    """The element field name for ``element`` of the set field ``field``."""
    return f"{field}{SEP}{element}"


def split(coll: str, field: str) -> tuple[str, str] | None:
    """``(set field, element)`` if ``field`` is an element field of ``coll``, else None."""
    base, sep, element = field.partition(SEP)
    if not sep or not element or base not in SET_FIELDS.get(coll, ()):
        return None
    return base, element


def is_set_field(coll: str, field: str) -> bool:
    """Whether ``field`` is a set field of ``coll`` (merged per element)."""
    return field in SET_FIELDS.get(coll, ())


def fold(coll: str, winners: Mapping[str, tuple[str, Any]]) -> dict[str, Any]:
    """One record's field values, set fields folded from their element winners.

    Args:
        coll: The record's collection.
        winners: field name → ``(hlc, value)`` of its winning change.

    Returns:
        field name → value, without element fields; each set field that has element
        winners holds its folded list of members.
    """
    out: dict[str, Any] = {}
    elements: dict[str, dict[str, tuple[str, Any]]] = {}
    for name, (hlc, value) in winners.items():
        parts = split(coll, name)
        if parts is None:
            out[name] = value
        else:
            elements.setdefault(parts[0], {})[parts[1]] = (hlc, value)
    for base, elems in elements.items():
        listed = winners.get(base)
        out[base] = members(listed, elems)
    return out


def members(listed: tuple[str, Any] | None, elements: Mapping[str, tuple[str, Any]]) -> list[Any]:
    """The members of one set field from its list winner and element winners."""
    list_hlc = listed[0] if listed is not None else ""
    base = listed[1] if listed is not None and isinstance(listed[1], list) else []
    out: list[Any] = []
    seen: set[Any] = set()
    for e in _unique(base):
        seen.add(e)
        won = elements.get(e) if isinstance(e, str) else None
        if won is None or won[0] < list_hlc or won[1] is True:
            out.append(e)
    for e in sorted(elements):
        if e in seen:
            continue
        hlc, value = elements[e]
        if hlc > list_hlc and value is True:
            out.append(e)
    return out


def _unique(items: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for x in items:
        if x not in out:
            out.append(x)
    return out
