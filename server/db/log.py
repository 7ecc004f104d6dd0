"""The change log as the live streams read it: tailing it, and what progress needs.

These reads use the live connection (``read_tx(..., live=True)``), so the one tailer per
process and the public pages never queue behind sync requests.

Every query is written once for both engines. An id list travels as JSON text read as a
table (``Dialect.each``); a record reference is compared with ``winners.value`` (JSON
text) quoted in Python, byte for byte as stored, beside ``Dialect.ref_sized``, which
lets PostgreSQL use its partial index ``winners_ref``.
"""

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from server.db import AnyDatabase, changes
from server.db.dialect import Conn
from sync.sets import fold

__all__ = [
    "IncidentInputs",
    "LogRow",
    "active_incidents",
    "checks_of",
    "fold_rows",
    "incident_inputs",
    "incident_inputs_in",
    "incident_scopes",
    "incident_scopes_in",
    "incidents_touched",
    "max_seq",
    "tail",
]

#: (seq, coll, id, field, value_json, hlc)
LogRow = tuple[int, str, str, str, str, str]

_decode = msgspec.json.decode

#: Record collections that name their incident in the field ``incident``.
_INCIDENT_CHILDREN = ("visits", "deliveries", "updates", "repairs")

_FIELDS_OF = """
SELECT w.id, w.field, w.value, w.hlc FROM winners w
WHERE w.coll = ? AND w.field IN ({fields}) AND w.id IN (
    SELECT r.id FROM winners r WHERE r.coll = ? AND r.field = 'incident' AND r.value = ?
    AND {sized}
)
"""

_HOUSEHOLDS_IN = """
SELECT w.id, w.field, w.value, w.hlc FROM winners w
WHERE w.coll = 'households'
AND (w.field IN ('building', 'unit', 'vulnerable', '_deleted') OR w.field LIKE 'vulnerable.%')
AND w.id IN (
    SELECT r.id FROM winners r
    WHERE r.coll = 'households' AND r.field = 'building'
    AND r.value IN (SELECT value FROM {each}) AND {sized}
)
"""

_CHECKS = "SELECT id, field, value, hlc FROM winners WHERE coll = 'checks' AND id > ? AND id < ?"
_TAIL = "SELECT seq, coll, id, field, value, hlc FROM history WHERE seq > ? ORDER BY seq LIMIT ?"
_TAIL_UPTO = (
    "SELECT seq, coll, id, field, value, hlc FROM history WHERE seq > ? "
    "AND seq <= ? ORDER BY seq LIMIT ?"
)
_CHILDREN = (
    "SELECT DISTINCT value FROM winners WHERE coll IN (?, ?, ?, ?) "
    "AND field = 'incident' AND id IN (SELECT value FROM {each})"
)
_BUILDINGS_OF = (
    "SELECT DISTINCT value FROM winners WHERE coll = 'households' "
    "AND field = 'building' AND id IN (SELECT value FROM {each})"
)
_INCIDENT = "SELECT id, field, value, hlc FROM winners WHERE coll = 'incidents' AND id = ?"
_LABELS = (
    "SELECT id, value FROM winners WHERE coll = 'buildings' AND field = 'label'"
    " AND id IN (SELECT value FROM {each})"
)
_STATUSES = (
    "SELECT id, field, value, hlc FROM winners WHERE coll = 'household_status'"
    " AND id > ? AND id < ? AND (field IN ('needs_open', 'restored', '_deleted')"
    " OR field LIKE 'needs_open.%')"
)
_ACTIVE = (
    "SELECT i.id FROM winners i WHERE i.coll = 'incidents' AND i.field = 'status' "
    "AND i.value <> '\"closed\"' AND NOT EXISTS (SELECT 1 FROM winners d WHERE "
    "d.coll = 'incidents' AND d.id = i.id AND d.field = '_deleted' AND d.value = 'true')"
    " ORDER BY i.id DESC"
)


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


@dataclass
class IncidentInputs:
    """Everything progress is derived from, as {record id: {field: value}} per collection."""

    seq: int
    incident: dict[str, Any]
    households: dict[str, dict[str, Any]] = field(default_factory=dict)
    visits: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: dict[str, dict[str, Any]] = field(default_factory=dict)
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    updates: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The scope's building labels by id: reference data, shown to residents (#22 D26).
    labels: dict[str, str] = field(default_factory=dict)


def fold_rows(coll: str, rows: Iterable[sqlite3.Row | tuple]) -> dict[str, dict[str, Any]]:
    """``(id, field, value, hlc)`` rows → records, set fields folded (sync/sets.py)."""
    stamped: dict[str, dict[str, tuple[str, Any]]] = {}
    for rid, fld, value, hlc in rows:
        stamped.setdefault(rid, {})[fld] = (hlc, _decode(value))
    return {rid: fold(coll, fields) for rid, fields in stamped.items()}


def _scopes(rows: Iterable[sqlite3.Row | tuple]) -> dict[str, list[str]]:
    return {
        rid: [b for b in rec.get("buildings") or () if isinstance(b, str)]
        for rid, rec in fold_rows("incidents", rows).items()
    }


_INCIDENT_BUILDINGS = (
    "SELECT id, field, value, hlc FROM winners WHERE coll = 'incidents' "
    "AND (field = 'buildings' OR field LIKE 'buildings.%')"
)


