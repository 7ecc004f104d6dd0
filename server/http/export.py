"""Export an incident's households, visits and deliveries for the office: XLSX and CSV.

The file is read by a Chinese office, not by a program: sheet names and headers are
Chinese, every code is a word (``reached`` → 已联系, from ``server.words``), times are local
to the server's zone (``--tz``, default Asia/Shanghai: a visit at 00:49 on 12-08 is on
12-08), households are addresses ("丽源路55号院 3号楼 2单元 401"), and each row says who
recorded it by name. Ids appear only in the last column, for machines. The file is named
by the incident and the day (``丽源路55号院停暖-2026-12-07.xlsx``).

CSV starts with a UTF-8 BOM so Excel opens Chinese text correctly. Cells that a
spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or CR)
are prefixed with ``'`` — a volunteer's note must never become a formula on the
coordinator's laptop.
"""

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, SkipValidation

from server.db import AnyDatabase
from server.db.export import incidents, tables
from server.errors import BadRequestError, NotFoundError
from server.guards.caller import Caller
from server.words import DEFAULT_TZ, local_time, word, words, zone

__all__ = [
    "ROUTES",
    "SHEETS",
    "ExportFile",
    "address",
    "export_incident",
    "file_name",
    "find_incident",
    "listing",
    "tables",
]

#: The id column, always last: for machines joining files, not for people.
ID_HEADER = "编号（系统用）"


def _time(row: dict, tz: ZoneInfo) -> datetime | None:
    return local_time(row.get("at"), tz)


def _coded(group: str, key: str) -> Callable[[dict, ZoneInfo], str]:
    return lambda row, _tz: words(group, row.get(key))


def _plain(key: str) -> Callable[[dict, ZoneInfo], Any]:
    return lambda row, _tz: row.get(key)


def address(compound: str, building: str, unit: Any, room: Any) -> str:
    """The address "丽源路55号院 3号楼 2单元 401": compound, building label, unit, room."""
    compound, building = str(compound or ""), str(building or "")
    if compound and building.startswith(compound) and building != compound:
        building = building[len(compound) :]
    unit, room = str(unit or ""), str(room or "")
    if unit.isdigit():
        unit += "单元"
    return " ".join(p for p in (compound, building, unit, room) if p)


def _address(row: dict, _tz: ZoneInfo) -> str:
    return address(row.get("compound"), row.get("building"), row.get("unit"), row.get("room"))


def _who(row: dict, _tz: ZoneInfo) -> str:
    return row.get("recorded_by") or "系统导入"


#: table → (sheet name, [(header, cell of a row, width in Excel characters)]).
SHEETS: dict[str, tuple[str, list[tuple[str, Callable[[dict, ZoneInfo], Any], int]]]] = {
    "households": (
        "住户",
        [
            ("地址", _address, 28),
            ("楼栋", _plain("building"), 16),
            ("单元", _plain("unit"), 6),
            ("房号", _plain("room"), 7),
            ("人数", _plain("occupants"), 6),
            ("重点人群", _coded("vuln", "vulnerable"), 16),
            ("联系人", _plain("contact"), 20),
            ("备注", _plain("notes"), 30),
            ("已恢复", _plain("restored"), 8),
            ("待解决需求", _coded("need", "needs_open"), 14),
            ("满意度", _plain("satisfaction"), 8),
            (ID_HEADER, _plain("id"), 38),
        ],
    ),
    "visits": (
        "走访记录",
        [
            ("走访时间", _time, 17),
            ("地址", _address, 28),
            ("结果", _coded("outcome", "outcome"), 8),
            ("需求", _coded("need", "needs"), 14),
            ("备注", _plain("note"), 30),
            ("记录人", _who, 10),
            (ID_HEADER, _plain("id"), 38),
        ],
    ),
    "deliveries": (
        "物资发放",
        [
            ("时间", _time, 17),
            ("地址", _address, 28),
            ("物资", _coded("item", "item"), 8),
            ("数量", _plain("qty"), 6),
            ("状态", _coded("dstatus", "status"), 8),
            ("记录人", _who, 10),
            (ID_HEADER, _plain("id"), 38),
        ],
    ),
}

_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_TIME_FORMAT = "yyyy-mm-dd hh:mm"


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


def _rows(data: dict[str, list[dict[str, Any]]], table: str, tz: ZoneInfo) -> list[list[Any]]:
    cols = SHEETS[table][1]
    return [[_cell(cell(row, tz)) for _, cell, _ in cols] for row in data[table]]


def to_xlsx(data: dict[str, list[dict[str, Any]]], tz: ZoneInfo) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    # Write-only: rows stream to the file, so a 20,000-household community stays small.
    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    for table, (sheet, cols) in SHEETS.items():
        ws = wb.create_sheet(sheet)
        ws.freeze_panes = "A2"  # the header stays in view while scrolling 741 rows
        for i, (_, _, width) in enumerate(cols, start=1):
            ws.column_dimensions[get_column_letter(i)].width = width
        header = [WriteOnlyCell(ws, value=title) for title, _, _ in cols]
        for c in header:
            c.font = bold
        ws.append(header)
        times = [i for i, (_, cell, _) in enumerate(cols) if cell is _time]
        for row in _rows(data, table, tz):
            for i in times:
                if isinstance(row[i], datetime):
                    row[i] = WriteOnlyCell(ws, value=row[i])
                    row[i].number_format = _TIME_FORMAT
            ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def to_csv(data: dict[str, list[dict[str, Any]]], table: str, tz: ZoneInfo) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([title for title, _, _ in SHEETS[table][1]])
    for row in _rows(data, table, tz):
        w.writerow([v.strftime("%Y-%m-%d %H:%M") if isinstance(v, datetime) else v for v in row])
    return "\ufeff".encode() + buf.getvalue().encode("utf-8")


