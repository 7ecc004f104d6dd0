"""The address parser of the ledger import (pure; reused for 12345 tickets)."""

import pytest

from server.ledger.address import format_address, parse_address


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("丽源路55号院3号楼2单元401", ("丽源路55号院", "3", "2", "401")),
        ("55号院3-2-401", ("55号院", "3", "2", "401")),
        ("3号楼2单元401室", (None, "3", "2", "401")),
        ("3栋2单元401", (None, "3", "2", "401")),
        ("５５号院３号楼２单元４０１", ("55号院", "3", "2", "401")),
        ("55号院 3 - 2 - 0401室", ("55号院", "3", "2", "401")),
        ("丽源路55号院十二号楼二单元502", ("丽源路55号院", "12", "2", "502")),
        ("A座1单元1203", (None, "A", "1", "1203")),
        ("3号楼401", (None, "3", None, "401")),
    ],
)
def test_parse_address_reads_the_forms_ledgers_use(text: str, parts: tuple) -> None:
    assert parse_address(text) == parts


@pytest.mark.parametrize("text", ["", "楼下小卖部", "丽源路55号院", "401"])
def test_parse_address_gives_nothing_for_text_without_building_and_room(text: str) -> None:
    assert parse_address(text) == (None, None, None, None)


def test_format_address_reads_back_as_the_same_parts() -> None:
    text = format_address("丽源路55号院", "3", "2", "401")
    assert text == "丽源路55号院3号楼2单元401"
    assert parse_address(text) == ("丽源路55号院", "3", "2", "401")
