"""From a ledger's sheets to one entry per household, and the rows that could not be read.

Per sheet: the header is the row, among the first ``HEADER_SEARCH``, that places the most
columns (title rows above it are skipped); a person's mapping (header text → field)
overrides what the header names say. Below it, blank rows and repeated headers are
skipped; an empty 院, 楼号 or 单元 cell takes the value above it, which is what a merged
cell reads as (openpyxl's read-only mode gives a merged range's value to its first cell
only). A row is placed by its columns, or by its address (``address.parse_address``), or
both; a sheet named after a 院 gives the 院 to rows that name none.
"""

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from server.ledger.address import fold, number, parse_address
from server.ledger.columns import KINDS, VULNERABLE_WORDS, field_of
from server.ledger.errors import LedgerError
from server.ledger.reader import MAX_ROWS, Sheet

__all__ = ["Column", "Entry", "Key", "Parsed", "parse_sheets"]

HEADER_SEARCH = 10
#: (院, 楼号, 单元, 门牌号); "" where the ledger gives none.
Key = tuple[str, str, str, str]

_FILL_DOWN = ("compound", "building", "unit")
_YES = {"✓", "√", "✔", "☑", "是", "有", "Y", "YES", "1", "TRUE", "●", "○", "V"}
_SPLIT = re.compile(r"[、,，;；/\\|\s]+")
_PHONE_JUNK = re.compile(r"[\s\-—–()（）.]")
_PHONE = re.compile(r"\+?\d{5,15}(?:转\d{1,6})?")
_PHONE_SPLIT = re.compile(r"[/、,，;；]|或")
_BUILDING = re.compile(r"([0-9A-Za-z]+|[零〇一二两三四五六七八九十]+)(?:号楼|号|栋|幢|座|楼)?$")
_UNIT = re.compile(r"([0-9A-Za-z]+|[零〇一二两三四五六七八九十]+)(?:单元|号门|门)?$")
_ROOM = re.compile(r"([0-9A-Za-z]+)(?:室|号|户)?$")
_GENERIC_TITLE = re.compile(r"(?i)^(sheet|工作表|表)\d*$")
_COMPOUND_TITLE = re.compile(r"(院|小区|苑|园|里|号|公寓|家属院|大院)$")
_MAX_PART = 20


@dataclass
class Column:
    """A column as the header names it and the field it was placed as (None: unplaced)."""

    sheet: str
    header: str
    field: str | None


@dataclass
class Entry:
    """One household of the file: where it is and the fields the file gives."""

    key: Key
    row: int
    sheet: str
    fields: dict[str, Any]


@dataclass
class Parsed:
    entries: dict[Key, Entry] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    columns: list[Column] = field(default_factory=list)
    duplicates: int = 0
    #: Rows read (all sheets): at most ``MAX_ROWS``, a bound on the memory of a plan.
    rows: int = 0
    #: Sheets left out: their header places no household (a 说明 sheet).
    skipped: list[str] = field(default_factory=list)


