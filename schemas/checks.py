"""The 需核实 (needs checking) list of an incident: entries the server derives from records."""

from typing import Literal

import msgspec

__all__ = ["CheckEntry", "CheckItem", "CheckKind"]

#: two_heaters: two or more heater loans active with one household;
#: contradictory: visits minutes apart with different outcomes;
#: vulnerable_unreached: a vulnerable household not reached N hours into the incident.
CheckKind = Literal["two_heaters", "contradictory", "vulnerable_unreached"]


class CheckEntry(msgspec.Struct):
    """One record behind a check: a delivery or a visit, who recorded it and when."""

    coll: str
    id: str
    at: str | None
    by: str | None
    what: str | None


class CheckItem(msgspec.Struct):
    """One entry of the list. ``id`` is the id of its resolution record in ``checks``."""

    id: str
    kind: CheckKind
    household: str
    entries: list[CheckEntry]
    resolved: bool = False
    note: str | None = None
    resolved_by: str | None = None
