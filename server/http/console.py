"""The coordinator's console (#12): the volunteer roster and the daily brief (日报).

The brief is one duty day of an incident — counts as that day ended (as of now for the
day still running), vulnerable reached, heaters out, the repairs timeline and the public
updates of that day — as JSON (the dashboard's printable page) and as XLSX (what the
street office sends up its reporting chain). A duty day runs from the shift change
(``Settings.duty_day_start``, 08:00 by default) to the next one, so a brief made at 00:55
is the night's, not a nearly empty calendar day (#22 D17). The day is the coordinator's:
``tz`` is their UTC offset in minutes.
"""

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, SkipValidation

from server.db import AnyDatabase, console, log
from server.derived.progress import derive
from server.errors import BadRequestError, NotFoundError
from server.guards.caller import Caller
from server.words import WORDS

__all__ = ["ROUTES", "UNDO_SECONDS", "brief", "duty_day", "incidents", "make_brief", "roster"]

#: A write that puts back a field's previous value this soon after a change is the
#: dashboard's undo (its toast offers it for 15 s): the brief leaves both out.
UNDO_SECONDS = 60

_ISTATUS = WORDS["istatus"]
_RSTATUS = WORDS["rstatus"]
_KIND = WORDS["kind"]


class RosterEntry(msgspec.Struct):
    person: str
    name: str
    devices: int
    last_seen: str | None
    pending: int | None
    pending_at: str | None


@get("/api/v1/roster")
async def roster(
    database: NamedDependency[AnyDatabase], access: SkipValidation[Caller]
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
    database: NamedDependency[AnyDatabase], access: SkipValidation[Caller]
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


def duty_window(day: str, tz: int, start_hour: int) -> tuple[datetime, datetime]:
    """The duty day ``day`` in UTC: from ``start_hour`` local that day to the next one's."""
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    start += timedelta(hours=start_hour) - timedelta(minutes=tz)
    return start, start + timedelta(days=1)


def duty_day(now: datetime, tz: int, start_hour: int) -> str:
    """The duty day running at ``now``: before the shift change it is still yesterday's."""
    return (now + timedelta(minutes=tz) - timedelta(hours=start_hour)).strftime("%Y-%m-%d")


def _undone(history: list[tuple[str, Any, str]]) -> set[int]:
    """Indexes of history rows that are an undo or the change it took back: a write that
    restores the value its field had before the previous write, within UNDO_SECONDS."""
    by_field: dict[str, list[int]] = {}
    for i, (fld, _, _) in enumerate(history):
        by_field.setdefault(fld, []).append(i)
    out: set[int] = set()
    for idx in by_field.values():
        for k in range(1, len(idx)):
            prev, cur = idx[k - 1], idx[k]
            if prev in out:
                continue
            before = history[idx[k - 2]][1] if k >= 2 else None
            t0, t1 = _parse(history[prev][2][:24]), _parse(history[cur][2][:24])
            soon = t0 is not None and t1 is not None and t1 - t0 <= timedelta(seconds=UNDO_SECONDS)
            if soon and (history[cur][1] or None) == (before or None):
                out.update((prev, cur))
    return out


def make_brief(
    incident: str,
    inc: dict,
    progress: dict,
    rows: dict,
    day: str,
    tz: int,
    now: datetime,
    start_hour: int = 0,
) -> dict:
    """The brief of one duty day as plain data (pure: the tests and the XLSX share it).

    ``progress`` holds the counts as the day ended (the caller derives them so for a past
    day); ``start_hour`` is the local hour the duty day starts.
    """
    offset = timedelta(minutes=tz)
    start, end = duty_window(day, tz, start_hour)

    def within(t: Any) -> bool:
        at = _parse(t)
        return at is not None and start <= at < end

    def local(t: Any) -> str:
        at = _parse(t)
        return (at + offset).strftime("%Y-%m-%d %H:%M") if at else ""

    # Households visited and reached that day, by the counters' rule (server/derived/progress.py):
    # a reached visit or any delivery reached the door; 已搬走 and the rest only visited it.
    visited: set[Any] = set()
    reached: set[Any] = set()
    for v in rows["visits"].values():
        if within(v.get("at")):
            visited.add(v.get("household"))
            if v.get("outcome") == "reached":
                reached.add(v.get("household"))
    for d in rows["deliveries"].values():
        if within(d.get("at")):
            visited.add(d.get("household"))
            reached.add(d.get("household"))
    heaters = {"delivered": 0, "returned": 0, "lost": 0}
    for d in rows["deliveries"].values():
        if d.get("item") == "heater" and d.get("status") in heaters and within(d.get("at")):
            heaters[d["status"]] += d.get("qty") if isinstance(d.get("qty"), int) else 1
    labels = rows["labels"]
    timeline: list[dict[str, Any]] = []
    # Each entry has its Chinese ``text`` (the XLSX) and a ``kind`` with its parts, from
    # which the dashboard words it in the coordinator's language.
    undone = _undone(rows["history"])
    for i, (fld, value, hlc) in enumerate(rows["history"]):
        at = hlc[:24]
        if not within(at) or i in undone:
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
        "day_start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "day_end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        #: When the counts stand: the day's end, or now for the day still running.
        "counts_at": min(end, now).strftime("%Y-%m-%dT%H:%M:%SZ"),
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
        "day_counts": {"visited": len(visited), "reached": len(reached)},
        "heaters": heaters,
        "timeline": timeline,
        "updates": updates,
        "local": {
            "made_at": local(now.strftime("%Y-%m-%dT%H:%M:%SZ")),
            "from": local(start.strftime("%Y-%m-%dT%H:%M:%SZ")),
            "to": local(end.strftime("%Y-%m-%dT%H:%M:%SZ")),
            "counts_at": local(min(end, now).strftime("%Y-%m-%dT%H:%M:%SZ")),
        },
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
    ws.append(["值班时段", f"{b['local']['from']} 至 {b['local']['to']}"])
    ws.append(["生成时间", b["local"]["made_at"]])
    ws.append(["数字截至", b["local"]["counts_at"]])
    ws.append([])
    for key, word in _COUNT_WORDS:
        ws.append([word, b["counts"][key]])
    ws.append(["当天走访（户）", b["day_counts"]["visited"]])
    ws.append(["当天联系（户）", b["day_counts"]["reached"]])
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
    request: Request,
    incident: FromPath[str],
    database: NamedDependency[AnyDatabase],
    access: SkipValidation[Caller],
    day: FromQuery[str] = "",
    tz: FromQuery[int] = 0,
    format: FromQuery[str] = "json",
) -> Response[Any]:
    """One duty day of an incident as JSON or XLSX (coordinators of its community)."""
    await access.require_incident(incident)
    if format not in ("json", "xlsx"):
        raise BadRequestError("format must be json or xlsx", code="invalid_request")
    if not -840 <= tz <= 840:
        raise BadRequestError(
            "tz is the UTC offset in minutes, -840 to 840", code="invalid_request"
        )
    now = datetime.now(UTC)
    start_hour = request.app.state.settings.duty_day_start
    if not day:
        day = duty_day(now, tz, start_hour)
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
    _, end = duty_window(day, tz, start_hour)
    if end <= now:  # a past day counts as it ended, not as of now
        data = await console.inputs_until(
            database, incident, data, end.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        )
    progress = msgspec.to_builtins(derive(incident, data))

    rows = await console.brief_rows(database, incident)
    b = make_brief(incident, data.incident, progress, rows, day, tz, now, start_hour)
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
