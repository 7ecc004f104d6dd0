"""The domain schema: every collection, its fields, their types and limits.

A record is never sent whole: devices send one field change at a time, and
``sync.validate`` checks each value against the type of that field here. Every field may
be null (cleared). ``_deleted`` exists on every collection.
"""

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from schemas.types import MAX_LIST, Id, LongText, ShortText, Time

__all__ = [
    "COLLECTIONS",
    "PERSONAL_FIELDS",
    "SET_FIELDS",
    "Assignment",
    "Building",
    "Check",
    "Community",
    "Delivery",
    "Household",
    "HouseholdStatus",
    "Incident",
    "Record",
    "Repair",
    "Report",
    "Update",
    "Visit",
]

Vulnerability = Literal["lone_elderly", "empty_nest", "disabled", "infant", "medical_device"]
Need = Literal["heater", "water", "medical", "food", "other"]
IncidentKind = Literal[
    "heating_outage", "water_outage", "pipe_burst", "leak", "power_outage", "other"
]
IncidentStatus = Literal["reported", "responding", "repairing", "restored", "closed"]
Outcome = Literal["reached", "not_home", "refused", "moved"]
Item = Literal["heater", "water", "blanket", "other"]
DeliveryStatus = Literal["delivered", "returned", "lost"]
RepairStatus = Literal["open", "working", "done"]
#: 待处理, 已确认, 已并入 (attached to an incident), 已转为事件 (made into a new incident).
ReportStatus = Literal["pending", "acknowledged", "merged", "converted"]


