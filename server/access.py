"""Who may read and write what: roles, scopes and per-change write authorisation. No I/O.

Rules (docs/security.md has the table):

* A **scope** is decided by the server from the device's credentials, never from what the
  client asks for. It is a set of buildings ``B``, the households in them ``H``, and the
  incidents ``I`` whose repairs and (internal) updates the device may see — or ``None``
  for "all" (a coordinator with no community: the response's head).
* **Coordinator** with a community ``c`` (``people.community``): ``B`` = buildings whose
  ``community`` is ``c``; ``I`` = incidents of ``c``; ``H`` = households in ``B``.
* **Volunteer**: ``B`` = the buildings of their active assignments (``<person>~<building>``)
  plus every building of an incident they are assigned to as a whole
  (``<person>~<incident>`` with ``incident`` equal to the id's second part); ``I`` = the
  incidents they are assigned to, or whose ``buildings`` meet ``B``. ``H`` also holds the
  households given to them one by one (``<person>~<household>`` with ``household`` equal
  to the id's second part: a need assigned from the needs queue). They read reference
  data (communities, buildings, incidents, *public* updates) everywhere, households and
  everything about a household (visits, deliveries, household status, personal fields)
  only in ``H``, repairs only of ``I``, and only their own assignments.
* **Field reports** (``reports``, #22 D18) are read by their reporter (``reporter``) and
  by the coordinators of their ``community``; other volunteers never see them.
* Writes: a volunteer may write visits, deliveries and household status of households in
  ``H``, and the ``vulnerable`` marks of households in ``H`` (the one household field the
  door-knocking finds out); repairs of incidents in ``I``; and field reports of their own
  (``reporter`` themselves), in a community of theirs (``Facts.communities``: their
  ``people.community`` and the communities of ``B`` and ``I``), in status ``pending``,
  never ``incident``/``ack_at``/``ack_by``. A device sends at most ``REPORTS_PER_HOUR``
  new reports an hour (``ReportLimitError``). Volunteers never write incidents (#22 M1):
  the incidents they reported before are read as any other. Nothing else. An element
  field ``F.e`` of a set field (sync/sets.py) is judged as a write of ``F`` holding ``e``.
  A coordinator may write everything anchored in their community.
* The **anchor** of a record is the field that places it in a scope (a visit's
  ``household``). A change is judged against every anchor value known for its record: the
  server's current winner and the values the same request sets. A record whose anchor is
  not known yet (an entity whose ``household`` change is in the next batch) belongs to
  nobody and is accepted; the change that sets its anchor is itself judged.
"""

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sync.sets import split
from sync.validate import ForbiddenError

__all__ = [
    "ANCHORS",
    "REPORTS_PER_HOUR",
    "Facts",
    "Grant",
    "ReportLimitError",
    "Scope",
    "covers",
    "may_write",
    "read_scope",
    "scope_token",
]

# --- visibility, declared once ----------------------------------------------------------
#
# How each collection reaches a scope. Both engines' SQL (``server.db.scopes``: the pull
# filter, a pull page's index lookups, evictions, the live fan-out) and the Python checks
# (``was_visible``, ``may_write``) are made from this table: adding a collection is one
# entry here, plus its schema.

#: Where a record says the key that places it in a scope: its id, the part of its id after
#: ``~`` (``<incident>~<household>``) or before it (``<person>~<building>``) — or else
#: the name of a field, whose value is the key.
ID, TAIL, HEAD = ":id", ":tail", ":head"
VOLUNTEER, COORDINATOR = frozenset({"volunteer"}), frozenset({"coordinator"})
_ROLES = VOLUNTEER | COORDINATOR


@dataclass(frozen=True, slots=True)
class Reach:
    """One way a record reaches a scope: its key (``ID``, ``TAIL``, ``HEAD`` or a field)
    is in the scope's set ``within``.

    ``within`` is one of ``households``, ``buildings``, ``incidents``, ``targets`` (the
    buildings and incidents), ``person`` (the scope's person), ``community`` (the scope's
    community) or ``public`` (the value ``true``). ``roles``: the roles it is open to.
    """

    within: str
    key: str
    roles: frozenset[str] = _ROLES

    @property
    def by_field(self) -> bool:
        return self.key not in (ID, TAIL, HEAD)


