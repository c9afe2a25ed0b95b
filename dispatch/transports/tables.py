"""Spreadsheets in and out: the rows of a CSV or XLSX file a care centre keeps its rides in,
and the day's bookings written back as CSV.

Care centres plan a day in a spreadsheet: Excel saves CSV in the machine's code page or
UTF-8 with a byte-order mark, with commas or (in locales with a decimal comma) semicolons,
and XLSX keeps dates as day numbers. All of that is read here so the import sees plain
``{column: text}`` rows. XLSX is read with the standard library only (a zip of XML parts);
the file is a stranger's upload, so sizes are bounded before anything is unpacked and
documents with a DTD are refused (no entity expansion).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from xml.etree import ElementTree

from dispatch.errors import InvalidInput

#: An upload larger than this is refused (a day of a large centre is ~100 KB).
MAX_BYTES = 5_000_000
#: Rows after the header; a day's import, not an archive.
MAX_ROWS = 2_000
#: Unpacked XML of one XLSX part (a zip bomb stops here).
MAX_PART_BYTES = 50_000_000

XLSX_TYPES = frozenset(
    {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "application/xlsx"}
)
_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_EXCEL_EPOCH = datetime(1899, 12, 30)


def read_rows(content: bytes, content_type: str) -> list[dict[str, str]]:
    """The file's rows as ``{header: cell text}`` (headers lower-cased and trimmed)."""
    if len(content) > MAX_BYTES:
        raise InvalidInput("file", f"The file is larger than {MAX_BYTES // 1_000_000} MB.")
    if not content.strip():
        raise InvalidInput("file", "The file is empty.")
    kind = content_type.split(";")[0].strip().lower()
    table = _xlsx(content) if kind in XLSX_TYPES or content[:2] == b"PK" else _csv(content)
    table = [row for row in table if any(cell.strip() for cell in row)]
    if not table:
        raise InvalidInput("file", "The file has no rows.")
    header = [re.sub(r"\s+", "_", h.strip().lower()) for h in table[0]]
    if len(table) - 1 > MAX_ROWS:
        raise InvalidInput("file", f"The file has more than {MAX_ROWS} rows: split it.")
    return [
        {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header) if h}
        for row in table[1:]
    ]


def _csv(content: bytes) -> list[list[str]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:  # Thai Windows saves CSV in its code page
            text = content.decode("cp874")
        except UnicodeDecodeError as exc:
            raise InvalidInput("file", "The file is neither UTF-8 nor Thai (cp874) text.") from exc
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    if "\t" in first and first.count("\t") > first.count(delimiter):
        delimiter = "\t"
    try:
        return list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error as exc:
        raise InvalidInput("file", f"The CSV file cannot be read: {exc}.") from exc


def _xlsx(content: bytes) -> list[list[str]]:
    """The first worksheet's cells as text (numbers as typed, dates as day numbers)."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as book:
            shared = [_text(si) for si in _part(book, "xl/sharedStrings.xml", optional=True)]
            sheet = _first_sheet(book)
            rows: list[list[str]] = []
            for row in _part(book, sheet).iterfind(".//m:sheetData/m:row", _NS):
                cells: dict[int, str] = {}
                for cell in row.iterfind("m:c", _NS):
                    column = _column_index(cell.get("r", ""), len(cells))
                    cells[column] = _cell_text(cell, shared)
                if cells:
                    rows.append([cells.get(i, "") for i in range(max(cells) + 1)])
            return rows
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, ValueError) as exc:
        raise InvalidInput("file", "The file is not a readable XLSX workbook.") from exc


def _part(book: zipfile.ZipFile, name: str, optional: bool = False) -> ElementTree.Element:
    if optional and name not in book.namelist():
        return ElementTree.Element("none")
    info = book.getinfo(name)
    if info.file_size > MAX_PART_BYTES:
        raise ValueError(f"{name} is too large")
    data = book.read(name)
    if b"<!DOCTYPE" in data[:2000].upper():
        raise ValueError("a document type declaration is not allowed")
    return ElementTree.fromstring(data)


def _first_sheet(book: zipfile.ZipFile) -> str:
    workbook = _part(book, "xl/workbook.xml")
    first = workbook.find("m:sheets/m:sheet", _NS)
    rels = _part(book, "xl/_rels/workbook.xml.rels", optional=True)
    if first is not None:
        target = next((r.get("Target", "") for r in rels if r.get("Id") == first.get(_REL)), "")
        if target:
            return "xl/" + target.lstrip("/").removeprefix("xl/")
    return "xl/worksheets/sheet1.xml"


def _column_index(ref: str, default: int) -> int:
    letters = re.match(r"[A-Z]+", ref)
    if not letters:
        return default
    index = 0
    for ch in letters.group(0):
        index = index * 26 + (ord(ch) - 64)
    return index - 1


def _cell_text(cell: ElementTree.Element, shared: Sequence[str]) -> str:
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        inline = cell.find("m:is", _NS)
        return _text(inline) if inline is not None else ""
    value = cell.findtext("m:v", default="", namespaces=_NS)
    if kind == "s":
        return shared[int(value)] if value else ""
    if kind == "b":
        return "yes" if value == "1" else "no"
    return value


def _text(node: ElementTree.Element) -> str:
    return "".join(t.text or "" for t in node.iter(f"{{{_NS['m']}}}t"))


def excel_day(value: str) -> datetime | None:
    """A spreadsheet's day number (days since 1899-12-30, a fraction for the time)."""
    try:
        number = float(value)
    except ValueError:
        return None
    if not 20_000 < number < 80_000:  # 1954 … 2119: anything else is not a date
        return None
    return _EXCEL_EPOCH + timedelta(days=number)


def write_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """UTF-8 with a byte-order mark: Excel then shows Thai and Vietnamese correctly."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