class Record(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields every collection has."""

    deleted: bool | None = msgspec.field(default=None, name="_deleted")


class Community(Record):
    name: ShortText | None = None
    street: ShortText | None = None
    district: ShortText | None = None


class Building(Record):
    community: Id | None = None
    compound: ShortText | None = None
    label: ShortText | None = None
    units: Annotated[int, Meta(ge=1, le=100)] | None = None
    floors: Annotated[int, Meta(ge=1, le=200)] | None = None


class Household(Record):
    building: Id | None = None
    unit: ShortText | None = None
    room: ShortText | None = None
    occupants: Annotated[int, Meta(ge=0, le=50)] | None = None
    vulnerable: Annotated[list[Vulnerability], Meta(max_length=MAX_LIST)] | None = None
    contact: ShortText | None = None
    notes: LongText | None = None


class Incident(Record):
    community: Id | None = None
    kind: IncidentKind | None = None
    title: ShortText | None = None
    status: IncidentStatus | None = None
    buildings: Annotated[list[Id], Meta(max_length=500)] | None = None
    #: Where a volunteer found it, for incidents reported from the field.
    place: ShortText | None = None
    started_at: Time | None = None
    eta: Time | None = None
    restored_at: Time | None = None
    summary: LongText | None = None
    #: A vulnerable household not reached this many hours after ``started_at`` goes on
    #: the 需核实 list (server/derived/checks.py; default 2 h).
    check_after_hours: Annotated[int, Meta(ge=1, le=168)] | None = None
    #: Buildings (ids, a subset of ``buildings``) whose supply is back; the incident is
    #: restored when all its buildings are. A list, last-writer-wins as a whole.
    restored_buildings: Annotated[list[Id], Meta(max_length=500)] | None = None
    #: A coordinator saw the field report: when, and who (a person id).
    ack_at: Time | None = None
    ack_by: Id | None = None


class Update(Record):
    incident: Id | None = None
    at: Time | None = None
    text: LongText | None = None
    public: bool | None = None


class Visit(Record):
    household: Id | None = None
    incident: Id | None = None
    at: Time | None = None
    outcome: Outcome | None = None
    needs: Annotated[list[Need], Meta(max_length=MAX_LIST)] | None = None
    note: LongText | None = None
    #: Who recorded it, by name, so a second volunteer at the door sees "王五 22:53".
    by: ShortText | None = None


class Delivery(Record):
    household: Id | None = None
    incident: Id | None = None
    item: Item | None = None
    qty: Annotated[int, Meta(ge=1, le=100)] | None = None
    at: Time | None = None
    status: DeliveryStatus | None = None
    #: Who handed it over, by name (shown before a second heater goes to the same door).
    by: ShortText | None = None


class Repair(Record):
    incident: Id | None = None
    place: ShortText | None = None
    description: LongText | None = None
    status: RepairStatus | None = None
    at: Time | None = None
    done_at: Time | None = None


class Report(Record):
    """What a volunteer saw in the field: internal until a coordinator publishes an update.

    Visible to its reporter and to the coordinators of its ``community`` (docs/security.md).
    """

    community: Id | None = None
    kind: IncidentKind | None = None
    #: 看到的情况: what was seen, in the reporter's words.
    text: LongText | None = None
    #: Where: a building, a compound, or free text (any of them).
    building: Id | None = None
    compound: ShortText | None = None
    place: ShortText | None = None
    #: Who reported it (a person id) and when.
    reporter: Id | None = None
    at: Time | None = None
    status: ReportStatus | None = None
    #: The incident it was attached to or turned into.
    incident: Id | None = None
    #: A coordinator saw it: when, and who (a person id).
    ack_at: Time | None = None
    ack_by: Id | None = None


class HouseholdStatus(Record):
    """Id ``<incident>~<household>``: one record however many volunteers touch it."""

    needs_open: Annotated[list[Need], Meta(max_length=MAX_LIST)] | None = None
    restored: bool | None = None
    satisfaction: Annotated[int, Meta(ge=1, le=5)] | None = None
    #: The volunteer (person id) a coordinator gave this household's open needs to.
    assignee: Id | None = None
    assigned_at: Time | None = None
    #: What the coordinator asks of the assignee (shown under 我的任务 on their phone).
    task_note: LongText | None = None
    #: The assignee marked the task done on their phone: their note, name and when.
    done_note: LongText | None = None
    done_by: ShortText | None = None
    done_at: Time | None = None


class Assignment(Record):
    """Id ``<person>~<building>`` (``active``), ``<person>~<incident>`` (``incident`` equal
    to the id's second part, ``active``) or ``<person>~<household>``: one household given
    to a volunteer from the needs queue, in force while ``household`` equals the id's
    second part (null: taken back). A household assignment never sets ``active``, so it
    does not take the volunteer out of the unattached pool."""

    person: Id | None = None
    building: Id | None = None
    incident: Id | None = None
    household: Id | None = None
    active: bool | None = None


class Check(Record):
    """A coordinator's resolution of one 需核实 entry; id ``<incident>~<kind>~<household>``.

    The entries themselves are derived from records by the server (server/derived/checks.py);
    only their resolution is a record.
    """

    resolved: bool | None = None
    note: LongText | None = None
    at: Time | None = None
    by: ShortText | None = None


#: Collection name → record Struct.
COLLECTIONS: dict[str, type[Record]] = {
    "communities": Community,
    "buildings": Building,
    "households": Household,
    "incidents": Incident,
    "updates": Update,
    "visits": Visit,
    "deliveries": Delivery,
    "repairs": Repair,
    "reports": Report,
    "household_status": HouseholdStatus,
    "assignments": Assignment,
    "checks": Check,
}

#: Collections whose ids are built from their natural key: name → number of parts.
DETERMINISTIC_IDS: dict[str, int] = {"household_status": 2, "assignments": 2, "checks": 3}

#: Set-valued fields, merged per element (sync/sets.py): collection → field names. Each
#: element ``e`` of ``F`` is also writable alone as the boolean field ``F.e``.
SET_FIELDS: dict[str, frozenset[str]] = {
    "households": frozenset({"vulnerable"}),
    "household_status": frozenset({"needs_open"}),
    "incidents": frozenset({"buildings", "restored_buildings"}),
}

#: Fields that identify a person; only roles that need them may read them.
PERSONAL_FIELDS: dict[str, frozenset[str]] = {
    "households": frozenset({"room", "occupants", "vulnerable", "contact", "notes"}),
    "visits": frozenset({"note"}),
}