@dataclass(frozen=True, slots=True)
class Visibility:
    """How the records of one collection reach a scope.

    Attributes:
        reads: the ways a scope reads a record (any one suffices); none: reference data,
            read whole by every scope.
        writes: what a coordinator's scope must hold for a write (its key is the
            record's *anchor* when it is a field: ``ANCHORS``); default: the first of
            ``reads``.
        volunteers: volunteers write records their scope reads through ``reads``
            (only the fields ``volunteer_fields``, when given).
    """

    reads: tuple[Reach, ...] = ()
    writes: Reach | None = None
    volunteers: bool = False
    volunteer_fields: frozenset[str] | None = None

    @property
    def reference(self) -> bool:
        return not self.reads

    @property
    def judged_by(self) -> Reach | None:
        """``writes``, or else the first way it is read (a collection read through a
        household or an incident is written under the same key)."""
        return self.writes or (self.reads[0] if self.reads else None)


_OF_COMMUNITY = Reach("community", "community")

#: collection → how its records reach a scope (docs/security.md has the table in words).
VISIBILITY: dict[str, Visibility] = {
    "communities": Visibility(writes=Reach("community", ID)),
    "buildings": Visibility(writes=_OF_COMMUNITY),
    "incidents": Visibility(writes=_OF_COMMUNITY),
    # A volunteer marks a household ``vulnerable`` (what the door-knocking finds out).
    "households": Visibility(
        (Reach("households", ID),),
        Reach("buildings", "building"),
        volunteers=True,
        volunteer_fields=frozenset({"vulnerable"}),
    ),
    "visits": Visibility((Reach("households", "household"),), volunteers=True),
    "deliveries": Visibility((Reach("households", "household"),), volunteers=True),
    "household_status": Visibility((Reach("households", TAIL),), volunteers=True),
    "repairs": Visibility((Reach("incidents", "incident"),), volunteers=True),
    "updates": Visibility((Reach("incidents", "incident"), Reach("public", "public", VOLUNTEER))),
    # A volunteer reads their own assignments; a coordinator those inside its community.
    "assignments": Visibility(
        (Reach("person", HEAD, VOLUNTEER), Reach("targets", TAIL, COORDINATOR))
    ),
    # 需核实 resolutions (#11), ids ``<incident>~…``: the coordinators of the incident.
    "checks": Visibility((Reach("incidents", HEAD, COORDINATOR),), Reach("incidents", HEAD)),
    # Field reports (#22): their reporter, and the coordinators of their community.
    "reports": Visibility(
        (Reach("person", "reporter", VOLUNTEER), Reach("community", "community", COORDINATOR)),
        _OF_COMMUNITY,
    ),
}


def reference_collections() -> tuple[str, ...]:
    """The collections every scope reads whole (reference data)."""
    return tuple(c for c, v in VISIBILITY.items() if v.reference)


def reaches(role: str) -> list[tuple[str, Reach]]:
    """(collection, reach) of every way a scope of ``role`` reads a limited collection."""
    role = "coordinator" if role == "coordinator" else "volunteer"
    return [(c, r) for c, v in VISIBILITY.items() for r in v.reads if role in r.roles]


def self_anchors() -> frozenset[tuple[str, str]]:
    """(collection, field) whose change can make a record visible or invisible by itself
    (the fields that place a record in a scope: a visit's ``household``)."""
    return frozenset((c, r.key) for c, v in VISIBILITY.items() for r in v.reads if r.by_field)


def anchors() -> dict[str, str]:
    """collection → the field that places a record in a scope for writes."""
    judged = {c: v.judged_by for c, v in VISIBILITY.items()}
    return {c: r.key for c, r in judged.items() if r is not None and r.by_field}


def scope_keys(scope: "Scope", within: str) -> frozenset[Any] | None:
    """The keys of the set ``within`` of ``scope`` (None: all)."""
    if within == "households":
        return scope.households
    if within == "buildings":
        return scope.buildings
    if within == "incidents":
        return scope.incidents
    if within == "targets":
        if scope.buildings is None and scope.incidents is None:
            return None
        return (scope.buildings or frozenset()) | (scope.incidents or frozenset())
    if within == "person":
        return frozenset({scope.person})
    if within == "community":
        return frozenset({scope.community or ""})
    if within == "public":
        return frozenset({True})
    raise ValueError(f"no such scope set: {within}")


