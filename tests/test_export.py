"""The export an office reads (issue 19, part 4): Chinese sheets, headers and words, local
times, addresses, who recorded each row by name, ids only in the last column, a file named
by the incident and the day; ``doorstep incidents`` and ``export --incident NAME``."""

import csv
import io
import json
import re
import subprocess
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest
from conftest import Stamper, cli, db_for, enroll, load_demo, put_record
from litestar.testing import TestClient
from openpyxl import load_workbook

from server.http.app import create_app
from server.http.export import address, content_disposition, file_name
from server.ops.access_commands import add_coordinator
from server.ops.demo import HEATING, WATER
from server.words import WORDS

PASSWORD = "correct horse battery"
HEATING_NAME = "丽源路55号院、56号院供暖主管道破裂停暖"
#: 00:49 on 12-08 in Beijing: a UTC export would put it on 12-07.
VISIT_AT = "2026-12-07T16:49:00.000Z"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
NODE = re.compile(r"\b[0-9a-f]{16}\b")
CODES = {code for group in WORDS.values() for code in group}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Any:
    """The demo, a coordinator, and one visit by 王芳 at 00:49 local on 12-08."""
    path = str(tmp_path_factory.mktemp("export") / "doorstep.db")
    load_demo(path)
    db = db_for(path)
    add_coordinator(db, "office", PASSWORD, name="街道办")
    with TestClient(app=create_app(db=db)) as client:
        phone = enroll(client, db, name="王芳")
        cli("assign", "--db", db, "--person", phone.person, "--incident", HEATING)
        pulled = phone.sync().json()["changes"]
        hid = next(c["id"] for c in pulled if c["coll"] == "households")
        visit = put_record(
            phone,
            Stamper(phone.node),
            "visits",
            household=hid,
            incident=HEATING,
            at=VISIT_AT,
            outcome="reached",
            needs=["heater", "medical"],
            note="=HYPERLINK(1)",
        )
        r = client.post("/api/v1/login", json={"login": "office", "password": PASSWORD})
        assert r.status_code == 200, r.text
        yield SimpleNamespace(client=client, db=db, visit=visit, household=hid)


def _people_cells(rows: list[tuple]) -> list[Any]:
    """Every cell a person reads: all but the last (id) column."""
    return [c for row in rows for c in row[:-1] if c not in (None, "")]


def test_the_xlsx_is_in_chinese_with_local_times_addresses_and_names(world) -> None:
    r = world.client.get(f"/api/v1/incidents/{HEATING}/export")
    assert r.status_code == 200, r.text
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["住户", "走访记录", "物资发放"]
    visits = wb["走访记录"]
    header, *rows = list(visits.iter_rows(values_only=True))
    assert header == ("走访时间", "地址", "结果", "需求", "备注", "记录人", "编号（系统用）")
    (mine,) = [row for row in rows if row[-1] == world.visit]
    assert mine[0] == datetime(2026, 12, 8, 0, 49)  # local day, not UTC's 12-07
    assert visits.cell(row=2, column=1).number_format == "yyyy-mm-dd hh:mm"
    assert re.fullmatch(r"丽源路5[56]号院 \d+号楼 \d+单元 \d+", mine[1])
    assert mine[2:6] == ("已联系", "电暖气、就医", "'=HYPERLINK(1)", "王芳")
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2"
        assert ws.column_dimensions["A"].width >= 16 and ws.column_dimensions["B"].width >= 6
        rows = list(ws.iter_rows(values_only=True))
        assert len(rows) > 1, ws.title
        cells = [str(c) for c in _people_cells(rows)]
        assert not [c for c in cells if UUID.search(c) or NODE.search(c)], ws.title
        assert not CODES & set(cells), ws.title
        assert all(UUID.fullmatch(str(row[-1])) for row in rows[1:]), ws.title
    households = list(wb["住户"].iter_rows(values_only=True))
    assert households[0][:2] == ("地址", "楼栋") and len(households) == 742
    assert any(row[5] and "独居老人" in row[5] for row in households[1:])


def test_the_download_is_named_by_the_incident_and_the_local_day(world) -> None:
    r = world.client.get(f"/api/v1/incidents/{HEATING}/export?format=csv&table=visits")
    cd = r.headers["content-disposition"]
    m = re.fullmatch(r"attachment; filename=\"(incident-[\d-]+\.csv)\"; filename\*=UTF-8''(.+)", cd)
    assert m, cd
    assert m.group(2).startswith(quote(f"{HEATING_NAME}-走访记录-"))
    assert m.group(2).endswith(m.group(1).removeprefix("incident-"))
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    (mine,) = [row for row in rows if row[-1] == world.visit]
    assert mine[0] == "2026-12-08 00:49" and mine[5] == "王芳"


def test_the_file_name_is_safe_and_the_fallback_is_ascii() -> None:
    name = file_name('停暖/3号楼:"急"', "xlsx", "households", "2026-12-07")
    assert name == "停暖_3号楼_急-2026-12-07.xlsx"
    cd = content_disposition(name)
    assert cd.startswith('attachment; filename="incident-2026-12-07.xlsx"; filename*=UTF-8')
    assert cd.isascii()


