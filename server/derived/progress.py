"""Incident progress, derived from records (DESIGN.md: counts are never synced).

``derive`` is a pure function over the records ``db.log.incident_inputs`` reads; the
residents' view is cut from it by ``public_view``, which keeps only incident-wide counts
and drops them all for incidents small enough that a count could point at a door.

Rules, in the order a coordinator would ask about them:

* a record whose ``_deleted`` is true does not exist;
* affected = households whose ``building`` is in the incident's ``buildings``;
* reached = households with some visit ``reached`` or with a delivery (any item, any
  status) for this incident: whoever handed something over at the door reached the
  household (#22 D12); visited = reached, or with any visit for this incident;
  not_home = visited, never reached, and the latest visit ``not_home``; refused likewise
  with ``refused``; a latest visit ``moved`` (已搬走) is visited, not reached, and has no
  counter of its own;
* vulnerable = households whose folded ``vulnerable`` set (sync/sets.py: element marks
  made on phones and whole lists alike) is not empty;
* open needs of a household = its ``household_status.needs_open`` when that field was
  ever written, else the needs of its latest visit (by ``at``, then id), minus ``heater``
  when a heater is out with it;
* heaters out = sum of ``qty`` over heater deliveries ``delivered`` (returned and lost
  ones are back or gone);
* restored buildings = the incident's ``restored_buildings`` that are in its scope; when
  every building of the scope is restored, the incident counts as restored;
* restored = every affected household once the incident is ``restored`` or ``closed`` (or
  all its buildings are), else households in a restored building or whose
  ``household_status.restored`` is true.
"""

from typing import Any

from schemas.progress import PUBLIC_MIN_HOUSEHOLDS, Progress, PublicProgress, PublicUpdate
from server.db.log import IncidentInputs

__all__ = ["LATEST_UPDATES", "building_labels", "derive", "public_view"]

#: Public updates carried in a progress event (the newest first).
LATEST_UPDATES = 20

_DONE = ("restored", "closed")


def _live(recs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in recs.items() if r.get("_deleted") is not True}


