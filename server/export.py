"""Export an incident's households, visits and deliveries for the office: XLSX and CSV.

CSV starts with a UTF-8 BOM so Excel opens Chinese text correctly. Cells that a
spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or CR)
are prefixed with ``'`` — a volunteer's note must never become a formula on the
coordinator's laptop. Every visit and delivery carries who recorded it (person and
device, from the history), for the audit.
"""

import csv
import io
import json
import sqlite3
from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, SkipValidation

from server.errors import BadRequestError, NotFoundError
from server.store import Device, Store

__all__ = ["ROUTES", "TABLES", "export_incident", "tables"]

#: sheet → (column keys, Chinese headers)
TABLES: dict[str, list[tuple[str, str]]] = {
    "households": [
        ("building", "楼栋"),
        ("unit", "单元"),
        ("room", "房间"),
        ("occupants", "人数"),
        ("vulnerable", "重点人群"),
        ("contact", "联系人"),
        ("notes", "备注"),
        ("restored", "已恢复"),
        ("needs_open", "待解决需求"),
        ("satisfaction", "满意度"),
        ("id", "户编号"),
    ],
    "visits": [
        ("at", "时间"),
        ("building", "楼栋"),
        ("unit", "单元"),
        ("room", "房间"),
        ("outcome", "结果"),
        ("needs", "需求"),
        ("note", "备注"),
        ("recorded_by", "记录人"),
        ("device", "设备"),
        ("id", "走访编号"),
    ],
    "deliveries": [
        ("at", "时间"),
        ("building", "楼栋"),
        ("unit", "单元"),
        ("room", "房间"),
        ("item", "物资"),
        ("qty", "数量"),
        ("status", "状态"),
        ("recorded_by", "记录人"),
        ("device", "设备"),
        ("id", "编号"),
    ],
}

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _records(conn: sqlite3.Connection, coll: str, ids: list[str] | None = None) -> dict:
    sql = "SELECT id, field, value FROM winners WHERE coll = ?"
    args: list[Any] = [coll]
    if ids is not None:
        sql += " AND id IN (SELECT value FROM json_each(?))"
        args.append(json.dumps(ids))
    out: dict[str, dict[str, Any]] = {}
    for rid, fld, value in conn.execute(sql, args):
        out.setdefault(rid, {})[fld] = json.loads(value)
    return {k: v for k, v in out.items() if v.get("_deleted") is not True}


def _by_household(conn: sqlite3.Connection, coll: str, households: list[str]) -> dict:
    rows = conn.execute(
        "SELECT id FROM winners WHERE coll = ? AND field = 'household' "
        "AND value IN (SELECT json_quote(value) FROM json_each(?))",
        (coll, json.dumps(households)),
    ).fetchall()
    return _records(conn, coll, [r[0] for r in rows])


def _authors(conn: sqlite3.Connection, coll: str, ids: list[str]) -> dict[str, tuple]:
    """Who recorded each record: the person and device of its earliest accepted change."""
    rows = conn.execute(
        "SELECT h.id, h.node, p.name FROM history h LEFT JOIN people p ON p.id = h.person "
        "WHERE h.coll = ? AND h.id IN (SELECT value FROM json_each(?)) ORDER BY h.hlc DESC",
        (coll, json.dumps(ids)),
    ).fetchall()
    return {rid: (name or "", node) for rid, node, name in rows}


