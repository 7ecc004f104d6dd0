"""Export an incident's households, visits and deliveries for the office: XLSX and CSV.

CSV starts with a UTF-8 BOM so Excel opens Chinese text correctly. Cells that a
spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or CR)
are prefixed with ``'`` — a volunteer's note must never become a formula on the
coordinator's laptop. Every visit and delivery carries who recorded it (person and
device, from the history), for the audit.
"""

import csv
import io
from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, SkipValidation

from server.db import AnyDatabase
from server.db.export import tables
from server.errors import BadRequestError, NotFoundError
from server.guards import Scope

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


async def export_incident(
    db: AnyDatabase, incident: str, fmt: str, table: str = "households"
) -> bytes | None:
    """The export file's bytes, or None if there is no such incident."""
    import anyio

    data = await tables(db, incident)
    if data is None:
        return None
    if fmt == "xlsx":
        return await anyio.to_thread.run_sync(to_xlsx, data)
    return to_csv(data, table)


_MEDIA = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


@get("/api/v1/incidents/{incident:str}/export")
async def export(
    request: Request,
    incident: FromPath[str],
    database: NamedDependency[AnyDatabase],
    access: SkipValidation[Scope],
    format: FromQuery[str] = "xlsx",
    table: FromQuery[str] = "households",
) -> Response[bytes]:
    """Download an incident's households, visits and deliveries (coordinators)."""
    if format not in _MEDIA:
        raise BadRequestError("format must be xlsx or csv", code="invalid_request")
    if table not in TABLES:
        raise BadRequestError(f"table must be one of {', '.join(TABLES)}", code="invalid_request")
    await access.require_incident(incident)

    data = await export_incident(database, incident, format, table)
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