def key_of(reach: Reach, rid: str, fields: Mapping[str, Any]) -> Any:
    """The key by which a record (its id, its fields' values) reaches a scope."""
    if reach.key == ID:
        return rid
    if reach.key == TAIL:
        return rid.split("~", 1)[-1]
    if reach.key == HEAD:
        return rid.split("~", 1)[0] if "~" in rid else ""
    return fields.get(reach.key)


def readable(scope: "Scope", coll: str, rid: str, fields: Mapping[str, Any]) -> bool:
    """Whether ``scope`` reads the record with these fields' values (the rule of pulls,
    in Python: the SQL of ``server.db.scopes`` says the same)."""
    vis = VISIBILITY.get(coll)
    if vis is None:
        return scope.unlimited
    if vis.reference or scope.unlimited:
        return True
    for reach in vis.reads:
        if (scope.role if scope.role == "coordinator" else "volunteer") not in reach.roles:
            continue
        keys = scope_keys(scope, reach.within)
        key = key_of(reach, rid, fields)
        if keys is None or (isinstance(key, str | bool) and key in keys):
            return True
    return False


#: The collections a scope is computed from (``server.db.scopes.compute_scope``, and the
#: scope sequence's trigger, ``server.db.migrations.SCOPE_CHANGES``).
SCOPE_INPUTS = frozenset({"assignments", "buildings", "incidents"})


def rescopes(coll: str, fld: str) -> bool:
    """Whether writing ``fld`` of a ``coll`` record can change what a scope reads beyond
    that record: a scope's inputs, or the field that places a record read by its id (a
    household's ``building``). The live fan-out closes the streams of such scopes."""
    if coll in SCOPE_INPUTS:
        return True
    vis = VISIBILITY.get(coll)
    if vis is None or not any(r.key == ID for r in vis.reads):
        return False
    reach = vis.judged_by
    return reach is not None and reach.key == fld


#: collection → the field that places a record in a scope (id-derived ones are absent).
ANCHORS: dict[str, str] = anchors()

#: Report fields only a coordinator sets (the volunteer writes what, where, who, when).
_COORDINATOR_REPORT_FIELDS = frozenset({"incident", "ack_at", "ack_by"})

#: New field reports one device may send in an hour (#22 M1: 20,000 incidents in 4.8 s
#: reached every phone). A shift's worth for a busy volunteer; beyond it, a phone call.
REPORTS_PER_HOUR = 30


class ReportLimitError(ForbiddenError):
    """A device sent more new field reports in an hour than ``REPORTS_PER_HOUR``."""

    code = "too_many_reports"


@dataclass(frozen=True, slots=True)
class Grant:
    """What a device's credentials grant before households are resolved.

    ``None`` means "all" (no limit); an empty set means "none".
    """

    person: str
    role: str
    buildings: frozenset[str] | None
    incidents: frozenset[str] | None
    community: str | None = None
    #: Households given to a volunteer one by one, besides those of ``buildings``.
    households: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Scope:
    """A device's read and write scope. ``None`` sets mean "all"."""

    person: str
    role: str
    buildings: frozenset[str] | None
    households: frozenset[str] | None
    incidents: frozenset[str] | None
    community: str | None = None
    token: str = field(default="", compare=False)

    @property
    def volunteer(self) -> bool:
        return self.role != "coordinator"

    @property
    def unlimited(self) -> bool:
        return not self.volunteer and self.households is None


@dataclass(slots=True)
class Facts:
    """What the server knows about one record a request writes to.

    Attributes:
        anchors: every known value of the record's anchor field (server winner and the
            values set in this request).
        exists: the server holds at least one field of the record.
        foreign: someone other than the writer (or the server itself) wrote to it.
        incident_buildings: for incidents, every known ``buildings`` list value.
        communities: for a volunteer's reports, the communities the volunteer belongs to
            or works in (None: not looked up).
    """

    anchors: set[Any] = field(default_factory=set)
    exists: bool = False
    foreign: bool = False
    incident_buildings: list[Any] = field(default_factory=list)
    communities: frozenset[str] | None = None


def _active_targets(
    person: str, assignments: Mapping[str, Mapping[str, Any]]
) -> tuple[set[str], set[str], set[str]]:
    """(buildings, incidents, households) of a person's assignments in force, by id."""
    buildings: set[str] = set()
    incidents: set[str] = set()
    households: set[str] = set()
    prefix = person + "~"
    for rid, rec in assignments.items():
        if not rid.startswith(prefix) or rec.get("_deleted") is True:
            continue
        target = rid[len(prefix) :]
        if rec.get("household") == target:
            households.add(target)
            continue
        if rec.get("active") is not True:
            continue
        if rec.get("incident") == target:
            incidents.add(target)
        else:
            buildings.add(target)
    return buildings, incidents, households


