"""The ledger import (#19): messy ledgers of our own making, imported, re-imported, and
checked household by household; hostile files refused with nothing written."""

import base64
import csv
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import openpyxl
import pytest
from conftest import LiveServer, Phone, Stamper, cli, put_record, query

from server.ops.cli import main

# What the messy ledgers below say, household by household:
# (院, 楼, 单元, 门牌) → (contact, occupants, vulnerable, notes)
JINGTU = {
    ("丽源路55号院", "3", "2", "401"): (
        "王秀英 13800001234",
        1,
        ["lone_elderly", "empty_nest"],
        "耳背",
    ),
    ("丽源路55号院", "3", "2", "402"): ("李建国 13900005678", 3, [], ""),
    ("丽源路55号院", "3", "2", "403"): ("张桂兰 13900001111", 2, ["disabled"], ""),
    ("丽源路55号院", "4", "1", "101"): ("刘德明 01067123456", 4, ["infant"], "家有婴儿"),
    ("丽源路56号院", "1", "1", "101"): ("赵振华 13700000000", 1, ["lone_elderly"], ""),
    ("丽源路56号院", "1", "1", "102"): ("钱玉兰 13700000001", 2, [], ""),
    ("丽源路56号院", "1", "1", "201"): ("孙淑珍 13700000002", 2, ["empty_nest"], ""),
    ("丽源路56号院", "1", "2", "301"): ("周建国 13700000003", 3, [], ""),
}


