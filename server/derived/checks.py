"""The 需核实 (needs checking) list, derived from records — never a separate store.

Rules (docs/live.md has them for coordinators), for the households in an incident's scope:

* ``two_heaters``: two or more heater deliveries of this incident still ``delivered``
  with one household (two heaters on loan to one door, usually two volunteers who did
  not see each other's entry);
* ``contradictory``: two visits of this incident to one household, at most
  ``CONTRADICTION_MINUTES`` apart by their ``at``, with different outcomes;
* ``vulnerable_unreached``: a household whose ``vulnerable`` set is not empty, not
  reached as server/derived/progress.py counts it (no ``reached`` visit and no delivery of this
  incident, any item, any status: #22 D12), once ``check_after_hours`` (per incident,
  default ``DEFAULT_AFTER_HOURS``) have passed since the incident's ``started_at``; not
  for a ``closed`` incident.

Each entry's id is ``<incident>~<kind>~<household>``: the id of the ``checks`` record a
coordinator writes to resolve it (``resolved``, ``note``, ``by``), so the resolution is a
record like any other, synced, merged and kept in the history; ``resolved = false`` undoes
it (撤销核实).
"""

from datetime import datetime
from typing import Any

from schemas.checks import CheckEntry, CheckItem
from server.db.log import IncidentInputs

__all__ = ["CONTRADICTION_MINUTES", "DEFAULT_AFTER_HOURS", "derive_checks"]

CONTRADICTION_MINUTES = 10
DEFAULT_AFTER_HOURS = 2


def _ms(at: Any) -> int | None:
    if not isinstance(at, str):
        return None
    try:
        return int(datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def _live(recs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in recs.items() if r.get("_deleted") is not True}


def _text(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def derive_checks(
    incident: str,
    data: IncidentInputs,
    checks: dict[str, dict[str, Any]],
    now_ms: int,
) -> list[CheckItem]:
    """The incident's 需核实 entries, unresolved first, then by household.

    Args:
        incident: The incident id.
        data: Its records, as read for progress.
        checks: Resolution records by id (``<incident>~<kind>~<household>``).
        now_ms: Server time in Unix ms (passed in, so tests choose the hour).
    """
    inc = data.incident
    scope = inc.get("buildings") if isinstance(inc.get("buildings"), list) else []
    households = {k: h for k, h in _live(data.households).items() if h.get("building") in scope}
    out: list[CheckItem] = []

    def add(kind: str, hid: str, entries: list[CheckEntry]) -> None:
        cid = f"{incident}~{kind}~{hid}"
        res = checks.get(cid, {})
        resolved = res.get("resolved") is True and res.get("_deleted") is not True
        out.append(
            CheckItem(
                id=cid,
                kind=kind,  # type: ignore[arg-type]
                household=hid,
                entries=entries,
                resolved=resolved,
                note=_text(res.get("note")),
                # An undone check (resolved = false) names no checker (#22 D20).
                resolved_by=_text(res.get("by")) if resolved else None,
            )
        )

    heaters: dict[str, list[CheckEntry]] = {}
    # Reached as the counters count it (server/derived/progress.py): a reached visit, or any
    # delivery, since whoever handed something over at the door reached it (#22 D12).
    reached = {
        v.get("household") for v in _live(data.visits).values() if v.get("outcome") == "reached"
    }
    for did, d in sorted(_live(data.deliveries).items(), key=lambda kv: str(kv[1].get("at"))):
        hid = d.get("household")
        reached.add(hid)
        if hid in households and d.get("item") == "heater" and d.get("status") == "delivered":
            heaters.setdefault(hid, []).append(
                CheckEntry("deliveries", did, _text(d.get("at")), _text(d.get("by")), "heater")
            )
    for hid, entries in heaters.items():
        if len(entries) >= 2:
            add("two_heaters", hid, entries)

    visits: dict[str, list[tuple[int, str, dict[str, Any]]]] = {}
    for vid, v in _live(data.visits).items():
        hid, at = v.get("household"), _ms(v.get("at"))
        if hid in households and at is not None and isinstance(v.get("outcome"), str):
            visits.setdefault(hid, []).append((at, vid, v))
    window = CONTRADICTION_MINUTES * 60_000
    for hid, vs in visits.items():
        vs.sort(key=lambda x: (x[0], x[1]))
        clash = {
            i
            for k in range(1, len(vs))
            if vs[k][0] - vs[k - 1][0] <= window and vs[k][2]["outcome"] != vs[k - 1][2]["outcome"]
            for i in (k - 1, k)
        }
        if clash:
            add(
                "contradictory",
                hid,
                [
                    CheckEntry("visits", vid, _text(v.get("at")), _text(v.get("by")), v["outcome"])
                    for k, (_, vid, v) in enumerate(vs)
                    if k in clash
                ],
            )

    started = _ms(inc.get("started_at"))
    hours = inc.get("check_after_hours")
    hours = hours if isinstance(hours, int) and hours > 0 else DEFAULT_AFTER_HOURS
    if (
        started is not None
        and inc.get("status") != "closed"
        and now_ms - started >= hours * 3_600_000
    ):
        for hid, h in households.items():
            vulnerable = h.get("vulnerable")
            if not (isinstance(vulnerable, list) and vulnerable):
                continue
            if hid in reached:
                continue
            add(
                "vulnerable_unreached",
                hid,
                [
                    CheckEntry("visits", vid, _text(v.get("at")), _text(v.get("by")), v["outcome"])
                    for _, vid, v in visits.get(hid, ())
                ],
            )
    out.sort(key=lambda c: (c.resolved, c.kind, c.household))
    return out
