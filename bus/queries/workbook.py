"""Reading the customer's order workbook (the layout is in :mod:`schemas.cart`), safely.

Nothing in the file is executed: formulas are read as the values Excel saved. The file is
checked before openpyxl opens it: it must be a zip archive of bounded size whose parts do not
expand past ``MAX_EXPANDED`` (a zip bomb is refused, not unpacked).
"""

from __future__ import annotations

import base64
import binascii
import io
import zipfile
from dataclasses import dataclass
from typing import Any

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.worksheet import Worksheet

from bus.errors import InvalidParams

#: The largest workbook accepted, decoded.
MAX_BYTES = 5 * 1024 * 1024
#: The most its parts may expand to.
MAX_EXPANDED = 50 * 1024 * 1024
#: The most data rows read.
MAX_ROWS = 2000
_HEADER_ROWS = 10
_SHEETS = ("order", "заказ")
_COLUMNS = {
    "item": ("item", "артикул", "код", "item no", "item no."),
    "quantity": ("quantity", "qty", "количество", "кол-во"),
    "unit": ("unit", "ед.", "ед", "единица", "ед. изм."),
}


@dataclass(frozen=True)
class Row:
    """One data row: its number in the sheet, and what it holds or why it is malformed."""

    number: int
    item: str | None
    quantity: float | None
    unit: str | None
    problem: str | None = None


@dataclass(frozen=True)
class OrderSheet:
    """The rows read from the workbook's order sheet."""

    sheet: str
    rows: list[Row]


def read_order_form(encoded: str) -> OrderSheet:
    """Decode and read the workbook.

    Raises:
        InvalidParams: naming ``workbook``, for anything that is not a readable order form.
    """
    data = _decoded(encoded)
    _check_archive(data)
    try:
        values = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
        formulas = openpyxl.load_workbook(io.BytesIO(data), data_only=False)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise _bad(f"is not a readable .xlsx workbook ({type(exc).__name__})") from None
    sheet = _order_sheet(values)
    header_row, columns = _header(sheet)
    formula_sheet = formulas[sheet.title]
    rows = []
    for number in range(header_row + 1, min(sheet.max_row, header_row + MAX_ROWS) + 1):
        row = _row(sheet, formula_sheet, number, columns)
        if row is not None:
            rows.append(row)
    return OrderSheet(sheet.title, rows)


def _decoded(encoded: str) -> bytes:
    if len(encoded) > MAX_BYTES * 4 // 3 + 4:
        raise _bad(f"is larger than {MAX_BYTES // 1024 // 1024} MiB")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _bad("is not valid base64") from None


def _check_archive(data: bytes) -> None:
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise _bad("is not an .xlsx workbook (an .xls, or another kind of file?)")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        expanded = sum(part.file_size for part in archive.infolist())
        if expanded > MAX_EXPANDED:
            raise _bad(f"expands to {expanded // 1024 // 1024} MiB; refused")
        if "xl/workbook.xml" not in archive.namelist():
            raise _bad("is not an .xlsx workbook (it has no xl/workbook.xml)")


def _order_sheet(workbook: Any) -> Worksheet:
    for sheet in workbook.worksheets:
        if sheet.title.strip().lower() in _SHEETS:
            return sheet  # type: ignore[no-any-return]
    if not workbook.worksheets:
        raise _bad("has no worksheet")
    first: Worksheet = workbook.worksheets[0]
    return first


def _header(sheet: Worksheet) -> tuple[int, dict[str, int]]:
    for number in range(1, min(sheet.max_row, _HEADER_ROWS) + 1):
        found: dict[str, int] = {}
        for cell in sheet[number]:
            name = str(cell.value or "").strip().lower()
            for column, names in _COLUMNS.items():
                if name in names and column not in found and cell.column is not None:
                    found[column] = cell.column
        if "item" in found and "quantity" in found:
            return number, found
    raise _bad(
        f"has no header row naming the Item and Quantity columns in the first {_HEADER_ROWS}"
        f" rows of sheet {sheet.title!r}"
    )


def _row(sheet: Worksheet, formulas: Worksheet, number: int, columns: dict[str, int]) -> Row | None:
    raw = {name: sheet.cell(number, column).value for name, column in columns.items()}
    if all(value is None or str(value).strip() == "" for value in raw.values()):
        return None
    unsaved = [
        name
        for name, column in columns.items()
        if raw[name] is None and formulas.cell(number, column).data_type == "f"
    ]
    item, unit = _text(raw["item"]), _text(raw.get("unit"))
    if unsaved:
        problem = f"the {unsaved[0]} is a formula without a saved value (save the file in Excel)"
        return Row(number, item, None, unit, problem)
    if item is None:
        return Row(number, None, None, unit, "no item number")
    quantity = _number(raw["quantity"])
    if quantity is None or quantity <= 0:
        return Row(
            number, item, None, unit, f"quantity {raw['quantity']!r} is not a positive number"
        )
    return Row(number, item, quantity, unit)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # an item number typed as a number
    text = str(value).strip()
    return text or None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip().replace("\u00a0", "").replace(" ", "").replace(",", "."))
    except ValueError:
        return None


def _bad(reason: str) -> InvalidParams:
    """``reason`` completes "the workbook …"."""
    message = f"the workbook {reason}"
    return InvalidParams(
        {"fields": [{"field": "workbook", "type": "workbook", "message": message}]}
    )
