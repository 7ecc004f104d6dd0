"""SQL for live progress: tailing the change log, progress inputs, share links, pushes.

It has its own aiosqlite connection, so the one tailer per process and the public pages
never queue behind sync requests on ``server.store``'s connections. WAL lets it read while
a sync writes; its few writes (a share link, a push subscription) take ``BEGIN
IMMEDIATE`` like every other writer, so several server processes can share the file.
"""

import asyncio
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiosqlite
import msgspec

from sync.sets import fold

__all__ = [
    "INCIDENT_SCOPES_SQL",
    "IncidentInputs",
    "LiveStore",
    "LogRow",
    "PushSub",
    "fold_rows",
    "incident_scopes",
]

#: (seq, coll, id, field, value_json, hlc)
LogRow = tuple[int, str, str, str, str, str]

_decode = msgspec.json.decode

#: Record collections that name their incident in the field ``incident``.
_INCIDENT_CHILDREN = ("visits", "deliveries", "updates", "repairs")

_FIELDS_OF = """
SELECT w.id, w.field, w.value, w.hlc FROM winners w
WHERE w.coll = ? AND w.field IN ({fields}) AND w.id IN (
    SELECT r.id FROM winners r WHERE r.coll = ? AND r.field = ? AND r.value = json_quote(?)
)
"""

_HOUSEHOLDS_IN = """
SELECT w.id, w.field, w.value, w.hlc FROM winners w
WHERE w.coll = 'households'
AND (w.field IN ('building', 'unit', 'vulnerable', '_deleted') OR w.field LIKE 'vulnerable.%')
AND w.id IN (
    SELECT r.id FROM winners r
    WHERE r.coll = 'households' AND r.field = 'building'
    AND r.value IN (SELECT json_quote(j.value) FROM json_each(?) j)
)
"""


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


@dataclass(frozen=True, slots=True)
class PushSub:
    endpoint: str
    p256dh: str
    auth: str


def fold_rows(coll: str, rows: Iterable[sqlite3.Row | tuple]) -> dict[str, dict[str, Any]]:
    """``(id, field, value, hlc)`` rows → records, set fields folded (sync/sets.py)."""
    stamped: dict[str, dict[str, tuple[str, Any]]] = {}
    for rid, fld, value, hlc in rows:
        stamped.setdefault(rid, {})[fld] = (hlc, _decode(value))
    return {rid: fold(coll, fields) for rid, fields in stamped.items()}


def incident_scopes(rows: Iterable[sqlite3.Row | tuple]) -> dict[str, list[str]]:
    """``(id, field, value, hlc)`` rows of incidents' ``buildings``/``buildings.*`` →
    each incident's folded list of building ids."""
    folded = fold_rows("incidents", rows)
    return {
        rid: [b for b in rec.get("buildings") or () if isinstance(b, str)]
        for rid, rec in folded.items()
    }


#: Every incident's ``buildings`` winners, list and elements, for ``incident_scopes``.
INCIDENT_SCOPES_SQL = (
    "SELECT id, field, value, hlc FROM winners WHERE coll = 'incidents' "
    "AND (field = 'buildings' OR field LIKE 'buildings.%')"
)


