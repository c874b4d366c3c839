"""``cart.import_excel`` against the NAV and 1C simulators, with workbooks built by openpyxl."""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import openpyxl
import pytest

from bus.errors import InvalidParams
from bus.queries.cart import CartImporter
from bus.queries.prices import PriceService
from bus.settings import RealtimeSettings
from simulators import SIMULATORS
from tests.contract.test_prices import price_source

Build = Callable[[Any], None]


def workbook(build: Build, *, sheets: tuple[str, ...] = ("Order",)) -> str:
    book = openpyxl.Workbook()
    book.active.title = sheets[0]
    for name in sheets[1:]:
        book.create_sheet(name)
    build(book)
    out = io.BytesIO()
    book.save(out)
    return base64.b64encode(out.getvalue()).decode()


@pytest.fixture(params=["navision", "onec"])
async def importer(request: pytest.FixtureRequest, aiohttp_server: Any) -> AsyncIterator[Any]:
    system: str = request.param
    server = await aiohttp_server(SIMULATORS[system]())
    base = str(server.make_url("")).rstrip("/")
    async with httpx.AsyncClient() as client:
        source = price_source(system, base, client)
        prices = PriceService(RealtimeSettings(), source, system)
        yield system, CartImporter(source, prices, system, budget=2.0)


def _order_form(book: Any) -> None:
    sheet = book["Order"]
    sheet.append(["Customer order form"])
    sheet.append([])
    sheet.append(["Артикул", "Количество", "Ед."])  # header on row 3, Russian names
    sheet.append([1000, 12, None])  # 4: an item number typed as a number
    sheet.append(["1002", "2,5", "BOX"])  # 5: a quantity typed as text with a comma
    sheet.append(["9999", 1, None])  # 6: unknown
    sheet.append([None, 3, None])  # 7: no item
    sheet.append(["1001", "many", None])  # 8: not a number
    sheet.append(["1200", "=2*3", None])  # 9: a formula Excel never computed
    sheet.append([])  # 10: empty, skipped
    sheet.append(["1100", 0, None])  # 11: not positive


async def test_an_order_form_becomes_priced_lines_and_reasoned_rejections(importer: Any) -> None:
    system, cart = importer
    answer = await cart.import_excel("10000", workbook(_order_form, sheets=("Notes", "Order")))
    assert answer["sheet"] == "Order"
    assert [(line["row"], line["item"], line["quantity"]) for line in answer["lines"]] == [
        (4, "1000", 12.0),
        (5, "1002", 2.5),
    ]
    assert all(line["price"] and line["amount"] for line in answer["lines"])
    assert answer["total"] == round(sum(line["amount"] for line in answer["lines"]), 2)
    reasons = {r["row"]: r["reason"] for r in answer["rejected"]}
    assert reasons == {
        6: "unknown_item",
        7: "malformed",
        8: "malformed",
        9: "malformed",
        11: "malformed",
    }
    formula = next(r for r in answer["rejected"] if r["row"] == 9)
    assert "formula" in formula["detail"]


@pytest.mark.parametrize("importer", ["navision"], indirect=True)  # 1C publishes no stock here
async def test_rows_above_the_stock_and_blocked_items_are_rejected(importer: Any) -> None:
    _, cart = importer

    def form(book: Any) -> None:
        book["Order"].append(["Item", "Quantity"])
        book["Order"].append(["1202", 100])  # 60 in stock
        book["Order"].append(["1005", 1])  # blocked

    answer = await cart.import_excel("10000", workbook(form))
    assert [(r["row"], r["reason"]) for r in answer["rejected"]] == [
        (2, "out_of_stock"),
        (3, "blocked_item"),
    ]
    assert "60 available" in answer["rejected"][0]["detail"]


async def test_a_merged_cell_belongs_to_its_top_left_cell(importer: Any) -> None:
    _, cart = importer

    def form(book: Any) -> None:
        sheet = book["Order"]
        sheet.append(["Item", "Quantity"])
        sheet.append(["1000", 1])
        sheet.append([None, 2])
        sheet.merge_cells("A2:A3")

    answer = await cart.import_excel("10000", workbook(form))
    assert [line["row"] for line in answer["lines"]] == [2]
    assert [(r["row"], r["detail"]) for r in answer["rejected"]] == [(3, "no item number")]


def _zip(parts: dict[str, bytes]) -> str:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return base64.b64encode(out.getvalue()).decode()


@pytest.mark.parametrize(
    ("encoded", "says"),
    [
        ("not base64!", "not valid base64"),
        (base64.b64encode(b"%PDF-1.4 not a workbook").decode(), "not an .xlsx workbook"),
        (_zip({"hello.txt": b"hi"}), "no xl/workbook.xml"),
        (_zip({"xl/workbook.xml": b"\0" * (60 * 1024 * 1024)}), "expands to"),
        (_zip({"xl/workbook.xml": b"<garbage", "[Content_Types].xml": b"<x/>"}), "not a readable"),
    ],
    ids=["base64", "pdf", "zip", "zip-bomb", "broken-xlsx"],
)
async def test_a_file_that_is_not_an_order_form_is_refused_naming_the_field(
    importer: Any, encoded: str, says: str
) -> None:
    _, cart = importer
    with pytest.raises(InvalidParams) as refused:
        await cart.import_excel("10000", encoded)
    [field] = refused.value.data["fields"]
    assert field["field"] == "workbook" and says in field["message"]


async def test_a_sheet_without_the_agreed_header_is_refused(importer: Any) -> None:
    _, cart = importer
    encoded = workbook(lambda book: book["Order"].append(["Name", "Amount"]))
    with pytest.raises(InvalidParams) as refused:
        await cart.import_excel("10000", encoded)
    assert "Item and Quantity" in refused.value.data["fields"][0]["message"]
