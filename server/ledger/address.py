"""Household addresses as community ledgers and hotline tickets write them.

Pure: text in, parts out, no I/O. ``parse_address`` takes the forms found in real 住户台账
(DOMAIN.md) and 12345 tickets::

    丽源路55号院3号楼2单元401      → ("丽源路55号院", "3", "2", "401")
    55号院3-2-401                  → ("55号院", "3", "2", "401")
    3号楼2单元401室                → (None, "3", "2", "401")
    3栋2单元401                    → (None, "3", "2", "401")
    ５５号院３号楼二单元４０１      → ("55号院", "3", "2", "401")

Full-width characters are folded first (NFKC), spaces are dropped, and the building,
unit and room are read from the end of the text; whatever comes before them is the
compound (小区/院). Numbers come back as plain ASCII digits without leading zeros
("03" → "3"), so two spellings of one door give one key.
"""

import re
import unicodedata

__all__ = ["Address", "fold", "format_address", "number", "parse_address"]

#: (compound, building, unit, room); a part the text does not give is None.
Address = tuple[str | None, str | None, str | None, str | None]

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_CN_DIGITS |= {"六": 6, "七": 7, "八": 8, "九": 9}

_NUM = r"[0-9A-Za-z]+|[零〇一二两三四五六七八九十]+"
_BUILDING_MARK = r"号楼|号|栋|幢|座|楼"
_UNIT_MARK = r"单元|门|号门"
_ROOM_MARK = r"室|号|户"
_SEP = r"[-—~/#、,.]"

_LONG = re.compile(
    rf"(?P<b>{_NUM})(?:{_BUILDING_MARK})(?:{_SEP})?"
    rf"(?:(?P<u>{_NUM})(?:{_UNIT_MARK})(?:{_SEP})?)?"
    rf"(?P<r>[0-9A-Za-z]+)(?:{_ROOM_MARK})?$"
)
_DASHED = re.compile(
    rf"(?P<b>[0-9A-Za-z]+)(?:{_BUILDING_MARK})?{_SEP}(?P<u>[0-9A-Za-z]+)(?:{_UNIT_MARK})?{_SEP}"
    rf"(?P<r>[0-9A-Za-z]+)(?:{_ROOM_MARK})?$"
)
_SPACES = re.compile(r"\s+")
_TRAILING_SEP = re.compile(rf"(?:{_SEP})+$")


def fold(text: str) -> str:
    """Full-width letters, digits and signs as ASCII (NFKC), without spaces."""
    if text.isascii():  # most cells: nothing to normalise
        return "".join(text.split())
    return _SPACES.sub("", unicodedata.normalize("NFKC", text))


def number(text: str) -> str:
    """A building, unit or room number in one spelling: ASCII digits, no leading zeros,
    Chinese numerals read ("二" → "2", "十二" → "12"), letters upper-cased ("a" → "A")."""
    if text.isdigit() and text.isascii():
        return str(int(text))
    text = fold(text)
    if text and all(c in _CN_DIGITS or c == "十" for c in text) and text.count("十") <= 1:
        if "十" in text:
            if len(text.partition("十")[0]) > 1 or len(text.partition("十")[2]) > 1:
                return text  # not a number a ledger writes ("一二十"): kept as it is
            tens, _, ones = text.partition("十")
            value = (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)
        else:
            value = int("".join(str(_CN_DIGITS[c]) for c in text))
        return str(value)
    if text.isdigit():
        return str(int(text))
    return text.upper()


def parse_address(text: str) -> Address:
    """Split a household address into (compound, building, unit, room).

    Args:
        text: an address as a ledger or a ticket writes it.

    Returns:
        The four parts; None for a part the text does not give. All four are None when
        no building and room can be read.
    """
    flat = fold(text or "")
    for pattern in (_DASHED, _LONG):
        found = pattern.search(flat)
        if found is None:
            continue
        compound = _TRAILING_SEP.sub("", flat[: found.start()]) or None
        unit = found.group("u")
        return (
            compound,
            number(found.group("b")),
            number(unit) if unit else None,
            number(found.group("r")),
        )
    return (None, None, None, None)


def format_address(compound: str | None, building: str, unit: str | None, room: str) -> str:
    """The address a person reads: 丽源路55号院3号楼2单元401."""
    return f"{compound or ''}{building}号楼{f'{unit}单元' if unit else ''}{room}"
