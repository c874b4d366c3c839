"""Reading the customer's order workbook (the layout is in :mod:`schemas.cart`), safely.

Nothing in the file is executed: formulas are read as the values Excel saved. The file is
checked before openpyxl opens it: it must be a zip archive of bounded size whose parts do not
expand past ``MAX_EXPANDED`` nor any one part past ``MAX_PART`` (a zip bomb is refused, not
unpacked). Its XML is parsed by defusedxml (openpyxl uses it when it is installed): no external
entity, DTD or entity expansion is resolved (XXE, billion laughs), and XML that cannot be parsed
is an unreadable workbook, not an error of the bus.

The sheet is read streaming (openpyxl's read-only mode), row by row, and reading stops at the
row cap (``MAX_ROWS`` data rows after the header), so a sheet of millions of rows costs no more
than the cap; a ``deadline`` bounds the time one workbook may take, checked as rows are read, so
a call that is out of time stops its work instead of running on in its thread.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import math
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openpyxl

from bus.errors import InvalidParams

#: The largest workbook accepted, decoded.
MAX_BYTES = 5 * 1024 * 1024
#: The most its parts may expand to.
MAX_EXPANDED = 50 * 1024 * 1024
#: The most one part (a sheet, the shared strings) may expand to: an order form of
#: ``MAX_ROWS`` rows is well under 1 MiB.
MAX_PART = 4 * 1024 * 1024
#: The most data rows read.
MAX_ROWS = 2000
_HEADER_ROWS = 10
#: The columns read from each row: an order form's columns are among the first.
_MAX_COLUMNS = 50

log = logging.getLogger(__name__)

#: A data row's cell values, by column name (``item``, ``quantity``, ``unit``).
Raw = dict[str, Any]
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


def read_order_form(encoded: str, deadline: float | None = None) -> OrderSheet:
    """Decode and read the workbook, by ``deadline`` (``time.monotonic()``) if one is given.

    Raises:
        InvalidParams: naming ``workbook``, for anything that is not a readable order form, or
            one that cannot be read by the deadline.
    """
    data = _decoded(encoded)
    _check_archive(data)
    try:
        return _read(data, deadline)
    except InvalidParams:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to parse a caller's file is its file's
        log.info("an unreadable workbook: %s: %s", type(exc).__name__, exc)
        raise _bad(f"is not a readable .xlsx workbook ({type(exc).__name__})") from None


def _read(data: bytes, deadline: float | None) -> OrderSheet:
    """The order sheet's rows: the values Excel saved, then, only for rows with a missing item or
    quantity, whether that cell is a formula Excel never computed (a second streaming view)."""
    values = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheet = _order_sheet(values)
        title = sheet.title
        columns, found = _scan(sheet, deadline)
    finally:
        values.close()
    missing = {number for number, raw in found if None in (raw["item"], raw["quantity"])}
    formulas = _formula_cells(data, title, columns, missing, deadline) if missing else {}
    return OrderSheet(title, [_row(n, raw, formulas.get(n, ())) for n, raw in found])


def _scan(sheet: Any, deadline: float | None) -> tuple[dict[str, int], list[tuple[int, Raw]]]:
    """The header's columns and the non-empty data rows' raw values, up to the row cap."""
    header: dict[str, int] | None = None
    found: list[tuple[int, Raw]] = []
    for number, cells in enumerate(_rows(sheet), start=1):
        _in_time(deadline)
        if header is None:
            header = _header(cells) if number <= _HEADER_ROWS else _no_header(sheet)
            continue
        if len(found) >= MAX_ROWS or number > _HEADER_ROWS + MAX_ROWS * 10:
            break  # the cap: nothing past it is parsed
        raw = {name: getattr(_cell(cells, index), "value", None) for name, index in header.items()}
        if any(value is not None and str(value).strip() for value in raw.values()):
            found.append((number, raw))
    return header if header is not None else _no_header(sheet), found


def _formula_cells(
    data: bytes, title: str, columns: dict[str, int], numbers: set[int], deadline: float | None
) -> dict[int, tuple[str, ...]]:
    """For each row of ``numbers``, the columns that hold a formula."""
    formulas = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    try:
        found: dict[int, tuple[str, ...]] = {}
        for number, cells in enumerate(_rows(formulas[title]), start=1):
            _in_time(deadline)
            if number > max(numbers):
                break
            if number in numbers:
                found[number] = tuple(
                    name
                    for name, index in columns.items()
                    if getattr(_cell(cells, index), "data_type", None) == "f"
                )
        return found
    finally:
        formulas.close()


def _rows(sheet: Any) -> Iterator[tuple[Any, ...]]:
    """The sheet's rows as cells, the first ``_MAX_COLUMNS`` of each, from row 1 (a sheet whose
    rows carry no numbers is read in order, as Excel would)."""
    return sheet.iter_rows(min_row=1, max_col=_MAX_COLUMNS)  # type: ignore[no-any-return]


def _in_time(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise _bad("could not be read in time (too large or too complex); send a smaller one")


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
        parts = archive.infolist()
        expanded = sum(part.file_size for part in parts)
        if expanded > MAX_EXPANDED:
            raise _bad(f"expands to {expanded // 1024 // 1024} MiB; refused")
        largest = max(parts, key=lambda part: part.file_size, default=None)
        if largest is not None and largest.file_size > MAX_PART:
            size = largest.file_size // 1024 // 1024
            raise _bad(f"has a part ({largest.filename}) of {size} MiB; an order form is smaller")
        if "xl/workbook.xml" not in archive.namelist():
            raise _bad("is not an .xlsx workbook (it has no xl/workbook.xml)")


def _order_sheet(workbook: Any) -> Any:
    """The sheet named Order (or Заказ), else the first."""
    for sheet in workbook.worksheets:
        if sheet.title.strip().lower() in _SHEETS:
            return sheet
    if not workbook.worksheets:
        raise _bad("has no worksheet")
    return workbook.worksheets[0]


def _header(cells: tuple[Any, ...]) -> dict[str, int] | None:
    """The columns named in a header row (0-based), if it names Item and Quantity."""
    found: dict[str, int] = {}
    for index, cell in enumerate(cells):
        name = str(getattr(cell, "value", None) or "").strip().lower()
        for column, names in _COLUMNS.items():
            if name in names and column not in found:
                found[column] = index
    return found if "item" in found and "quantity" in found else None


def _no_header(sheet: Any) -> dict[str, int]:
    raise _bad(
        f"has no header row naming the Item and Quantity columns in the first {_HEADER_ROWS}"
        f" rows of sheet {sheet.title!r}"
    )


def _cell(cells: tuple[Any, ...], index: int) -> Any:
    return cells[index] if index < len(cells) else None


def _row(number: int, raw: Raw, formulas: tuple[str, ...]) -> Row:
    item, unit = _text(raw["item"]), _text(raw.get("unit"))
    unsaved = [name for name in formulas if raw[name] is None]
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
    """A finite number, or ``None`` (``nan``, ``inf`` and ``1e309`` are not quantities)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = str(value).strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
        try:
            number = float(text)
        except ValueError:
            return None
    return number if math.isfinite(number) else None


def _bad(reason: str) -> InvalidParams:
    """``reason`` completes "the workbook …"."""
    message = f"the workbook {reason}"
    return InvalidParams(
        {"fields": [{"field": "workbook", "type": "workbook", "message": message}]}
    )
