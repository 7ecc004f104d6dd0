"""The change log as the live streams read it: tailing it, and what progress needs.

These reads use the live connection of ``Database``, so the one tailer per process and
the public pages never queue behind sync requests on the reader connection.

Both backends (docs/postgresql.md, "How a module is ported"): where only the SQL differs
it stands side by side (``_SQL[name][db.dialect]``). On PostgreSQL an id list travels as
a ``text[]`` array instead of SQLite's ``json_each`` over JSON text, and quoted values
(``winners.value`` is JSON text) are quoted in Python, byte for byte as stored.
"""

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from server.db import AnyDatabase
from server.db.postgresql.adapt import fetch_in, numbered
from sync.sets import fold

__all__ = [
    "IncidentInputs",
    "LogRow",
    "active_incidents",
    "checks_of",
    "fold_rows",
    "incident_inputs",
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
WHERE w.coll = ? AND w.field IN ({{fields}}) AND w.id IN (
    SELECT r.id FROM winners r WHERE r.coll = ? AND r.field = ? AND r.value = {ref}
)
"""

_HOUSEHOLDS_IN = """
SELECT w.id, w.field, w.value, w.hlc FROM winners w
WHERE w.coll = 'households'
AND (w.field IN ('building', 'unit', 'vulnerable', '_deleted') OR w.field LIKE 'vulnerable.%')
AND w.id IN (
    SELECT r.id FROM winners r
    WHERE r.coll = 'households' AND r.field = 'building'
    AND r.value {among}
)
"""

# PostgreSQL: the incident and the buildings come quoted from Python; the references
# are ids (at most 100 ASCII characters), so ``octet_length(value) <= 512`` always holds
# and lets the planner use the partial index ``winners_ref``.
_INPUTS_SQL: dict[str, tuple[str, str]] = {
    "sqlite": (
        _FIELDS_OF.format(ref="json_quote(?)"),
        _HOUSEHOLDS_IN.format(among="IN (SELECT json_quote(j.value) FROM json_each(?) j)"),
    ),
    "postgresql": (
        numbered(_FIELDS_OF.format(ref="? AND octet_length(r.value) <= 512")),
        numbered(_HOUSEHOLDS_IN.format(among="= ANY(?::text[]) AND octet_length(r.value) <= 512")),
    ),
}

_SQL: dict[str, dict[str, str]] = {
    "checks": {
        "sqlite": "SELECT id, field, value, hlc FROM winners WHERE coll = 'checks' "
        "AND id > ? AND id < ?",
        "postgresql": "SELECT id, field, value, hlc FROM winners WHERE coll = 'checks' "
        "AND id > $1 AND id < $2",
    },
    "tail": {
        "sqlite": "SELECT seq, coll, id, field, value, hlc FROM history WHERE seq > ? "
        "ORDER BY seq LIMIT ?",
        "postgresql": "SELECT seq, coll, id, field, value, hlc FROM history WHERE seq > $1 "
        "ORDER BY seq LIMIT $2",
    },
    "tail_upto": {
        "sqlite": "SELECT seq, coll, id, field, value, hlc FROM history WHERE seq > ? "
        "AND seq <= ? ORDER BY seq LIMIT ?",
        "postgresql": "SELECT seq, coll, id, field, value, hlc FROM history WHERE seq > $1 "
        "AND seq <= $2 ORDER BY seq LIMIT $3",
    },
    "children": {
        "sqlite": "SELECT DISTINCT value FROM winners WHERE coll IN (?, ?, ?, ?) "
        "AND field = 'incident' AND id IN (SELECT value FROM json_each(?))",
        "postgresql": "SELECT DISTINCT value FROM winners WHERE coll IN ($1, $2, $3, $4) "
        "AND field = 'incident' AND id = ANY($5::text[])",
    },
    "buildings_of": {
        "sqlite": "SELECT DISTINCT value FROM winners WHERE coll = 'households' "
        "AND field = 'building' AND id IN (SELECT value FROM json_each(?))",
        "postgresql": "SELECT DISTINCT value FROM winners WHERE coll = 'households' "
        "AND field = 'building' AND id = ANY($1::text[])",
    },
    "incident": {
        "sqlite": "SELECT id, field, value, hlc FROM winners WHERE coll = 'incidents' AND id = ?",
        "postgresql": "SELECT id, field, value, hlc FROM winners WHERE coll = 'incidents' "
        "AND id = $1",
    },
    "labels": {
        "sqlite": "SELECT id, value FROM winners WHERE coll = 'buildings' AND field = 'label'"
        " AND id IN (SELECT value FROM json_each(?))",
        "postgresql": "SELECT id, value FROM winners WHERE coll = 'buildings'"
        " AND field = 'label' AND id = ANY($1::text[])",
    },
    "statuses": {
        "sqlite": "SELECT id, field, value, hlc FROM winners WHERE coll = 'household_status'"
        " AND id > ? AND id < ? AND (field IN ('needs_open', 'restored', '_deleted')"
        " OR field LIKE 'needs_open.%')",
        "postgresql": "SELECT id, field, value, hlc FROM winners WHERE coll = 'household_status'"
        " AND id > $1 AND id < $2 AND (field IN ('needs_open', 'restored', '_deleted')"
        " OR field LIKE 'needs_open.%')",
    },
}


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
    return _scopes(await db.read(_INCIDENT_BUILDINGS, (), live=live))


def incident_scopes_in(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """``incident_scopes`` inside the caller's transaction (in the database thread;
    PostgreSQL: ``server.db.postgresql.scopes.incident_scopes_in``)."""
    return _scopes(conn.execute(_INCIDENT_BUILDINGS).fetchall())


async def checks_of(db: AnyDatabase, incident: str) -> dict[str, dict[str, Any]]:
    """The 需核实 resolution records of one incident (ids ``<incident>~…``)."""
    return fold_rows(
        "checks",
        await _all(db, _SQL["checks"][db.dialect], (incident + "~", incident + "~\U0010ffff")),
    )


async def _all(db: AnyDatabase, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
    return await db.read(sql, args, live=True)


async def max_seq(db: AnyDatabase) -> int:
    rows = await _all(db, "SELECT coalesce(max(seq), 0) FROM history")
    return int(rows[0][0])


async def tail(db: AnyDatabase, after: int, limit: int, upto: int | None = None) -> list[LogRow]:
    """Accepted changes with ``after < seq (<= upto)``, in sequence order."""
    if upto is None:
        return await _all(db, _SQL["tail"][db.dialect], (after, limit))  # type: ignore[return-value]
    return await _all(db, _SQL["tail_upto"][db.dialect], (after, upto, limit))  # type: ignore[return-value]


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
    pg = db.dialect == "postgresql"
    if children:
        ids: Any = sorted(children) if pg else msgspec.json.encode(sorted(children)).decode()
        for (v,) in await _all(db, _SQL["children"][db.dialect], (*_INCIDENT_CHILDREN, ids)):
            inc = _decode(v)
            if isinstance(inc, str):
                touched.add(inc)
    if households:
        hids: Any = sorted(households) if pg else msgspec.json.encode(sorted(households)).decode()
        for (v,) in await _all(db, _SQL["buildings_of"][db.dialect], (hids,)):
            b = _decode(v)
            if isinstance(b, str):
                buildings.add(b)
    if buildings:
        # A household moved in or out of scope: every incident holding the building.
        for iid, scope in (await incident_scopes(db, live=True)).items():
            if buildings.intersection(scope):
                touched.add(iid)
    return touched


async def active_incidents(db: AnyDatabase) -> list[str]:
    """Incidents not closed or deleted, newest first."""
    rows = await _all(
        db,
        "SELECT i.id FROM winners i WHERE i.coll = 'incidents' AND i.field = 'status' "
        "AND i.value != '\"closed\"' AND NOT EXISTS (SELECT 1 FROM winners d WHERE "
        "d.coll = 'incidents' AND d.id = i.id AND d.field = '_deleted' AND d.value = 'true')"
        " ORDER BY i.id DESC",
    )
    return [r[0] for r in rows]


async def incident_inputs(db: AnyDatabase, incident: str) -> IncidentInputs | None:
    """Read what progress needs in one read transaction, or None if no such incident."""

    dialect = db.dialect
    pg = dialect == "postgresql"
    fields_of, households_in = _INPUTS_SQL[dialect]
    # The incident as ``winners.value`` holds it (SQLite quotes it with ``json_quote``).
    ref = msgspec.json.encode(incident).decode() if pg else incident

    async def run(conn: Any) -> IncidentInputs | None:
        async def q(sql: str, args: Sequence[Any]) -> list[Any]:
            return await fetch_in(conn, dialect, sql, args)

        inc_rows = await q(_SQL["incident"][dialect], (incident,))
        if not inc_rows:
            return None
        ((seq,),) = await q("SELECT coalesce(max(seq), 0) FROM history", ())
        inc = fold_rows("incidents", inc_rows)[incident]
        scope = inc.get("buildings")
        scope = [b for b in scope if isinstance(b, str)] if isinstance(scope, list) else []
        out = IncidentInputs(seq=int(seq), incident=inc)
        buildings: Any = (
            [msgspec.json.encode(b).decode() for b in scope]
            if pg
            else msgspec.json.encode(scope).decode()
        )
        out.households = fold_rows("households", await q(households_in, (buildings,)))
        ids: Any = scope if pg else msgspec.json.encode(scope).decode()
        for bid, value in await q(_SQL["labels"][dialect], (ids,)):
            label = _decode(value)
            if isinstance(label, str):
                out.labels[bid] = label

        out.visits = fold_rows(
            "visits",
            await q(
                fields_of.format(fields="'household', 'outcome', 'at', 'needs', 'by', '_deleted'"),
                ("visits", "visits", "incident", ref),
            ),
        )
        out.deliveries = fold_rows(
            "deliveries",
            await q(
                fields_of.format(
                    fields="'household', 'item', 'qty', 'status', 'at', 'by', '_deleted'"
                ),
                ("deliveries", "deliveries", "incident", ref),
            ),
        )
        out.updates = fold_rows(
            "updates",
            await q(
                fields_of.format(fields="'at', 'text', 'public', '_deleted'"),
                ("updates", "updates", "incident", ref),
            ),
        )
        # Deterministic ids "<incident>~<household>": a primary-key range.
        out.statuses = fold_rows(
            "household_status",
            await q(_SQL["statuses"][dialect], (incident + "~", incident + "~\U0010ffff")),
        )
        return out

    return await db.read_fn(run, live=True)
