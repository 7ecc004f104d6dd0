"""The coordinator's console (#12): the volunteer roster and the daily brief (日报).

The brief is one local calendar day of an incident — counts as of now, vulnerable
reached, heaters out, the repairs timeline and the public updates of that day — as JSON
(the dashboard's printable page) and as XLSX (what the street office sends up its
reporting chain). The day is the coordinator's: ``tz`` is their UTC offset in minutes.
"""

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, SkipValidation

from server.db import AnyDatabase, console, log
from server.errors import BadRequestError, NotFoundError
from server.guards import Scope
from server.progress import derive

__all__ = ["ROUTES", "brief", "incidents", "make_brief", "roster"]

_ISTATUS = {
    "reported": "已上报",
    "responding": "处置中",
    "repairing": "抢修中",
    "restored": "已恢复",
    "closed": "已结束",
}
_RSTATUS = {"open": "待处理", "working": "抢修中", "done": "已完成"}
_KIND = {
    "heating_outage": "停暖",
    "water_outage": "停水",
    "pipe_burst": "爆管",
    "leak": "漏水",
    "power_outage": "停电",
    "other": "其他",
}


class RosterEntry(msgspec.Struct):
    person: str
    name: str
    devices: int
    last_seen: str | None
    pending: int | None
    pending_at: str | None


@get("/api/v1/roster")
async def roster(
    database: NamedDependency[AnyDatabase], access: SkipValidation[Scope]
) -> list[RosterEntry]:
    """Volunteers the coordinator works with (those ``/api/v1/people`` lists): last sync
    and entries waiting to upload."""
    rows = await console.roster(database, await access.read_scope())
    return [RosterEntry(*r) for r in rows]


class IncidentName(msgspec.Struct, omit_defaults=True):
    id: str
    title: str | None = None
    place: str | None = None
    kind: str | None = None
    status: str | None = None
    started_at: str | None = None


@get("/api/v1/incidents")
async def incidents(
    database: NamedDependency[AnyDatabase], access: SkipValidation[Scope]
) -> list[IncidentName]:
    """The incidents the coordinator may see, newest first, by name (the export form)."""
    scope = await access.read_scope()
    rows = await console.incident_names(database, scope.incidents)
    names = ("title", "place", "kind", "status", "started_at")
    return [
        IncidentName(r["id"], **{k: r[k] for k in names if isinstance(r.get(k), str)}) for r in rows
    ]


def _parse(t: Any) -> datetime | None:
    if not isinstance(t, str):
        return None
    try:
        return datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        return None


def make_brief(
    incident: str, inc: dict, progress: dict, rows: dict, day: str, tz: int, now: datetime
) -> dict:
    """The brief of one day as plain data (pure: the tests and the XLSX share it)."""
    offset = timedelta(minutes=tz)
    start = datetime.fromisoformat(day).replace(tzinfo=UTC) - offset
    end = start + timedelta(days=1)

    def within(t: Any) -> bool:
        at = _parse(t)
        return at is not None and start <= at < end

    def local(t: Any) -> str:
        at = _parse(t)
        return (at + offset).strftime("%Y-%m-%d %H:%M") if at else ""

    visits = [v for v in rows["visits"].values() if within(v.get("at"))]
    heaters = {"delivered": 0, "returned": 0, "lost": 0}
    for d in rows["deliveries"].values():
        if d.get("item") == "heater" and d.get("status") in heaters and within(d.get("at")):
            heaters[d["status"]] += d.get("qty") if isinstance(d.get("qty"), int) else 1
    labels = rows["labels"]
    timeline: list[dict[str, Any]] = []
    # Each entry has its Chinese ``text`` (the XLSX) and a ``kind`` with its parts, from
    # which the dashboard words it in the coordinator's language.
    for fld, value, hlc in rows["history"]:
        at = hlc[:24]
        if not within(at):
            continue
        if fld == "status":
            entry = {"kind": "status", "value": value}
            text = f"状态改为：{_ISTATUS.get(value, value or '（清空）')}"
        elif fld == "eta":
            entry = {"kind": "eta", "value": value}
            text = f"预计恢复：{local(value) or '（清空）'}"
        elif fld == "restored_buildings":
            names = [labels.get(b, b) for b in value or []]
            entry = {"kind": "buildings", "names": names}
            text = f"已恢复楼栋（{len(names)} 栋）：{'、'.join(names) or '无'}"
        else:  # restored_buildings.<id>: one building in (true) or out
            name = labels.get(fld.partition(".")[2], fld.partition(".")[2])
            entry = {"kind": "building", "name": name, "restored": value is True}
            text = f"楼栋已恢复：{name}" if value is True else f"楼栋撤销恢复：{name}"
        timeline.append({"at": at, "text": text, **entry})
    for r in rows["repairs"].values():
        what = " ".join(x for x in (r.get("place"), r.get("description")) if isinstance(x, str))
        if within(r.get("at")):
            timeline.append(
                {
                    "at": r["at"],
                    "text": f"抢修：{what}（{_RSTATUS.get(r.get('status'), '')}）",
                    "kind": "repair",
                    "what": what,
                    "status": r.get("status"),
                }
            )
        if within(r.get("done_at")):
            timeline.append(
                {
                    "at": r["done_at"],
                    "text": f"抢修完成：{what}",
                    "kind": "repair_done",
                    "what": what,
                }
            )
    timeline.sort(key=lambda x: x["at"])
    updates = sorted(
        (
            {"at": u["at"], "text": u["text"]}
            for u in rows["updates"].values()
            if u.get("public") is True and isinstance(u.get("text"), str) and within(u.get("at"))
        ),
        key=lambda x: x["at"],
    )
    return {
        "incident": {
            k: inc.get(k) for k in ("title", "kind", "status", "started_at", "eta", "restored_at")
        }
        | {"id": incident},
        "day": day,
        "tz": tz,
        "made_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "counts": {
            k: progress.get(k, 0)
            for k in (
                "affected",
                "visited",
                "reached",
                "vulnerable",
                "vulnerable_reached",
                "needs_open",
                "heaters_out",
                "restored",
                "buildings",
                "buildings_restored",
            )
        },
        "day_counts": {
            "visits": len(visits),
            "reached": sum(v.get("outcome") == "reached" for v in visits),
        },
        "heaters": heaters,
        "timeline": timeline,
        "updates": updates,
        "local": {"made_at": local(now.strftime("%Y-%m-%dT%H:%M:%SZ"))},
    }