def read_scope(
    person: str,
    role: str,
    *,
    community: str | None = None,
    assignments: Mapping[str, Mapping[str, Any]] | None = None,
    incident_buildings: Mapping[str, Iterable[str]] | None = None,
    community_buildings: Iterable[str] = (),
    community_incidents: Iterable[str] = (),
) -> Grant:
    """The buildings and incidents a person's role grants.

    Args:
        person: the person behind the device.
        role: ``coordinator`` or ``volunteer``.
        community: a coordinator's community (None: all communities).
        assignments: assignment records by id (fields as plain values); only the
            person's own are used.
        incident_buildings: every incident's ``buildings`` list, by incident id.
        community_buildings, community_incidents: for a coordinator with a community,
            the buildings and incidents whose ``community`` is it.
    """
    if role == "coordinator":
        if community is None:
            return Grant(person, role, None, None)
        return Grant(
            person,
            role,
            frozenset(community_buildings),
            frozenset(community_incidents),
            community,
        )
    buildings, incidents, households = _active_targets(person, assignments or {})
    by_incident = {k: set(v or ()) for k, v in (incident_buildings or {}).items()}
    for inc in incidents:
        buildings |= by_incident.get(inc, set())
    worked = set(incidents)
    worked.update(inc for inc, bs in by_incident.items() if bs & buildings)
    return Grant(
        person,
        "volunteer",
        frozenset(buildings),
        frozenset(worked),
        households=frozenset(households),
    )


def covers(outer: Scope, inner: Scope) -> bool:
    """Whether ``outer`` reads everything ``inner`` reads (households and incidents): a
    community's coordinator hands out a new invite for a person only then, since the
    device it enrols reads what that person reads (found by attack, #19)."""
    if outer.unlimited:
        return True
    if inner.households is None or inner.incidents is None:
        return False
    return inner.households <= (outer.households or frozenset()) and inner.incidents <= (
        outer.incidents or frozenset()
    )


def scope_token(
    role: str,
    person: str,
    households: frozenset[str] | None,
    incidents: frozenset[str] | None,
) -> str:
    """A short fingerprint of a scope: equal scopes give equal tokens."""
    h = hashlib.sha256(f"{role}\0{person}\0".encode())
    for part in (households, incidents):
        if part is None:
            h.update(b"*\1")
        else:
            for x in sorted(part):
                h.update(x.encode() + b"\0")
            h.update(b"\1")
    return h.hexdigest()[:24]


def _refuse(message: str) -> None:
    raise ForbiddenError(message)


def _all_in(values: Iterable[Any], allowed: frozenset[str] | None) -> bool:
    if allowed is None:
        return True
    return all(isinstance(v, str) and v in allowed for v in values)


def may_write(scope: Scope, coll: str, rid: str, fld: str, value: Any, facts: Facts) -> None:
    """Judge one already-valid change against the writer's rights.

    Raises:
        ForbiddenError: the change is outside the writer's rights; the message says why
            and what to do.
    """
    if coll == "assignments":
        _assignment(scope, rid, fld, value)
        return
    if scope.unlimited:
        return
    element = split(coll, fld)
    if element is not None:
        # Adding or removing one element touches that element only: judge it as a list.
        fld, value = element[0], [element[1]]
    if scope.volunteer:
        _volunteer(scope, coll, rid, fld, value, facts)
    else:
        _coordinator(scope, coll, rid, fld, value, facts)


def _household_of(rid: str) -> str:
    return rid.split("~", 1)[1]


def _volunteer(scope: Scope, coll: str, rid: str, fld: str, value: Any, facts: Facts) -> None:
    vis = VISIBILITY.get(coll)
    if coll == "incidents":
        _refuse(
            "volunteers cannot open or change incidents; send a field report (reports) "
            "and the coordinator will open or update the incident"
        )
    elif coll == "reports":
        _volunteer_report(scope, fld, value, facts)
    elif vis is None or not vis.volunteers or fld not in (vis.volunteer_fields or {fld}):
        _refuse(f"volunteers cannot change {coll}; ask the coordinator")
    else:
        reach = next(r for r in vis.reads if "volunteer" in r.roles)
        _judge(scope, coll, rid, fld, value, facts, reach, _VOLUNTEER_OUTSIDE)