@pytest.mark.parametrize(
    ("parts", "said"),
    [
        (("丽源路55号院", "丽源路55号院3号楼", "2", "401"), "丽源路55号院 3号楼 2单元 401"),
        (("", "7号楼", "东门", "101"), "7号楼 东门 101"),
        (("山字石街51号", "山字石街51号", None, "2"), "山字石街51号 山字石街51号 2"),
    ],
)
def test_a_household_is_an_address(parts, said) -> None:
    assert address(*parts) == said


def test_incidents_lists_name_status_community_and_local_opening(world) -> None:
    lines = [json.loads(x) for x in cli("incidents", "--db", world.db).splitlines()]
    assert {x["id"] for x in lines} >= {HEATING, WATER}
    heating = next(x for x in lines if x["id"] == HEATING)
    assert heating["name"] == HEATING_NAME and heating["community"] == "精图社区"
    assert heating["status"] == "抢修中" and re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d", heating["opened"]
    )
    only = cli("incidents", "--db", world.db, "--community", "山字石社区").splitlines()
    assert [json.loads(x)["id"] for x in only] == [WATER]


def test_export_takes_a_name_prefix_and_the_zone(world, tmp_path: Path) -> None:
    args = ["--incident", "丽源路55号院", "--format", "csv", "--table", "visits", "--tz", "UTC"]
    said = json.loads(cli("export", "--db", world.db, *args, "--out", str(tmp_path)))
    out = Path(said["out"])
    assert out.parent == tmp_path and out.name.startswith(f"{HEATING_NAME}-走访记录-")
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    (mine,) = [row for row in rows if row[-1] == world.visit]
    assert mine[0] == "2026-12-07 16:49"  # the same visit, in UTC when asked


@pytest.mark.parametrize(
    ("incident", "why"),
    [
        ("不存在的事件", "没有名为“不存在的事件”的事件"),
        ("", "没有名为“”的事件"),
        ("山", None),  # unique prefix: fine
    ],
)
def test_export_says_when_a_name_is_unknown(world, tmp_path: Path, capsys, incident, why) -> None:
    args = ("export", "--db", world.db, "--incident", incident, "--out", str(tmp_path / "x.xlsx"))
    if why is None:
        assert json.loads(cli(*args))["bytes"] > 0
        return
    with pytest.raises(subprocess.CalledProcessError) as err:
        cli(*args)
    assert err.value.returncode == 2 and why in capsys.readouterr().err
    assert not (tmp_path / "x.xlsx").exists()


def test_an_ambiguous_name_lists_the_candidates() -> None:
    from server.http.export import find_incident

    known = [
        {"id": "a", "title": "停暖一"},
        {"id": "b", "title": "停暖二"},
        {"id": "c", "title": "停暖"},
    ]
    assert find_incident("停暖", known) == "c"  # an exact name wins over prefixes
    assert find_incident("b", known) == "b"
    with pytest.raises(LookupError, match=r"“停暖”对应 2 个事件.*停暖一 \(a\); 停暖二 \(b\)"):
        find_incident("停暖", known[:2])


def test_the_servers_words_are_the_pwas_words() -> None:
    js = (Path(__file__).resolve().parent.parent / "pwa/js/i18n/zh-CN.js").read_text()
    pwa = dict(re.findall(r"'([\w.]+)':\s*'([^']*)'", js))
    for group, codes in WORDS.items():
        for code, zh in codes.items():
            assert pwa.get(f"{group}.{code}") == zh, f"{group}.{code}"


def test_the_server_writes_times_in_its_configured_zone(world) -> None:
    with TestClient(app=create_app(db=world.db, tz="UTC")) as client:
        r = client.post("/api/v1/login", json={"login": "office", "password": PASSWORD})
        assert r.status_code == 200, r.text
        r = client.get(f"/api/v1/incidents/{HEATING}/export?format=csv&table=visits")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    (mine,) = [row for row in rows if row[-1] == world.visit]
    assert mine[0] == "2026-12-07 16:49"


@pytest.mark.parametrize("command", ["serve", "export", "incidents"])
def test_an_unknown_zone_is_one_line_and_exit_2(world, capsys, command) -> None:
    args = ["--incident", HEATING] if command == "export" else []
    with pytest.raises(subprocess.CalledProcessError) as err:
        cli(command, "--db", world.db, *args, "--tz", "Mars/Olympus")
    assert err.value.returncode == 2
    assert "unknown time zone 'Mars/Olympus'" in capsys.readouterr().err


def test_the_file_is_named_by_the_local_day_of_the_export(world) -> None:
    from datetime import UTC

    from server import db
    from server.http.export import export_incident

    at = datetime(2026, 12, 7, 16, 30, tzinfo=UTC)  # 00:30 on 12-08 in Beijing
    names = {
        tz: db.run(world.db, lambda d, tz=tz: export_incident(d, WATER, "xlsx", tz=tz, now=at)).name
        for tz in ("Asia/Shanghai", "UTC")
    }
    assert names == {
        "Asia/Shanghai": "山字石街51号主水管爆裂停水-2026-12-08.xlsx",
        "UTC": "山字石街51号主水管爆裂停水-2026-12-07.xlsx",
    }