async def incident_scopes(db: AnyDatabase, *, live: bool = False) -> dict[str, list[str]]:
    """Every incident's ``buildings``: the list and its element fields, folded."""
    return await db.read_tx(incident_scopes_in, live=live)


def incident_scopes_in(conn: Conn) -> dict[str, list[str]]:
    """``incident_scopes`` inside the caller's transaction."""
    return _scopes(conn.execute(_INCIDENT_BUILDINGS).fetchall())


async def checks_of(db: AnyDatabase, incident: str) -> dict[str, dict[str, Any]]:
    """The 需核实 resolution records of one incident (ids ``<incident>~…``)."""
    rows = await db.select(_CHECKS, (incident + "~", incident + "~\U0010ffff"), live=True)
    return fold_rows("checks", rows)


async def max_seq(db: AnyDatabase) -> int:
    """The log's top sequence (on the live connection)."""
    return await changes.max_seq(db, live=True)


async def tail(db: AnyDatabase, after: int, limit: int, upto: int | None = None) -> list[LogRow]:
    """Accepted changes with ``after < seq (<= upto)``, in sequence order."""
    if upto is None:
        return await db.select(_TAIL, (after, limit), live=True)
    return await db.select(_TAIL_UPTO, (after, upto, limit), live=True)


async def incidents_touched(db: AnyDatabase, rows: Sequence[LogRow]) -> set[str]:
    """Incidents whose progress may have changed because of ``rows``."""
    touched: set[str] = set()
    children: set[str] = set()
    households: set[str] = set()
    buildings: set[str] = set()
    for _, coll, rid, fld, value, _ in rows:
        if coll == "incidents":
            touched.add(rid)
        elif coll == "household_status":
            touched.add(rid.split("~", 1)[0])
        elif coll in _INCIDENT_CHILDREN:
            if fld == "incident":
                v = _decode(value)
                if isinstance(v, str):
                    touched.add(v)
            children.add(rid)
        elif coll == "households":
            households.add(rid)
        elif coll == "buildings":
            buildings.add(rid)
    if not (children or households or buildings):
        return touched

    def run(conn: Conn) -> None:
        each = conn.dialect.each()
        if children:
            args = (*_INCIDENT_CHILDREN, _json(sorted(children)))
            for (v,) in conn.execute(_CHILDREN.format(each=each), args):
                inc = _decode(v)
                if isinstance(inc, str):
                    touched.add(inc)
        if households:
            for (v,) in conn.execute(_BUILDINGS_OF.format(each=each), (_json(sorted(households)),)):
                b = _decode(v)
                if isinstance(b, str):
                    buildings.add(b)
        if buildings:
            # A household moved in or out of scope: every incident holding the building.
            for iid, scope in incident_scopes_in(conn).items():
                if buildings.intersection(scope):
                    touched.add(iid)

    await db.read_tx(run, live=True)
    return touched


async def active_incidents(db: AnyDatabase) -> list[str]:
    """Incidents not closed or deleted, newest first."""
    return [r[0] for r in await db.select(_ACTIVE, live=True)]


async def incident_inputs(db: AnyDatabase, incident: str) -> IncidentInputs | None:
    """Read what progress needs in one read transaction, or None if no such incident."""
    return await db.read_tx(lambda conn: incident_inputs_in(conn, incident), live=True)


def incident_inputs_in(conn: Conn, incident: str) -> IncidentInputs | None:
    """``incident_inputs`` inside the caller's transaction."""
    d = conn.dialect
    sized = d.ref_sized("r.value")
    inc_rows = conn.execute(_INCIDENT, (incident,)).fetchall()
    if not inc_rows:
        return None
    inc = fold_rows("incidents", inc_rows)[incident]
    scope = inc.get("buildings")
    scope = [b for b in scope if isinstance(b, str)] if isinstance(scope, list) else []
    out = IncidentInputs(seq=changes.top_in(conn), incident=inc)
    # The buildings as ``winners.value`` holds them: JSON text.
    quoted = _json([_json(b) for b in scope])
    households = _HOUSEHOLDS_IN.format(each=d.each(), sized=sized)
    out.households = fold_rows("households", conn.execute(households, (quoted,)))
    for bid, value in conn.execute(_LABELS.format(each=d.each()), (_json(scope),)):
        label = _decode(value)
        if isinstance(label, str):
            out.labels[bid] = label

    ref = _json(incident)

    def children(coll: str, fields: str) -> dict[str, dict[str, Any]]:
        sql = _FIELDS_OF.format(fields=fields, sized=sized)
        return fold_rows(coll, conn.execute(sql, (coll, coll, ref)))

    out.visits = children("visits", "'household', 'outcome', 'at', 'needs', 'by', '_deleted'")
    out.deliveries = children(
        "deliveries", "'household', 'item', 'qty', 'status', 'at', 'by', '_deleted'"
    )
    out.updates = children("updates", "'at', 'text', 'public', '_deleted'")
    # Deterministic ids "<incident>~<household>": a primary-key range.
    out.statuses = fold_rows(
        "household_status",
        conn.execute(_STATUSES, (incident + "~", incident + "~\U0010ffff")),
    )
    return out
