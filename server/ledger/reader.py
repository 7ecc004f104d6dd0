"""Reading an untrusted spreadsheet: .xlsx (openpyxl, read-only) or .csv, row by row.

A file is refused before any parser sees it when it is too big, when it is a zip whose
declared sizes say it would inflate beyond ``MAX_INFLATED`` or by more than
``MAX_RATIO`` (a zip bomb; ``zipfile`` never inflates a member past its declared size, so
the declared sizes bound what is read), or when it is neither a workbook nor text. XML
entities are refused by defusedxml, which openpyxl uses when it is installed. Rows are
streamed and cut at ``MAX_COLUMNS`` cells and ``MAX_ROWS`` rows (per sheet here, per file
in ``table``), so memory stays bounded.
"""

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from server.ledger.errors import LedgerError

__all__ = ["MAX_COLUMNS", "MAX_FILE", "MAX_ROWS", "Sheet", "sheets"]

#: Largest ledger file the command line reads (the console's upload limit is lower).
MAX_FILE = 32 * 1024 * 1024
#: Most bytes the members of an .xlsx may declare, and the largest inflation ratio.
MAX_INFLATED = 256 * 1024 * 1024
MAX_RATIO = 200
MAX_MEMBERS = 2000
MAX_COLUMNS = 60
MAX_ROWS = 200_000

_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0"  # .xls and other old Office files


@dataclass
class Sheet:
    """One sheet: its name and its rows as (the row number Excel shows, cell values)."""

    title: str
    rows: Iterator[tuple[int, list[Any]]]


def sheets(data: IO[bytes], size: int, *, max_bytes: int = MAX_FILE) -> list[Sheet]:
    """The sheets of a ledger file (one for a .csv), each read as its rows are iterated
    (the workbook stays open until ``data`` is closed).

    Raises:
        LedgerError: too big, a zip bomb, an XML attack, not a spreadsheet.
    """
    if size > max_bytes:
        raise LedgerError(
            "too_large",
            f"文件太大（{size // 1024 // 1024} MB），上限 {max_bytes // 1024 // 1024} MB；"
            "请按院拆成几个文件分别导入",
        )
    head = data.read(8)
    data.seek(0)
    if head.startswith(_OLE):
        raise LedgerError(
            "old_excel", "这是旧版 Excel（.xls）文件：请在 Excel 里另存为 .xlsx 再导入"
        )
    if head.startswith(_ZIP):
        return _xlsx(data)
    if size == 0:
        raise LedgerError("empty", "文件是空的，没有任何一行")
    return [_csv(data)]


def _check_zip(data: IO[bytes]) -> None:
    try:
        with zipfile.ZipFile(data) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise LedgerError("not_spreadsheet", "文件已损坏，或不是 Excel 表格（.xlsx）") from None
    if len(infos) > MAX_MEMBERS:
        raise LedgerError("hostile_file", "文件内部结构异常（部件太多），已拒绝")
    total = sum(i.file_size for i in infos)
    if total > MAX_INFLATED or any(
        i.file_size > MAX_RATIO * max(i.compress_size, 1) and i.file_size > 1024 * 1024
        for i in infos
    ):
        raise LedgerError("hostile_file", "文件解压后异常巨大（疑似“压缩炸弹”），已拒绝")
    if "xl/workbook.xml" not in {i.filename for i in infos}:
        raise LedgerError("not_spreadsheet", "这个压缩文件不是 Excel 表格（.xlsx）")
    data.seek(0)


def _xlsx(data: IO[bytes]) -> list[Sheet]:
    _check_zip(data)
    import openpyxl
    from defusedxml import DefusedXmlException

    try:
        book = openpyxl.load_workbook(data, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken workbook
        if _caused_by(exc, DefusedXmlException):
            raise LedgerError("hostile_file", "文件里有不安全的 XML 内容，已拒绝") from None
        raise LedgerError("not_spreadsheet", "文件已损坏，或不是 Excel 表格（.xlsx）") from None
    # A read-only workbook holds no file of its own here (``data`` is the caller's).
    return [Sheet(ws.title, _xlsx_rows(ws)) for ws in book.worksheets]


def _xlsx_rows(ws: Any) -> Iterator[tuple[int, list[Any]]]:
    from defusedxml import DefusedXmlException

    try:
        # Some programs write a wrong <dimension>, which read-only mode would trust.
        ws.reset_dimensions()
        # A read-only sheet yields its empty rows too, so the count is Excel's row number.
        for n, row in enumerate(ws.iter_rows(max_col=MAX_COLUMNS, values_only=True), 1):
            if n > MAX_ROWS:
                raise LedgerError("too_many_rows", f"一张表最多 {MAX_ROWS} 行，请拆分后导入")
            yield n, list(row)
    except LedgerError:
        raise
    except Exception as exc:
        if _caused_by(exc, DefusedXmlException):
            raise LedgerError("hostile_file", "文件里有不安全的 XML 内容，已拒绝") from None
        raise LedgerError("not_spreadsheet", "文件已损坏，读不出表格内容") from None


def _caused_by(exc: BaseException | None, kind: type[BaseException]) -> bool:
    """Whether ``kind`` is ``exc`` or in its chain (openpyxl wraps what defusedxml raises)."""
    while exc is not None:
        if isinstance(exc, kind):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _encoding(sample: bytes) -> str:
    """UTF-8 (with or without BOM) when the sample decodes so, else GB18030 (a superset of
    the GBK that Excel in China writes)."""
    if b"\x00" in sample:
        raise LedgerError("not_spreadsheet", "文件不是表格：请上传 Excel（.xlsx）或 CSV 文件")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8-sig"
    except UnicodeDecodeError:
        pass
    try:
        codecs.getincrementaldecoder("gb18030")().decode(sample, final=False)
        return "gb18030"
    except UnicodeDecodeError:
        raise LedgerError(
            "not_spreadsheet", "文件不是表格，或编码无法识别：请上传 Excel（.xlsx）或 CSV 文件"
        ) from None


def _csv(data: IO[bytes]) -> Sheet:
    encoding = _encoding(data.read(64 * 1024))
    data.seek(0)
    text = io.TextIOWrapper(data, encoding=encoding, newline="")  # type: ignore[arg-type]

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            reader = csv.reader(text)
            for n, row in enumerate(reader, 1):
                if n > MAX_ROWS:
                    raise LedgerError("too_many_rows", f"一张表最多 {MAX_ROWS} 行，请拆分后导入")
                yield n, list(row[:MAX_COLUMNS])
        except (UnicodeDecodeError, csv.Error):
            raise LedgerError(
                "not_spreadsheet", "文件不是表格，或编码无法识别：请上传 Excel（.xlsx）或 CSV 文件"
            ) from None

    return Sheet("", rows())
