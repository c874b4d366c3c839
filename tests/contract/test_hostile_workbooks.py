"""Hostile order workbooks: refused naming ``workbook``, or read within bounded time and memory.

Each workbook is a real .xlsx made by openpyxl whose sheet or shared strings part is replaced
by the hostile XML, as an attacker would build it.
"""

from __future__ import annotations

import base64
import io
import json
import time
import tracemalloc
import zipfile

import openpyxl
import pytest

from bus.errors import InvalidParams
from bus.queries.workbook import MAX_ROWS, read_order_form

SHEET = "xl/worksheets/sheet1.xml"
_SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)
_SHEET_TAIL = "</sheetData></worksheet>"


def _xlsx(**parts: str) -> str:
    """An order form (a header and one row), with ``parts`` (path → XML) put in its place."""
    book = openpyxl.Workbook()
    book.active.title = "Order"
    book.active.append(["Item", "Quantity"])
    book.active.append(["word", 1])  # a string: the workbook has shared strings
    plain = io.BytesIO()
    book.save(plain)
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(plain.getvalue())) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            replaced = parts.get(info.filename)
            target.writestr(info.filename, replaced if replaced is not None else source.read(info))
    return base64.b64encode(out.getvalue()).decode()


def _refused(encoded: str) -> str:
    with pytest.raises(InvalidParams) as refusal:
        read_order_form(encoded, time.monotonic() + 5)
    [field] = refusal.value.data["fields"]
    assert field["field"] == "workbook"
    message: str = field["message"]
    return message


def _rows_without_numbers(count: int) -> str:
    """A sheet of ``count`` rows whose rows and cells carry no ``r`` attribute (valid XML: Excel
    numbers them in order)."""
    header = (
        '<row><c t="inlineStr"><is><t>Item</t></is></c>'
        '<c t="inlineStr"><is><t>Quantity</t></is></c></row>'
    )
    row = '<row><c t="inlineStr"><is><t>1000</t></is></c><c><v>6</v></c></row>'
    return _SHEET_HEAD + header + row * count + _SHEET_TAIL


def test_a_sheet_of_millions_of_unnumbered_rows_is_refused_before_it_is_parsed() -> None:
    encoded = _xlsx(**{SHEET: _rows_without_numbers(400_000)})  # about 26 MB of XML
    assert len(encoded) < 1024 * 1024  # it passes the edge's body limit
    started = time.monotonic()
    assert "an order form is smaller" in _refused(encoded)
    assert time.monotonic() - started < 2


def test_a_large_sheet_under_the_caps_is_read_only_up_to_the_row_cap() -> None:
    encoded = _xlsx(**{SHEET: _rows_without_numbers(60_000)})  # about 4 MB: under the part cap
    started = time.monotonic()
    form = read_order_form(encoded, time.monotonic() + 10)
    assert time.monotonic() - started < 5
    assert len(form.rows) == MAX_ROWS
    assert form.rows[0].number == 2 and form.rows[0].item == "1000"
    tracemalloc.start()  # (slows the reading down: its time is measured above)
    try:
        read_order_form(encoded)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 * 1024


def test_a_workbook_out_of_its_time_is_refused_not_read_on() -> None:
    encoded = _xlsx(**{SHEET: _rows_without_numbers(60_000)})
    with pytest.raises(InvalidParams) as refusal:
        read_order_form(encoded, time.monotonic())  # already out of time
    assert "in time" in refusal.value.data["fields"][0]["message"]


_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _sheet_with_entities(doctype: str, entity: str) -> str:
    """A sheet whose item cell is ``&entity;``, declared in ``doctype``."""
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE worksheet [{doctype}]><worksheet xmlns="{_NS}">'
        '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Item</t></is></c>'
        '<c r="B1" t="inlineStr"><is><t>Quantity</t></is></c></row>'
        f'<row r="2"><c r="A2" t="inlineStr"><is><t>&{entity};</t></is></c><c r="B2"><v>1</v></c>'
        "</row></sheetData></worksheet>"
    )


XXE = _sheet_with_entities('<!ENTITY secret SYSTEM "file:///etc/passwd">', "secret")
LAUGHS = _sheet_with_entities(
    '<!ENTITY a "lollollollollollollollollollol">'
    + "".join(f'<!ENTITY {chr(98 + n)} "{("&" + chr(97 + n) + ";") * 10}">' for n in range(8)),
    "i",
)


@pytest.mark.parametrize(
    ("part", "xml"),
    [
        (SHEET, XXE),
        (SHEET, LAUGHS),
        (SHEET, _SHEET_HEAD + "<row><c><v>1</v></c>"),  # cut short
        (SHEET, "not xml at all <<<"),
    ],
    ids=["xxe", "billion-laughs", "truncated", "garbage"],
)
def test_hostile_or_broken_xml_is_an_unreadable_workbook(part: str, xml: str) -> None:
    started = time.monotonic()
    message = _refused(_xlsx(**{part: xml}))
    assert "not a readable .xlsx workbook" in message
    assert "passwd" not in message and "root:" not in message
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e309", "NaN"])
def test_a_quantity_that_is_not_a_finite_number_is_a_malformed_row(value: str) -> None:
    number = f'<c t="inlineStr"><is><t>{value}</t></is></c>'
    sheet = (
        _SHEET_HEAD
        + '<row r="1"><c r="A1" t="inlineStr"><is><t>Item</t></is></c>'
        + '<c r="B1" t="inlineStr"><is><t>Quantity</t></is></c></row>'
        + f'<row r="2"><c r="A2" t="inlineStr"><is><t>1000</t></is></c>{number}</row>'
        + _SHEET_TAIL
    )
    [row] = read_order_form(_xlsx(**{SHEET: sheet}), time.monotonic() + 5).rows
    assert row.quantity is None and row.problem and "not a positive number" in row.problem
    json.dumps(row.__dict__, allow_nan=False)  # nothing in it is NaN or infinite