class LiveStore:
    """The live-progress connection of one server process."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        self._db = await aiosqlite.connect(self.path, isolation_level=None)
        for pragma in ("PRAGMA busy_timeout=10000", "PRAGMA synchronous=FULL"):
            await self._db.execute(pragma)

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        assert self._db is not None, "LiveStore.open() first"
        return self._db

    async def _all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        async with self._lock, self.db.execute(sql, args) as cur:
            return [tuple(r) for r in await cur.fetchall()]

    async def _write(self, sql: str, args: Sequence[Any] = ()) -> int:
        async with self._lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                cur = await self.db.execute(sql, args)
                n = cur.rowcount
                await self.db.execute("COMMIT")
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
        return n

    # -- the change log -------------------------------------------------------------------

    async def max_seq(self) -> int:
        rows = await self._all("SELECT coalesce(max(seq), 0) FROM history")
        return int(rows[0][0])

    async def tail(self, after: int, limit: int, upto: int | None = None) -> list[LogRow]:
        """Accepted changes with ``after < seq (<= upto)``, in sequence order."""
        sql = "SELECT seq, coll, id, field, value, hlc FROM history WHERE seq > ?"
        args: list[Any] = [after]
        if upto is not None:
            sql += " AND seq <= ?"
            args.append(upto)
        sql += " ORDER BY seq LIMIT ?"
        args.append(limit)
        return await self._all(sql, args)  # type: ignore[return-value]

    async def incidents_touched(self, rows: Sequence[LogRow]) -> set[str]:
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
        ids = msgspec.json.encode(sorted(children)).decode()
        if children:
            for (v,) in await self._all(
                "SELECT DISTINCT value FROM winners WHERE coll IN (?, ?, ?, ?) "
                "AND field = 'incident' AND id IN (SELECT value FROM json_each(?))",
                (*_INCIDENT_CHILDREN, ids),
            ):
                inc = _decode(v)
                if isinstance(inc, str):
                    touched.add(inc)
        if households:
            hids = msgspec.json.encode(sorted(households)).decode()
            for (v,) in await self._all(
                "SELECT DISTINCT value FROM winners WHERE coll = 'households' "
                "AND field = 'building' AND id IN (SELECT value FROM json_each(?))",
                (hids,),
            ):
                b = _decode(v)
                if isinstance(b, str):
                    buildings.add(b)
        if buildings:
            # A household moved in or out of scope: every incident holding the building.
            scopes = incident_scopes(await self._all(INCIDENT_SCOPES_SQL))
            for iid, scope in scopes.items():
                if buildings.intersection(scope):
                    touched.add(iid)
        return touched

    async def active_incidents(self) -> list[str]:
        """Incidents not closed or deleted, newest first."""
        rows = await self._all(
            "SELECT i.id FROM winners i WHERE i.coll = 'incidents' AND i.field = 'status' "
            "AND i.value != '\"closed\"' AND NOT EXISTS (SELECT 1 FROM winners d WHERE "
            "d.coll = 'incidents' AND d.id = i.id AND d.field = '_deleted' AND d.value = 'true')"
            " ORDER BY i.id DESC"
        )
        return [r[0] for r in rows]

    async def incident_inputs(self, incident: str) -> IncidentInputs | None:
        """Read what progress needs in one read transaction, or None if no such incident."""
        async with self._lock:
            db = self.db
            await db.execute("BEGIN")
            try:

                async def q(sql: str, args: Sequence[Any]) -> list[Any]:
                    async with db.execute(sql, args) as cur:
                        return list(await cur.fetchall())

                inc_rows = await q(
                    "SELECT id, field, value, hlc FROM winners WHERE coll = 'incidents' AND id = ?",
                    (incident,),
                )
                if not inc_rows:
                    return None
                ((seq,),) = await q("SELECT coalesce(max(seq), 0) FROM history", ())
                inc = fold_rows("incidents", inc_rows)[incident]
                scope = inc.get("buildings")
                scope = [b for b in scope if isinstance(b, str)] if isinstance(scope, list) else []
                out = IncidentInputs(seq=int(seq), incident=inc)
                out.households = fold_rows(
                    "households", await q(_HOUSEHOLDS_IN, (msgspec.json.encode(scope).decode(),))
                )

                out.visits = fold_rows(
                    "visits",
                    await q(
                        _FIELDS_OF.format(
                            fields="'household', 'outcome', 'at', 'needs', 'by', '_deleted'"
                        ),
                        ("visits", "visits", "incident", incident),
                    ),
                )
                out.deliveries = fold_rows(
                    "deliveries",
                    await q(
                        _FIELDS_OF.format(
                            fields="'household', 'item', 'qty', 'status', 'at', 'by', '_deleted'"
                        ),
                        ("deliveries", "deliveries", "incident", incident),
                    ),
                )
                out.updates = fold_rows(
                    "updates",
                    await q(
                        _FIELDS_OF.format(fields="'at', 'text', 'public', '_deleted'"),
                        ("updates", "updates", "incident", incident),
                    ),
                )
                # Deterministic ids "<incident>~<household>": a primary-key range.
                out.statuses = fold_rows(
                    "household_status",
                    await q(
                        "SELECT id, field, value, hlc FROM winners"
                        " WHERE coll = 'household_status' AND id > ? AND id < ?"
                        " AND (field IN ('needs_open', 'restored', '_deleted')"
                        " OR field LIKE 'needs_open.%')",
                        (incident + "~", incident + "~\U0010ffff"),
                    ),
                )
            finally:
                await db.execute("COMMIT")
        return out

    async def checks_of(self, incident: str) -> dict[str, dict[str, Any]]:
        """The 需核实 resolution records of one incident (ids ``<incident>~…``)."""
        return fold_rows(
            "checks",
            await self._all(
                "SELECT id, field, value, hlc FROM winners WHERE coll = 'checks'"
                " AND id > ? AND id < ?",
                (incident + "~", incident + "~\U0010ffff"),
            ),
        )

    # -- share links ------------------------------------------------------------------------

    async def share_of(self, incident: str) -> str | None:
        rows = await self._all(
            "SELECT token FROM shares WHERE incident = ? AND revoked_at IS NULL "
            "ORDER BY created_at LIMIT 1",
            (incident,),
        )
        return rows[0][0] if rows else None

    async def add_share(self, token: str, incident: str, person: str | None, now: str) -> None:
        await self._write(
            "INSERT INTO shares (token, incident, created_at, created_by) VALUES (?, ?, ?, ?)",
            (token, incident, now, person),
        )

    async def incident_of_share(self, token: str) -> str | None:
        rows = await self._all(
            "SELECT incident FROM shares WHERE token = ? AND revoked_at IS NULL", (token,)
        )
        return rows[0][0] if rows else None

    async def incident_exists(self, incident: str) -> bool:
        rows = await self._all(
            "SELECT 1 FROM winners WHERE coll = 'incidents' AND id = ? LIMIT 1", (incident,)
        )
        return bool(rows)

    # -- coordinator review -------------------------------------------------------------------

    async def quarantine(self, limit: int, include_resolved: bool) -> list[tuple]:
        sql = (
            "SELECT q.qid, q.hlc, q.node, q.person, p.name, q.coll, q.id, q.field, q.raw, "
            "q.error, q.message, q.received_at, q.resolved_at FROM quarantine q "
            "LEFT JOIN people p ON p.id = q.person"
        )
        if not include_resolved:
            sql += " WHERE q.resolved_at IS NULL"
        sql += " ORDER BY q.qid DESC LIMIT ?"
        return await self._all(sql, (limit,))

    async def resolve_quarantined(self, qid: int, now: str) -> bool:
        return (
            await self._write(
                "UPDATE quarantine SET resolved_at = ? WHERE qid = ? AND resolved_at IS NULL",
                (now, qid),
            )
            == 1
        )

    async def record_history(self, coll: str, rid: str, limit: int) -> list[tuple]:
        """Every accepted change of one record, newest stamp first, with the winner marked."""
        return await self._all(
            "SELECT h.seq, h.field, h.value, h.hlc, h.node, h.person, p.name, h.received_at,"
            " w.hlc = h.hlc FROM history h LEFT JOIN people p ON p.id = h.person"
            " LEFT JOIN winners w ON w.coll = h.coll AND w.id = h.id AND w.field = h.field"
            " WHERE h.coll = ? AND h.id = ? ORDER BY h.field, h.hlc DESC LIMIT ?",
            (coll, rid, limit),
        )

    # -- Web Push -------------------------------------------------------------------------

    async def meta_get(self, key: str) -> str | None:
        rows = await self._all("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    async def meta_claim(self, key: str, value: str) -> str:
        """Set ``key`` unless another process did first; returns the value that won."""
        await self._write("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value))
        won = await self.meta_get(key)
        assert won is not None
        return won

    async def add_push(self, incident: str, sub: PushSub, now: str) -> None:
        await self._write(
            "INSERT INTO push_subs (endpoint, incident, p256dh, auth, created_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (endpoint) DO UPDATE SET "
            "incident = excluded.incident, p256dh = excluded.p256dh, auth = excluded.auth, "
            "failures = 0",
            (sub.endpoint, incident, sub.p256dh, sub.auth, now),
        )

    async def remove_push(self, endpoint: str, incident: str | None = None) -> bool:
        sql, args = "DELETE FROM push_subs WHERE endpoint = ?", [endpoint]
        if incident is not None:
            sql += " AND incident = ?"
            args.append(incident)
        return await self._write(sql, args) == 1

    async def push_subs(self, incident: str) -> list[PushSub]:
        rows = await self._all(
            "SELECT endpoint, p256dh, auth FROM push_subs WHERE incident = ?", (incident,)
        )
        return [PushSub(*r) for r in rows]

    async def push_failed(self, endpoint: str, gone: bool) -> None:
        if gone:
            await self.remove_push(endpoint)
        else:
            await self._write(
                "UPDATE push_subs SET failures = failures + 1 WHERE endpoint = ?", (endpoint,)
            )

    async def claim_push(self, key: str, incident: str, now: str) -> bool:
        """True for exactly one caller per key, across processes."""
        return (
            await self._write(
                "INSERT OR IGNORE INTO push_sent (key, incident, sent_at) VALUES (?, ?, ?)",
                (key, incident, now),
            )
            == 1
        )