def _text(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _sort_key(at: Any, rid: str) -> tuple[str, str]:
    return (at if isinstance(at, str) else "", rid)


def derive(incident_id: str, data: IncidentInputs) -> Progress:
    """The aggregates of one incident from its records."""
    inc = data.incident
    status = _text(inc.get("status"))
    households = _live(data.households)
    scope = inc.get("buildings") if isinstance(inc.get("buildings"), list) else []
    households = {k: h for k, h in households.items() if h.get("building") in scope}
    listed = inc.get("restored_buildings")
    listed = listed if isinstance(listed, list) else []
    scope_set = {b for b in scope if isinstance(b, str)}
    restored_buildings = scope_set.intersection(b for b in listed if isinstance(b, str))
    all_restored = bool(scope_set) and restored_buildings == scope_set

    visits_of: dict[str, list[tuple[tuple[str, str], dict[str, Any]]]] = {}
    for vid, v in _live(data.visits).items():
        hid = v.get("household")
        if hid in households:
            visits_of.setdefault(hid, []).append((_sort_key(v.get("at"), vid), v))

    heaters_of: dict[str, int] = {}
    delivered_to: set[str] = set()
    for d in _live(data.deliveries).values():
        hid = d.get("household")
        if hid in households:
            delivered_to.add(hid)
        if hid in households and d.get("item") == "heater" and d.get("status") == "delivered":
            qty = d.get("qty")
            heaters_of[hid] = heaters_of.get(hid, 0) + (qty if isinstance(qty, int) else 1)

    statuses = _live(data.statuses)
    prefix = incident_id + "~"
    p = Progress(
        incident=incident_id,
        seq=data.seq,
        kind=_text(inc.get("kind")),
        title=_text(inc.get("title")),
        status=status,
        eta=_text(inc.get("eta")),
        started_at=_text(inc.get("started_at")),
        restored_at=_text(inc.get("restored_at")),
    )
    needs: dict[str, int] = {}
    restored_flags = 0
    for hid, h in households.items():
        p.affected += 1
        vulnerable = isinstance(h.get("vulnerable"), list) and bool(h["vulnerable"])
        p.vulnerable += vulnerable
        visits = sorted(visits_of.get(hid, ()), key=lambda kv: kv[0])
        reached = hid in delivered_to or any(v.get("outcome") == "reached" for _, v in visits)
        if visits or reached:
            p.visited += 1
            if reached:
                p.reached += 1
                p.vulnerable_reached += vulnerable
            elif visits[-1][1].get("outcome") == "not_home":
                p.not_home += 1
            elif visits[-1][1].get("outcome") == "refused":
                p.refused += 1
        st = statuses.get(prefix + hid, {})
        if "needs_open" in st:
            open_needs = st["needs_open"] if isinstance(st["needs_open"], list) else []
        else:
            last = visits[-1][1].get("needs") if visits else None
            open_needs = last if isinstance(last, list) else []
            if heaters_of.get(hid):
                open_needs = [n for n in open_needs if n != "heater"]
        if open_needs:
            p.needs_open += 1
            for n in set(open_needs):
                if isinstance(n, str):
                    needs[n] = needs.get(n, 0) + 1
        restored_flags += st.get("restored") is True or h.get("building") in restored_buildings
        p.heaters_out += heaters_of.get(hid, 0)
    p.needs = dict(sorted(needs.items()))
    p.buildings = len(scope_set)
    p.buildings_restored = len(restored_buildings)
    p.restored = p.affected if status in _DONE or all_restored else restored_flags
    p.updates = _public_updates(data.updates)
    return p


def _public_updates(updates: dict[str, dict[str, Any]]) -> list[PublicUpdate]:
    out = [
        PublicUpdate(id=uid, at=_text(u.get("at")), text=u["text"])
        for uid, u in _live(updates).items()
        if u.get("public") is True and isinstance(u.get("text"), str) and u["text"].strip()
    ]
    out.sort(key=lambda u: _sort_key(u.at, u.id), reverse=True)
    return out[:LATEST_UPDATES]


def building_labels(data: IncidentInputs) -> tuple[list[str], list[str]]:
    """Labels of the scope's buildings restored, and of those not yet, in scope order
    (a building without a label is left out: residents know buildings by name)."""
    inc = data.incident
    scope = inc.get("buildings") if isinstance(inc.get("buildings"), list) else []
    listed = inc.get("restored_buildings")
    restored = set(listed) if isinstance(listed, list) else set()
    done: list[str] = []
    waiting: list[str] = []
    for b in dict.fromkeys(x for x in scope if isinstance(x, str)):
        if b in data.labels:
            (done if b in restored else waiting).append(data.labels[b])
    return done, waiting


def public_view(
    p: Progress, summary: str | None, buildings: tuple[list[str], list[str]] | None = None
) -> PublicProgress:
    """What residents may see: incident-wide counts only, none for a small incident.

    No household, room, name, phone, note, vulnerability or need ever reaches this view;
    counts are not broken down by building or unit, and an incident of fewer than
    ``PUBLIC_MIN_HOUSEHOLDS`` households shows no counts at all. ``buildings`` (from
    ``building_labels``) names the buildings restored and not yet: their labels are
    reference data, on the notice at the gate already.
    """
    counts = p.affected >= PUBLIC_MIN_HOUSEHOLDS
    # An incident still ``reported`` was opened from the field, in a volunteer's words
    # (before #22 made field reports their own records): residents get its kind only,
    # until a coordinator takes it on.
    words = p.status != "reported"
    return PublicProgress(
        seq=p.seq,
        kind=p.kind,
        title=p.title if words else None,
        summary=summary if words else None,
        status=p.status,
        affected=p.affected if counts else None,
        visited=p.visited if counts else None,
        restored=p.restored if counts else None,
        buildings=p.buildings if counts else None,
        buildings_restored=p.buildings_restored if counts else None,
        buildings_done=buildings[0] if counts and buildings else None,
        buildings_waiting=buildings[1] if counts and buildings else None,
        eta=p.eta,
        started_at=p.started_at,
        restored_at=p.restored_at,
        updates=p.updates,
    )