def _text(value: Any) -> str:
    """A cell as text: 3.0 → "3", dates as ISO, None → ""."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def _header_fields(row: list[Any], mapping: Mapping[str, str]) -> list[str | None]:
    out: list[str | None] = []
    for cell in row:
        text = fold(_text(cell))
        out.append(mapping.get(text) or field_of(text) if text else None)
    return [None if f == "ignore" else f for f in out]


def _locates(fields: Iterable[str | None]) -> bool:
    have = set(fields)
    return "address" in have or {"building", "room"} <= have


def parse_sheets(sheets: Iterable[Sheet], mapping: Mapping[str, str] | None = None) -> Parsed:
    """Every household of the sheets, deduplicated, with the rows that were rejected.

    Raises:
        LedgerError: nothing to read (an empty file), or a header that cannot place the
            households (``details``: the columns and what each was placed as).
    """
    mapping = {fold(k): v for k, v in (mapping or {}).items()}
    out = Parsed()
    sheets = list(sheets)
    several = len(sheets) > 1
    failing: list[list[Column]] = []  # the columns of each sheet that places no household
    any_rows = read = False
    for sheet in sheets:
        rows = sheet.rows
        head: list[tuple[int, list[Any]]] = []
        for n, row in rows:
            if any(_text(c) for c in row):
                head.append((n, row))
                if len(head) == HEADER_SEARCH:
                    break
        if not head:
            continue
        any_rows = True
        best = max(head, key=lambda r: sum(f is not None for f in _header_fields(r[1], mapping)))
        fields = _header_fields(best[1], mapping)
        columns = [
            Column(sheet.title if several else "", _text(c), f)
            for c, f in zip(best[1], fields, strict=True)
            if _text(c)
        ]
        if not _locates(fields):
            failing.append(columns)
            if several:
                out.skipped.append(sheet.title)
            continue
        read = True
        out.columns.extend(columns)
        compound = _title_compound(sheet.title, several)
        after = [r for r in head if r[0] > best[0]]
        _read_rows(out, sheet.title if several else "", compound, fields, best[1], after, rows)
    if not any_rows:
        raise LedgerError("empty", "表格是空的：没有找到任何内容")
    placed = [sum(bool(c.field) for c in cols) for cols in failing]
    # Once a sheet was read, a sheet placing at most one column is no ledger (说明, 统计).
    if not read or any(n > 1 for n in placed):
        cols = failing[placed.index(max(placed))] if failing else []
        names = "、".join(c.header for c in cols if c.field is None) or "（无）"
        if not any(c.field for c in cols):
            message = (
                f"表头一列也认不出（{names}）：请确认第一张表是住户台账，或用 --map 列名=字段 指定"
            )
        else:
            message = (
                f"找不到楼号和门牌号（或地址）列；认不出的列：{names}。"
                "请用 --map 列名=字段 指定，如 --map 房间=room"
            )
        raise LedgerError(
            "header_unrecognised",
            message,
            details={"columns": [[c.sheet, c.header, c.field] for c in cols]},
        )
    return out


def _title_compound(title: str, several: bool) -> str:
    title = fold(title)
    if not title or _GENERIC_TITLE.match(title):
        return ""
    return title if several or _COMPOUND_TITLE.search(title) else ""


def _read_rows(
    out: Parsed,
    sheet: str,
    compound: str,
    fields: list[str | None],
    header: list[Any],
    first: list[tuple[int, list[Any]]],
    rest: Iterable[tuple[int, list[Any]]],
) -> None:
    placed = [(i, f) for i, f in enumerate(fields) if f is not None]
    header_text = [_text(header[i]) for i, _ in placed]
    above: dict[str, str] = {}
    for rows in (first, rest):
        for n, row in rows:
            # Only the placed columns are read: a row with nothing in them is blank.
            texts = [_text(row[i]) if i < len(row) else "" for i, _ in placed]
            if not any(texts) or texts == header_text:
                continue  # blank, or the header again (a printout's repeated title rows)
            cells: dict[str, list[str]] = {}
            for (_, f), text in zip(placed, texts, strict=True):
                cells.setdefault(f, []).append(text)
            for f in _FILL_DOWN:
                if f in cells:
                    if cells[f][0]:
                        above[f] = cells[f][0]
                    else:
                        cells[f][0] = above.get(f, "")
            out.rows += 1
            if out.rows > MAX_ROWS:
                raise LedgerError("too_many_rows", f"一个文件最多 {MAX_ROWS} 行住户，请拆分后导入")
            try:
                entry = _entry(n, sheet, compound, cells)
            except _Reject as exc:
                out.rejected.append(_rejection(n, sheet, exc))
                continue
            known = out.entries.get(entry.key)
            if known is None:
                out.entries[entry.key] = entry
            elif known.fields == entry.fields:
                out.duplicates += 1
            else:
                if known.sheet != sheet:
                    why = _Reject("same_door_sheet", sheet=known.sheet, row=known.row)
                else:
                    why = _Reject("same_door", row=known.row)
                out.rejected.append(_rejection(n, sheet, why))


def _rejection(row: int, sheet: str, why: "_Reject") -> dict[str, Any]:
    """A rejected row: ``why`` in Chinese, and ``code`` + ``params`` for the console to word
    in its language (the command line prints ``why`` only)."""
    out: dict[str, Any] = {"row": row, "sheet": sheet} if sheet else {"row": row}
    return out | {"why": str(why), "code": why.code, "params": why.params}


#: Why a row is rejected, in Chinese (pwa/js/i18n/ledger.*.js words the same codes).
WHY = {
    "unreadable": "{what}“{text}”看不懂：请只写编号，如 3",
    "address_unreadable": "地址“{text}”读不出楼号和门牌号：请写成 55号院3号楼2单元401",
    "no_door": "缺少楼号或门牌号",
    "compound_too_long": "院/小区名称太长",
    "contact_too_long": "户主或电话太长（最多 200 字）",
    "notes_too_long": "备注太长（最多 4000 字）",
    "occupants_not_number": "人口“{text}”不是数字",
    "occupants_out_of_range": "人口 {n} 超出范围（0–50）",
    "phone_unreadable": "电话“{text}”不像电话号码",
    "same_door": "与第 {row} 行是同一户（同一门牌），但内容不同：请删去其中一行",
    "same_door_sheet": "与“{sheet}”表第 {row} 行是同一户（同一门牌），但内容不同",
}
_WHAT = {"building": "楼号", "unit": "单元", "room": "门牌号"}


class _Reject(Exception):
    def __init__(self, code: str, **params: Any) -> None:
        self.code, self.params = code, params
        words = {k: _WHAT.get(v, v) if k == "what" else v for k, v in params.items()}
        super().__init__(WHY[code].format(**words))


def _first(cells: dict[str, list[str]], name: str) -> str:
    return next((v for v in cells.get(name, []) if v), "")


def _part(text: str, pattern: re.Pattern[str], what: str) -> str:
    found = pattern.search(fold(text))
    if found is None or len(found.group(1)) > _MAX_PART:
        raise _Reject("unreadable", what=what, text=text[:20])
    return number(found.group(1))


def _entry(n: int, sheet: str, compound: str, cells: dict[str, list[str]]) -> Entry:
    c = b = u = r = None
    address = _first(cells, "address")
    if address:
        c, b, u, r = parse_address(address)
    building_cell = _first(cells, "building")
    if building_cell.isdigit() and building_cell.isascii():
        b = number(building_cell)
    elif building_cell:
        found = _BUILDING.search(fold(building_cell))
        prefix = fold(building_cell)[: found.start()] if found else ""
        b = _part(building_cell, _BUILDING, "building")
        if prefix and not c:
            c = prefix
    if _first(cells, "unit"):
        u = _part(_first(cells, "unit"), _UNIT, "unit")
    room_cell = _first(cells, "room")
    if room_cell.isdigit() and room_cell.isascii():
        r = number(room_cell)
    elif room_cell:
        pc, pb, pu, pr = parse_address(room_cell)
        if pr is not None:  # a room cell holding more ("2单元401", "3-2-401")
            c, b, u, r = c or pc, b or pb, u or pu, pr
        else:
            r = _part(room_cell, _ROOM, "room")
    if _first(cells, "compound"):
        c = fold(_first(cells, "compound"))
    if not b or not r:
        if address:
            raise _Reject("address_unreadable", text=address[:40])
        raise _Reject("no_door")
    if c and compound and compound.endswith(c):
        c = compound  # "56号院3-2-401" on the sheet of 丽源路56号院
    c = c or compound
    if len(c) > 60:
        raise _Reject("compound_too_long")
    fields: dict[str, Any] = {}
    if "occupants" in cells:
        fields["occupants"] = _occupants(_first(cells, "occupants"))
    name = _first(cells, "name")
    phones = _phones(_first(cells, "phone"))
    if "name" in cells or "phone" in cells:
        contact = " ".join(p for p in (name, phones) if p)
        if len(contact) > 200:
            raise _Reject("contact_too_long")
        fields["contact"] = contact
    kinds, words = _vulnerable(cells)
    notes = "；".join(p for p in [*words, *(v for v in cells.get("notes", []) if v)] if p)
    if len(notes) > 4000:
        raise _Reject("notes_too_long")
    if any(k == "vulnerable" or k.startswith("vulnerable:") or k == "notes" for k in cells):
        fields["vulnerable"] = kinds
    if "notes" in cells or notes:  # a ledger without 备注 leaves the notes as they are
        fields["notes"] = notes
    return Entry((c, b, u or "", r), n, sheet, fields)


def _occupants(text: str) -> int | None:
    if not text:
        return None
    flat = fold(text).removesuffix("口").removesuffix("人")
    if not flat.isdigit():
        raise _Reject("occupants_not_number", text=text[:20])
    value = int(flat)
    if value > 50:
        raise _Reject("occupants_out_of_range", n=value)
    return value


def _phones(text: str) -> str:
    if not text:
        return ""
    out = []
    for part in _PHONE_SPLIT.split(fold(text)):
        clean = _PHONE_JUNK.sub("", part)
        if not clean:
            continue
        if not _PHONE.fullmatch(clean):
            raise _Reject("phone_unreadable", text=text[:30])
        out.append(clean)
    return " / ".join(out)


def _vulnerable(cells: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    """The kinds of vulnerability a row gives, and the words that are not a known kind
    (kept in the notes: "低保" is worth knowing)."""
    kinds: set[str] = set()
    unknown: list[str] = []
    for text in cells.get("vulnerable", []):
        for word in _SPLIT.split(unicodedata.normalize("NFKC", text)):
            if not word or word in {"无", "-", "/", "否"}:
                continue
            found = {k for w, k in VULNERABLE_WORDS.items() if w in word}
            if found:
                kinds |= found
            else:
                unknown.append(word)
    for name, values in cells.items():
        if name.startswith("vulnerable:") and any(fold(v).upper() in _YES for v in values):
            kinds.add(name.split(":", 1)[1])
    for text in cells.get("notes", []):
        kinds.update(k for w, k in VULNERABLE_WORDS.items() if w in text)
    return [k for k in KINDS if k in kinds], unknown