_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')


def file_name(title: str, fmt: str, table: str, day: str) -> str:
    """``丽源路55号院停暖-2026-12-07.xlsx``; a CSV names its table (``…-走访记录-….csv``).

    Characters Windows refuses in a file name become ``_``.
    """
    stem = _UNSAFE.sub("_", title).strip(" ._") or "事件"
    parts = [stem[:60]] + ([SHEETS[table][0]] if fmt == "csv" else []) + [day]
    return f"{'-'.join(parts)}.{fmt}"


@dataclass(frozen=True)
class ExportFile:
    data: bytes
    name: str


async def export_incident(
    db: AnyDatabase,
    incident: str,
    fmt: str,
    table: str = "households",
    *,
    tz: str = DEFAULT_TZ,
    now: datetime | None = None,
    within: frozenset[str] | None = None,
) -> ExportFile | None:
    """The export file of an incident, or None if there is no such incident.

    Args:
        db: The database.
        incident: The incident's id.
        fmt: ``xlsx`` (all three sheets) or ``csv`` (one table).
        table: For CSV: ``households``, ``visits`` or ``deliveries``.
        tz: The IANA zone times are written in (the server's).
        now: The moment of the export; its local day names the file.
        within: Only these households (a community's coordinator's); None: all.
    """
    import anyio

    data = await tables(db, incident, within)
    if data is None:
        return None
    zone_ = zone(tz)
    (inc,) = await incidents(db, [incident])
    title = inc["title"] or f"{inc['community_name']}{word('kind', inc['kind'])}"
    day = (now or datetime.now(UTC)).astimezone(zone_).strftime("%Y-%m-%d")
    if fmt == "xlsx":
        body = await anyio.to_thread.run_sync(to_xlsx, data, zone_)
    else:
        body = to_csv(data, table, zone_)
    return ExportFile(body, file_name(title, fmt, table, day))


def find_incident(text: str, known: list[dict[str, Any]]) -> str:
    """The id of the incident ``text`` names: its id, its exact name, or a unique prefix.

    Raises:
        LookupError: no incident is named so, or several are (the message lists them).
    """
    if any(i["id"] == text for i in known):
        return text
    for match in (lambda t: t == text, lambda t: t.startswith(text)):
        found = [i for i in known if text and match(i["title"])]
        if len(found) == 1:
            return str(found[0]["id"])
        if len(found) > 1:
            names = "; ".join(f"{i['title']} ({i['id']})" for i in found[:10])
            raise LookupError(
                f"“{text}”对应 {len(found)} 个事件，请写全名称或用编号 "
                f"(“{text}” matches {len(found)} incidents; give the full name or the id): "
                f"{names}"
            )
    raise LookupError(
        f"没有名为“{text}”的事件；用 doorstep incidents 查看 "
        f"(no incident named “{text}”; list them with doorstep incidents)"
    )


def listing(inc: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """One line of ``doorstep incidents``: name, status, community, opened (local), id."""
    opened = local_time(inc["started_at"], tz)
    return {
        "name": inc["title"],
        "status": word("istatus", inc["status"]),
        "community": inc["community_name"],
        "opened": opened.strftime("%Y-%m-%d %H:%M") if opened else "",
        "id": inc["id"],
    }


def content_disposition(name: str) -> str:
    """RFC 6266: an ASCII ``filename`` for old clients and the real one in ``filename*``."""
    tail = re.search(r"\d{4}-\d{2}-\d{2}\.[a-z]+$", name)
    fallback = f"incident-{tail.group(0)}" if tail else "incident." + name.rsplit(".", 1)[-1]
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


_MEDIA = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


@get("/api/v1/incidents/{incident:str}/export")
async def export(
    request: Request,
    incident: FromPath[str],
    database: NamedDependency[AnyDatabase],
    access: SkipValidation[Caller],
    format: FromQuery[str] = "xlsx",
    table: FromQuery[str] = "households",
) -> Response[bytes]:
    """Download an incident's households, visits and deliveries (coordinators)."""
    if format not in _MEDIA:
        raise BadRequestError("format must be xlsx or csv", code="invalid_request")
    if table not in SHEETS:
        raise BadRequestError(f"table must be one of {', '.join(SHEETS)}", code="invalid_request")
    await access.require_incident(incident)
    # Only the caller's doors: an incident may span communities (the street's coordinator's).
    within = (await access.read_scope()).households
    out = await export_incident(
        database, incident, format, table, tz=request.app.state.settings.tz, within=within
    )
    if out is None:
        raise NotFoundError(f"no incident {incident[:60]!r}")
    return Response(
        out.data,
        media_type=_MEDIA[format],
        headers={
            "Content-Disposition": content_disposition(out.name),
            "Cache-Control": "no-store",
        },
    )


ROUTES = [export]