def tables(conn: sqlite3.Connection, incident: str) -> dict[str, list[dict[str, Any]]] | None:
    """The incident's rows per sheet, or None if there is no such incident."""
    inc = _records(conn, "incidents", [incident]).get(incident)
    if inc is None:
        return None
    buildings = [b for b in inc.get("buildings") or [] if isinstance(b, str)]
    labels = {k: v.get("label") or k for k, v in _records(conn, "buildings", buildings).items()}
    hh_ids = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM winners WHERE coll = 'households' AND field = 'building' "
            "AND value IN (SELECT json_quote(value) FROM json_each(?))",
            (json.dumps(buildings),),
        )
    ]
    households = _records(conn, "households", hh_ids)
    status = _records(conn, "household_status", [f"{incident}~{h}" for h in households])
    where = {
        h: (labels.get(v.get("building"), ""), v.get("unit"), v.get("room"))
        for h, v in households.items()
    }
    out: dict[str, list[dict[str, Any]]] = {"households": [], "visits": [], "deliveries": []}
    for hid, h in sorted(households.items(), key=lambda kv: tuple(map(str, where[kv[0]]))):
        st = status.get(f"{incident}~{hid}", {})
        out["households"].append(
            {
                **h,
                "building": where[hid][0],
                "restored": st.get("restored"),
                "needs_open": st.get("needs_open"),
                "satisfaction": st.get("satisfaction"),
                "id": hid,
            }
        )
    for coll in ("visits", "deliveries"):
        recs = {
            k: v
            for k, v in _by_household(conn, coll, list(households)).items()
            if v.get("incident") in (None, incident)
        }
        authors = _authors(conn, coll, list(recs))
        for rid, r in sorted(recs.items(), key=lambda kv: str(kv[1].get("at") or "")):
            b, unit, room = where.get(r.get("household"), ("", "", ""))
            name, node = authors.get(rid, ("", ""))
            out[coll].append(
                {
                    **r,
                    "building": b,
                    "unit": unit,
                    "room": room,
                    "recorded_by": name,
                    "device": node,
                    "id": rid,
                }
            )
    return out


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        value = "、".join(map(str, value))
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def to_xlsx(data: dict[str, list[dict[str, Any]]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for sheet, cols in TABLES.items():
        ws = wb.create_sheet(sheet)
        ws.append([title for _, title in cols])
        for row in data[sheet]:
            ws.append([_cell(row.get(k)) for k, _ in cols])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def to_csv(data: dict[str, list[dict[str, Any]]], table: str = "households") -> bytes:
    cols = TABLES[table]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([title for _, title in cols])
    for row in data[table]:
        w.writerow([_cell(row.get(k)) for k, _ in cols])
    return "\ufeff".encode() + buf.getvalue().encode("utf-8")


def export_incident(
    conn: sqlite3.Connection, incident: str, fmt: str, table: str = "households"
) -> bytes | None:
    """The export file's bytes, or None if there is no such incident."""
    data = tables(conn, incident)
    if data is None:
        return None
    return to_xlsx(data) if fmt == "xlsx" else to_csv(data, table)


_MEDIA = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


@get("/api/v1/incidents/{incident:str}/export")
async def export(
    request: Request,
    incident: FromPath[str],
    store: NamedDependency[Store],
    device: SkipValidation[Device],
    format: FromQuery[str] = "xlsx",
    table: FromQuery[str] = "households",
) -> Response[bytes]:
    """Download an incident's households, visits and deliveries (coordinators)."""
    import anyio

    from server.auth import require_coordinator
    from server.store_access import load_scope

    require_coordinator(device)
    if format not in _MEDIA:
        raise BadRequestError("format must be xlsx or csv", code="invalid_request")
    if table not in TABLES:
        raise BadRequestError(f"table must be one of {', '.join(TABLES)}", code="invalid_request")
    scope = await load_scope(store, device)
    if scope.incidents is not None and incident not in scope.incidents:
        raise NotFoundError("no such incident in your community")

    def run() -> bytes | None:
        conn = sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)
        try:
            return export_incident(conn, incident, format, table)
        finally:
            conn.close()

    data = await anyio.to_thread.run_sync(run)
    if data is None:
        raise NotFoundError(f"no incident {incident[:60]!r}")
    name = f"incident-{incident[:36]}{'' if format == 'xlsx' else '-' + table}.{format}"
    return Response(
        data,
        media_type=_MEDIA[format],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


ROUTES = [export]