def messy_xlsx(path: Path, *, phone_401: str = "138 0000 1234") -> Path:
    """Two 院, one sheet each: title rows, merged cells, headers spelled two ways,
    full-width digits, phones with spaces and dashes, vulnerability as words and as ✓/是,
    a blank row, an exact duplicate, and three rows that cannot be imported."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "丽源路55号院"
    ws.append(["精图社区住户台账（丽源路55号院）"])
    ws.merge_cells("A1:H1")
    ws.append(["填表日期：2026年12月1日"])
    ws.append(["楼栋", "单元号", "房号", "户主", "联系电话", "人数", "特殊人群", "备注"])
    ws.append([3, 2, 401, "王秀英", phone_401, 1, "独居老人、空巢", "耳背"])
    ws.append([None, None, "４０２", "李建国", "139-0000-5678", "３", "", ""])
    ws.append([None, None, "403室", "张桂兰", "13900001111", 2, "残疾", None])
    ws.merge_cells("A4:A6")
    ws.merge_cells("B4:B6")
    ws.append([])
    ws.append(["4号楼", "1单元", "101", "刘德明", "010-6712 3456", 4, "", "家有婴儿"])
    ws.append(["4号楼", "1单元", "101", "刘德明", "010-6712 3456", 4, "", "家有婴儿"])
    ws.append(["4号楼", "1", "102", "陈凤英", "打不通", 2, "", ""])  # row 10
    ws2 = wb.create_sheet("丽源路56号院")
    ws2.append(["地址", "姓名", "手机", "人口", "独居老人", "空巢"])
    ws2.append(["丽源路56号院1号楼1单元101", "赵振华", "13700000000", 1, "✓", None])
    ws2.append(["56号院1-1-102", "钱玉兰", "137 0000 0001", 2, None, None])
    ws2.append(["1号楼1单元201室", "孙淑珍", "137-0000-0002", 2, None, "是"])
    ws2.append(["1栋2单元301", "周建国", "13700000003", "3人", None, None])
    ws2.append(["楼下小卖部", "吴长林", "13700000004", 1, None, None])  # row 6
    ws2.append(["1栋2单元302", "郑海燕", "13700000005", "很多", None, None])  # row 7
    wb.save(path)
    return path


REJECTED = [
    {"row": 10, "sheet": "丽源路55号院", "why": "电话“打不通”不像电话号码"},
    {
        "row": 6,
        "sheet": "丽源路56号院",
        "why": "地址“楼下小卖部”读不出楼号和门牌号：请写成 55号院3号楼2单元401",
    },
    {"row": 7, "sheet": "丽源路56号院", "why": "人口“很多”不是数字"},
]


def run_import(db: str, file: Path, *args: str) -> dict:
    return json.loads(cli("import", "households", str(file), "--db", db, *args))


def households(db: str) -> dict[tuple, tuple]:
    """Every household in the database by its address, with its id and fields."""
    recs: dict[tuple[str, str], dict] = {}
    for coll, rid, field, value in query(
        db,
        "SELECT coll, id, field, value FROM winners WHERE coll IN ('buildings', 'households')",
    ):
        recs.setdefault((coll, rid), {})[field] = json.loads(value)
    out = {}
    for (coll, rid), h in recs.items():
        if coll != "households":
            continue
        b = recs[("buildings", h["building"])]
        number = b["label"].removeprefix(b["compound"]).removesuffix("号楼")
        key = (b["compound"], number, h["unit"], h["room"])
        # A new household is written without its empty fields.
        vulnerable, notes = h.get("vulnerable") or [], h.get("notes") or ""
        out[key] = (rid, h.get("contact"), h.get("occupants"), vulnerable, notes)
    return out


def changes_in(db: str) -> int:
    return query(db, "SELECT count(*) FROM history")[0][0]


def test_a_messy_workbook_imports_every_household_as_the_file_says(
    fresh_db: str, tmp_path: Path
) -> None:
    summary = run_import(
        fresh_db,
        messy_xlsx(tmp_path / "台账.xlsx"),
        "--community",
        "精图社区",
        "--street",
        "太平桥街道",
    )
    assert summary == {
        "added": 8,
        "updated": 0,
        "unchanged": 0,
        "buildings": 3,
        "rejected": REJECTED,
    }
    got = households(fresh_db)
    assert {k: v[1:] for k, v in got.items()} == JINGTU
    names = query(fresh_db, "SELECT field, value FROM winners WHERE coll = 'communities'")
    assert sorted(names) == [("name", '"精图社区"'), ("street", '"太平桥街道"')]


def test_reimporting_the_same_file_changes_nothing_and_an_edit_updates_the_same_household(
    fresh_db: str, tmp_path: Path
) -> None:
    ledger = messy_xlsx(tmp_path / "台账.xlsx")
    run_import(fresh_db, ledger, "--community", "精图社区")
    before, written = households(fresh_db), changes_in(fresh_db)
    again = run_import(fresh_db, ledger, "--community", "精图社区")
    assert again == {"added": 0, "updated": 0, "unchanged": 8, "buildings": 0, "rejected": REJECTED}
    assert changes_in(fresh_db) == written
    edited = run_import(
        fresh_db,
        messy_xlsx(tmp_path / "改.xlsx", phone_401="13811112222"),
        "--community",
        "精图社区",
    )
    assert (edited["added"], edited["updated"], edited["unchanged"]) == (0, 1, 7)
    after = households(fresh_db)
    key = ("丽源路55号院", "3", "2", "401")
    assert after[key][0] == before[key][0]
    assert after[key][1] == "王秀英 13811112222"
    assert len(after) == 8


def test_households_missing_from_the_file_are_reported_and_kept(
    fresh_db: str, tmp_path: Path
) -> None:
    run_import(fresh_db, messy_xlsx(tmp_path / "台账.xlsx"), "--community", "精图社区")
    part = tmp_path / "55.csv"
    part.write_text(
        "小区,楼号,单元,门牌号,户主,电话\n丽源路55号院,3,2,401,王秀英,13800001234\n",
        encoding="utf-8",
    )
    summary = run_import(fresh_db, part, "--community", "精图社区")
    assert summary["missing"] == 7
    assert "丽源路56号院1号楼1单元101" in summary["missing_addresses"]
    assert summary["unchanged"] == 1
    assert len(households(fresh_db)) == 8


def test_a_dry_run_reports_the_same_and_writes_nothing(fresh_db: str, tmp_path: Path) -> None:
    ledger = messy_xlsx(tmp_path / "台账.xlsx")
    run_import(fresh_db, ledger, "--community", "精图社区")
    written = changes_in(fresh_db)
    dry = run_import(
        fresh_db,
        messy_xlsx(tmp_path / "改.xlsx", phone_401="13811112222"),
        "--community",
        "精图社区",
        "--dry-run",
    )
    assert (dry["updated"], dry["unchanged"]) == (1, 7)
    assert changes_in(fresh_db) == written


def test_a_gbk_csv_with_one_address_column_imports(fresh_db: str, tmp_path: Path) -> None:
    rows = [
        ["山字石社区住户台账", "", "", "", ""],
        ["住址", "联系人", "联系电话", "家庭人口", "重点人群"],
        ["山字石街51号院１号楼３单元２０１", "马玉兰", "0931 8888123", "2", "空巢 独居老人"],
        ["山字石街51号院1-3-202", "马玉兰", "0931-8888124", "1", "低保"],
        ["", "", "", "", ""],
        ["3栋2单元401", "杨文军", "13600000000", "5", "婴幼儿"],
    ]
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    ledger = tmp_path / "山字石.csv"
    ledger.write_bytes(out.getvalue().encode("gbk"))
    summary = run_import(fresh_db, ledger, "--community", "山字石社区")
    assert summary == {"added": 3, "updated": 0, "unchanged": 0, "buildings": 2, "rejected": []}
    assert {k: v[1:4] for k, v in households(fresh_db).items()} == {
        ("山字石街51号院", "1", "3", "201"): (
            "马玉兰 09318888123",
            2,
            ["lone_elderly", "empty_nest"],
        ),
        ("山字石街51号院", "1", "3", "202"): ("马玉兰 09318888124", 1, []),
        ("", "3", "2", "401"): ("杨文军 13600000000", 5, ["infant"]),
    }
    assert households(fresh_db)[("山字石街51号院", "1", "3", "202")][4] == "低保"


def test_an_unplaced_column_is_named_and_can_be_mapped(
    fresh_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = tmp_path / "bom.csv"
    ledger.write_bytes("位置,户主\n55号院3-2-401,王秀英\n".encode("utf-8-sig"))
    code = main(["import", "households", str(ledger), "--db", fresh_db, "--community", "精图社区"])
    err = capsys.readouterr().err
    assert code == 2
    assert "位置" in err and "--map" in err
    summary = run_import(fresh_db, ledger, "--community", "精图社区", "--map", "位置=地址")
    assert summary["added"] == 1
    assert list(households(fresh_db)) == [("55号院", "3", "2", "401")]


def _zip_bomb(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
        with z.open("xl/worksheets/sheet1.xml", "w") as member:
            for _ in range(64):
                member.write(b"\0" * (1024 * 1024))
    return path


def _entity_attack(path: Path) -> Path:
    messy_xlsx(path.with_suffix(".ok.xlsx"))
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    )
    with zipfile.ZipFile(path.with_suffix(".ok.xlsx")) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/workbook.xml":
                data = laughs.encode() + data.split(b"?>", 1)[-1]
            dst.writestr(info, data)
    return path


HOSTILE = {
    "zip_bomb": (_zip_bomb, "压缩炸弹"),
    "xml_entities": (_entity_attack, "不安全的 XML"),
    "not_a_spreadsheet": (
        lambda p: (p.write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), p)[1],
        "不是表格",
    ),
    "old_xls": (
        lambda p: (p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512), p)[1],
        ".xls",
    ),
    "empty_file": (lambda p: (p.write_bytes(b""), p)[1], "空的"),
    "empty_sheet": (lambda p: (p.write_text(",,\n,,\n"), p)[1], "空的"),
    "unrecognised_header": (lambda p: (p.write_text("A,B,C\n1,2,3\n"), p)[1], "认不出"),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_file_that_cannot_be_imported_is_one_line_and_writes_nothing(
    kind: str, fresh_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_import(fresh_db, messy_xlsx(tmp_path / "台账.xlsx"), "--community", "精图社区")
    written = changes_in(fresh_db)
    make, said = HOSTILE[kind]
    bad = make(tmp_path / "bad.xlsx")
    capsys.readouterr()
    code = main(["import", "households", str(bad), "--db", fresh_db, "--community", "精图社区"])
    err = capsys.readouterr().err
    assert code == 2
    assert said in err and len(err.strip().splitlines()) == 1
    assert changes_in(fresh_db) == written


# Through a real server: the console's upload, its guards, and what imported records are.


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[LiveServer]:
    live = LiveServer(str(tmp_path_factory.mktemp("ledger") / "live.db")).start()
    try:
        yield live
    finally:
        live.stop()


def _upload(phone: Phone, file: bytes, **body: object) -> httpx.Response:
    payload = {"file": base64.b64encode(file).decode(), **body}
    return phone.client.post("/api/v1/ledger", json=payload, headers=phone.headers)


def _pulled(phone: Phone, coll: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    while True:
        body = phone.sync().json()
        for ch in body["changes"]:
            if ch["coll"] == coll:
                out.setdefault(ch["id"], {})[ch["field"]] = ch["value"]
        phone.cursor = body["cursor"]
        if not body["more"]:
            return out


def test_an_uploaded_ledger_is_previewed_then_imported_as_ordinary_records(
    server: LiveServer, tmp_path: Path
) -> None:
    office = server.enroll("coordinator", "街道办")
    ledger = messy_xlsx(tmp_path / "台账.xlsx").read_bytes()
    preview = _upload(office, ledger, community_name="精图社区", street="太平桥街道")
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert (body["added"], body["rejected_count"], body["dry_run"]) == (8, 3, True)
    assert ["丽源路55号院", "房号", "room"] in body["columns"]
    assert server.query("SELECT count(*) FROM winners WHERE coll = 'households'") == [(0,)]
    done = _upload(office, ledger, community_name="精图社区", dry_run=False).json()
    assert (done["added"], done["buildings"]) == (8, 3)
    got = households(server.db_path)
    assert {k: v[1:] for k, v in got.items()} == JINGTU

    # A volunteer assigned to an imported building gets exactly its households.
    building = next(
        rid
        for rid, v in query(
            server.db_path,
            "SELECT id, value FROM winners WHERE coll = 'buildings' AND field = 'label'",
        )
        if json.loads(v) == "丽源路55号院3号楼"
    )
    volunteer = server.enroll("volunteer", "张三")
    cli("assign", "--db", server.db_path, "--person", volunteer.person, "--building", building)
    mine = _pulled(volunteer, "households")
    expected = {v[0] for k, v in got.items() if k[:2] == ("丽源路55号院", "3")}
    assert set(mine) == expected and len(expected) == 3

    # An incident opened on imported buildings counts their households.
    incident = put_record(
        office,
        Stamper(office.node),
        "incidents",
        community=json.loads(
            query(
                server.db_path,
                "SELECT value FROM winners WHERE coll = 'buildings' "
                "AND field = 'community' AND id = ?",
                (building,),
            )[0][0]
        ),
        kind="heating_outage",
        title="丽源路55号院停暖",
        status="responding",
        buildings=[building],
    )
    progress = office.client.get(f"/api/v1/incidents/{incident}/progress", headers=office.headers)
    assert progress.json()["affected"] == 3


def test_an_upload_that_cannot_be_imported_is_a_code_and_writes_nothing(
    server: LiveServer, tmp_path: Path
) -> None:
    office = server.enroll("coordinator", "街道办")
    before = server.query("SELECT count(*) FROM history")
    bomb = _upload(
        office,
        _zip_bomb(tmp_path / "bomb.xlsx").read_bytes(),
        community_name="新社区",
        dry_run=False,
    )
    assert (bomb.status_code, bomb.json()["error"]) == (400, "ledger_hostile_file")
    xml = _upload(
        office,
        _entity_attack(tmp_path / "xml.xlsx").read_bytes(),
        community_name="新社区",
        dry_run=False,
    )
    assert (xml.status_code, xml.json()["error"]) == (400, "ledger_hostile_file")
    header = _upload(
        office, "位置,户主\n3-2-401,王秀英\n".encode(), community_name="新社区", dry_run=False
    )
    assert (header.status_code, header.json()["error"]) == (400, "ledger_header_unrecognised")
    assert header.json()["details"]["columns"] == [["", "位置", None], ["", "户主", "name"]]
    big = _upload(office, b"x" * (4 * 1024 * 1024), community_name="新社区", dry_run=False)
    assert big.status_code in (400, 413)
    assert server.query("SELECT count(*) FROM history") == before
    mapped = _upload(
        office,
        "位置,户主\n3-2-401,王秀英\n".encode(),
        community_name="新社区",
        map={"位置": "address"},
    )
    assert mapped.json()["added"] == 1
