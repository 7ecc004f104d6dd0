"""Placing a ledger's columns and reading its rows (pure: no file, no database)."""

import pytest

from server.ledger.columns import field_of
from server.ledger.errors import LedgerError
from server.ledger.reader import Sheet
from server.ledger.table import parse_sheets


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        (["楼号", "楼栋", "楼", "栋", "楼栋号"], "building"),
        (["单元", "单元号"], "unit"),
        (["门牌号", "房号", "室", "房间号", "门牌号（室）"], "room"),
        (["户主", "姓名", "联系人", "户主姓名"], "name"),
        (["电话", "联系电话", "手机", "手机号码", "联系电话*"], "phone"),
        (["人口", "人数", "人口（人）", "家庭人口"], "occupants"),
        (["重点人群", "特殊人群"], "vulnerable"),
        (["备注"], "notes"),
        (["地址", "住址", "家庭住址"], "address"),
        (["院", "小区"], "compound"),
        (["独居老人", "空巢"], None),  # per-kind columns, below
    ],
)
def test_header_names_ledgers_use_place_their_column(headers: list[str], field: str | None) -> None:
    for header in headers:
        got = field_of(header)
        assert got == field or (field is None and got.startswith("vulnerable:")), header


def _sheet(rows: list[list], title: str = "") -> Sheet:
    return Sheet(title, iter(enumerate(rows, 1)))


def test_values_are_read_in_one_spelling() -> None:
    parsed = parse_sheets(
        [
            _sheet(
                [
                    [
                        "楼栋",
                        "单元",
                        "室",
                        "联系人",
                        "手机",
                        "人数",
                        "特殊人群",
                        "独居老人",
                        "残疾",
                    ],
                    [
                        "３号楼",
                        "二单元",
                        "０４０１室",
                        "王秀英",
                        "（010）6712-3456",
                        "１人",
                        "空巢、低保",
                        "√",
                        "否",
                    ],
                    [
                        3.0,
                        2.0,
                        402.0,
                        "李建国",
                        "+86 139 0000 5678 / 13900001111",
                        2.0,
                        None,
                        None,
                        "是",
                    ],
                ]
            )
        ]
    )
    assert {k: e.fields for k, e in parsed.entries.items()} == {
        ("", "3", "2", "401"): {
            "occupants": 1,
            "contact": "王秀英 01067123456",
            "vulnerable": ["lone_elderly", "empty_nest"],
            "notes": "低保",
        },
        ("", "3", "2", "402"): {
            "occupants": 2,
            "contact": "李建国 +8613900005678 / 13900001111",
            "vulnerable": ["disabled"],  # no 备注 column, no other word: notes left alone
        },
    }


def test_two_different_rows_for_one_door_keep_the_first_and_reject_the_second() -> None:
    parsed = parse_sheets(
        [
            _sheet(
                [
                    ["楼号", "门牌号", "户主"],
                    [3, 401, "王秀英"],
                    [3, 401, "王秀英"],
                    [3, 401, "李建国"],
                ]
            )
        ]
    )
    assert [e.fields["contact"] for e in parsed.entries.values()] == ["王秀英"]
    assert parsed.duplicates == 1
    assert parsed.rejected == [
        {
            "row": 4,
            "why": "与第 2 行是同一户（同一门牌），但内容不同：请删去其中一行",
            "code": "same_door",
            "params": {"row": 2},
        }
    ]


def test_a_workbook_of_sheets_per_compound_skips_a_sheet_that_is_no_ledger() -> None:
    parsed = parse_sheets(
        [
            _sheet([["填表说明"], ["请按楼号填写"]], "说明"),
            _sheet([["楼号", "门牌号"], [1, 101]], "丽源路55号院"),
            _sheet([["楼号", "门牌号"], [1, 101]], "丽源路56号院"),
        ]
    )
    assert sorted(parsed.entries) == [
        ("丽源路55号院", "1", "", "101"),
        ("丽源路56号院", "1", "", "101"),
    ]


def test_a_mapping_places_a_column_the_header_does_not_name() -> None:
    rows = [["楼号", "门户"], [1, 101]]
    with pytest.raises(LedgerError, match="门户") as caught:
        parse_sheets([_sheet(rows)])
    assert caught.value.details == {"columns": [["", "楼号", "building"], ["", "门户", None]]}
    parsed = parse_sheets([_sheet(rows)], {"门户": "room"})
    assert list(parsed.entries) == [("", "1", "", "101")]