#: What a volunteer is told when a write is outside their scope, by the set it missed.
_VOLUNTEER_OUTSIDE = {
    "households": "this {coll} record is for a household outside your assigned buildings; "
    "ask the coordinator to assign you the building",
    "incidents": "{coll} can be recorded only for incidents you work on",
}
#: What a coordinator is told, likewise.
_OUTSIDE = "outside your community; ask that community's coordinator"
_COORDINATOR_OUTSIDE = {
    "households": "this household is " + _OUTSIDE,
    "buildings": "this household's building is " + _OUTSIDE,
    "incidents": "this incident is " + _OUTSIDE,
    "community": "this {coll} record is " + _OUTSIDE,
}
_NOUN = {"households": "household", "buildings": "building", "incidents": "incident"}


def _judge(
    scope: Scope,
    coll: str,
    rid: str,
    fld: str,
    value: Any,
    facts: Facts,
    reach: Reach,
    words: Mapping[str, str],
) -> None:
    """Refuse a write unless the record's key by ``reach`` (every known value of its
    anchor field, or the part of its id) is in the writer's scope."""
    message = words.get(reach.within, "this {coll} record is outside your scope").format(coll=coll)
    if reach.by_field:
        if fld == reach.key and not isinstance(value, str):
            noun = _NOUN.get(reach.within, reach.within)
            _refuse(f"{coll}.{fld} must name a {noun}: {message}")
        keys: Iterable[Any] = facts.anchors
    else:
        keys = [key_of(reach, rid, {})]
    if not _all_in(keys, scope_keys(scope, reach.within)):
        _refuse(message)


def _volunteer_report(scope: Scope, fld: str, value: Any, facts: Facts) -> None:
    if facts.foreign:
        _refuse("a field report can be changed only by the volunteer who sent it")
    if fld in _COORDINATOR_REPORT_FIELDS:
        _refuse(f"only a coordinator sets a report's {fld}")
    if fld == "reporter" and value != scope.person:
        _refuse("reports.reporter must be yourself")
    if fld == "status" and value not in (None, "pending"):
        _refuse("volunteers send reports as 'pending'; a coordinator acknowledges them")
    if fld == "community" and not isinstance(value, str):
        _refuse("reports.community must name your community")
    if not _all_in(facts.anchors, facts.communities or frozenset()):
        _refuse(
            "a report must be for a community you belong to or work in; "
            "ask the coordinator to assign you"
        )


def _coordinator(scope: Scope, coll: str, rid: str, fld: str, value: Any, facts: Facts) -> None:
    outside = _OUTSIDE
    if coll in ("buildings", "incidents", "reports"):
        if fld == "community" and value != scope.community:
            _refuse(f"{coll[:-1]} must belong to your community ({scope.community})")
        if coll == "incidents" and fld == "buildings" and not _all_in(value or (), scope.buildings):
            _refuse(f"an incident's buildings must be in your community; {outside}")
        attach = coll == "reports" and fld == "incident" and value is not None
        if attach and not _all_in([value], scope.incidents):
            _refuse(f"a report is attached only to an incident of your community; {outside}")
    vis = VISIBILITY.get(coll)
    reach = None if vis is None else vis.judged_by
    if reach is not None:
        _judge(scope, coll, rid, fld, value, facts, reach, _COORDINATOR_OUTSIDE)


def _assignment(scope: Scope, rid: str, fld: str, value: Any) -> None:
    if scope.volunteer:
        _refuse("only a coordinator assigns buildings")
    person, target = rid.split("~", 1)
    if fld == "person" and value not in (None, person):
        _refuse("assignments.person must equal the first part of the id <person>~<building>")
    if fld == "building" and value not in (None, target):
        _refuse("assignments.building must equal the second part of the id <person>~<building>")
    if fld == "household" and value not in (None, target):
        _refuse("assignments.household must equal the second part of the id <person>~<household>")
    if scope.buildings is None:
        return
    if target not in scope.buildings | (scope.incidents or frozenset()) | (
        scope.households or frozenset()
    ):
        _refuse(f"building or incident {target[:40]} is outside your community")