_COUNT_WORDS = [
    ("affected", "受影响户数"),
    ("visited", "已走访"),
    ("reached", "已联系"),
    ("vulnerable", "重点人群"),
    ("vulnerable_reached", "重点人群已联系"),
    ("needs_open", "待解决需求（户）"),
    ("heaters_out", "电暖气在外"),
    ("restored", "已恢复户数"),
    ("buildings", "楼栋"),
    ("buildings_restored", "已恢复楼栋"),
]


def _safe(v: Any) -> Any:
    return "'" + v if isinstance(v, str) and v.startswith(("=", "+", "-", "@", "\t", "\r")) else v


def brief_xlsx(b: dict) -> bytes:
    from openpyxl import Workbook

    offset = timedelta(minutes=b["tz"])

    def local(t: str) -> str:
        at = _parse(t)
        return (at + offset).strftime("%Y-%m-%d %H:%M") if at else ""

    wb = Workbook()
    ws = wb.active
    ws.title = "日报"
    inc = b["incident"]
    ws.append(["事件", _safe(inc.get("title") or "")])
    ws.append(["类型", _KIND.get(inc.get("kind"), "")])
    ws.append(["状态", _ISTATUS.get(inc.get("status"), "")])
    ws.append(["日期", b["day"]])
    ws.append(["生成时间", b["local"]["made_at"]])
    ws.append([])
    for key, word in _COUNT_WORDS:
        ws.append([word, b["counts"][key]])
    ws.append(["当天走访", b["day_counts"]["visits"]])
    ws.append(["当天联系", b["day_counts"]["reached"]])
    ws.append(["当天送出电暖气", b["heaters"]["delivered"]])
    ws.append(["当天回收电暖气", b["heaters"]["returned"]])
    ws.append(["当天丢失电暖气", b["heaters"]["lost"]])
    ws.column_dimensions["A"].width = 20
    ws.column_dimensions["B"].width = 40
    for title, key in (("抢修经过", "timeline"), ("公开通报", "updates")):
        sheet = wb.create_sheet(title)
        sheet.append(["时间", "内容"])
        for row in b[key]:
            sheet.append([local(row["at"]), _safe(row["text"])])
        sheet.column_dimensions["A"].width = 18
        sheet.column_dimensions["B"].width = 80
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@get("/api/v1/incidents/{incident:str}/brief")
async def brief(
    incident: FromPath[str],
    database: NamedDependency[AnyDatabase],
    access: SkipValidation[Scope],
    day: FromQuery[str] = "",
    tz: FromQuery[int] = 0,
    format: FromQuery[str] = "json",
) -> Response[Any]:
    """One day of an incident as JSON or XLSX (coordinators of its community)."""
    await access.require_incident(incident)
    if format not in ("json", "xlsx"):
        raise BadRequestError("format must be json or xlsx", code="invalid_request")
    if not -840 <= tz <= 840:
        raise BadRequestError(
            "tz is the UTC offset in minutes, -840 to 840", code="invalid_request"
        )
    now = datetime.now(UTC)
    if not day:
        day = (now + timedelta(minutes=tz)).strftime("%Y-%m-%d")
    try:
        if not _DAY.match(day):
            raise ValueError
        datetime.fromisoformat(day)
    except ValueError:
        raise BadRequestError(
            "day must be a date like 2026-11-30", code="invalid_request"
        ) from None
    data = await log.incident_inputs(database, incident)
    if data is None:
        raise NotFoundError(f"no incident {incident[:60]!r}", code="no_incident")
    progress = msgspec.to_builtins(derive(incident, data))

    rows = await console.brief_rows(database, incident)
    b = make_brief(incident, data.incident, progress, rows, day, tz, now)
    headers = {"Cache-Control": "no-store"}
    if format == "json":
        return Response(b, headers=headers)
    name = f"日报-{(data.incident.get('title') or incident)[:40]}-{day}.xlsx"
    from urllib.parse import quote

    headers["Content-Disposition"] = (
        f"attachment; filename=\"brief-{day}.xlsx\"; filename*=UTF-8''{quote(name)}"
    )
    return Response(
        brief_xlsx(b),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers=headers,
    )


ROUTES = [roster, brief, incidents]
