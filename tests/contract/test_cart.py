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
from bus.order_checks import OrderChecks
from bus.queries.cart import CartImporter
from bus.queries.catalog import Catalog
from bus.queries.prices import PriceService
from bus.settings import CatalogSettings, OrderRules, RealtimeSettings
from simulators import SIMULATORS
from tests.contract.test_prices import price_source

Build = Callable[[Any], None]

#: The rules of order.submit, which the cart applies too: the ERP's packs, and one of its own.
RULES = OrderRules(pack_sizes={"1000": 6})


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
        checks = OrderChecks(Catalog(CatalogSettings(), source, system), CatalogSettings(), RULES)
        yield system, Cart(CartImporter(checks, prices, system))


class Cart:
    """The importer, for a customer the directory does not know."""

    def __init__(self, importer: CartImporter) -> None:
        self.importer = importer

    async def import_excel(self, customer: str, encoded: str) -> dict[str, Any]:
        return await self.importer.import_excel(customer, encoded, None)


def _order_form(book: Any) -> None:
    sheet = book["Order"]
    sheet.append(["Customer order form"])
    sheet.append([])
    sheet.append(["Артикул", "Количество", "Ед."])  # header on row 3, Russian names
    sheet.append([1000, 12, None])  # 4: an item number typed as a number
    sheet.append(["1002", "2,0", "BOX"])  # 5: a quantity typed as text with a comma
    sheet.append(["9999", 1, None])  # 6: unknown
    sheet.append([None, 3, None])  # 7: no item
    sheet.append(["1001", "many", None])  # 8: not a number
    sheet.append(["1200", "=2*3", None])  # 9: a formula Excel never computed
    sheet.append([])  # 10: empty, skipped
    sheet.append(["1100", 0, None])  # 11: not positive
    sheet.append(["1002", 2.5, "BOX"])  # 12: not whole boxes (the ERP sells 1002 in boxes of 6)
    sheet.append(["1000", 4, None])  # 13: not a whole number of the configured pack of 6
    sheet.append(["1000", 1, "CRATE"])  # 14: no such unit of the item


async def test_an_order_form_becomes_priced_lines_and_reasoned_rejections(importer: Any) -> None:
    system, cart = importer
    answer = await cart.import_excel("10000", workbook(_order_form, sheets=("Notes", "Order")))
    assert answer["sheet"] == "Order"
    assert [(line["row"], line["item"], line["quantity"]) for line in answer["lines"]] == [
        (4, "1000", 12.0),
        (5, "1002", 2.0),
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
        12: "pack_size",
        13: "pack_size",
        14: "unknown_unit",
    }
    formula = next(r for r in answer["rejected"] if r["row"] == 9)
    assert "formula" in formula["detail"]


async def test_rows_above_the_stock_and_blocked_items_are_rejected_offering_the_stock(
    importer: Any,
) -> None:
    system, cart = importer

    def form(book: Any) -> None:
        book["Order"].append(["Item", "Quantity", "Unit"])
        book["Order"].append(["1202", 1000, None])  # more than the ERP has
        book["Order"].append(["1005", 1, None])  # blocked (NAV), marked for deletion (1C)
        book["Order"].append(["1100", 1000, "BOX"])  # 24,000 bottles: more than in stock

    answer = await cart.import_excel("10000", workbook(form))
    assert [(r["row"], r["reason"]) for r in answer["rejected"]] == [
        (2, "out_of_stock"),
        (3, "blocked_item"),
        (4, "out_of_stock"),
    ]
    short, _, boxes = answer["rejected"]
    assert 0 <= short["available"] < 1000 and f"{short['available']:g} available" in short["detail"]
    assert 0 <= boxes["available"] < 1000 and boxes["available"] == int(boxes["available"])


async def test_a_row_in_boxes_is_priced_per_box(importer: Any) -> None:
    _, cart = importer

    def form(book: Any) -> None:
        book["Order"].append(["Item", "Quantity", "Unit"])
        book["Order"].append(["1100", 48, "BOTTLE" if importer[0] == "navision" else "шт"])
        book["Order"].append(["1100", 2, "BOX"])

    bottles, boxes = (await cart.import_excel("10000", workbook(form)))["lines"]
    assert boxes["price"] == pytest.approx(bottles["price"] * 24, rel=0.01)
    assert boxes["amount"] == pytest.approx(bottles["amount"], rel=0.01)


async def test_a_customer_who_may_not_order_gets_no_cart(importer: Any) -> None:
    _, cart = importer
    encoded = workbook(lambda book: book["Order"].append(["Item", "Quantity"]))
    with pytest.raises(InvalidParams) as refused:
        await cart.import_excel("40000", encoded)  # NAV: blocked; 1C: marked for deletion
    [field] = refused.value.data["fields"]
    assert field["field"] == "customer" and field["type"] in (
        "customer_blocked",
        "customer_deleted",
    )


async def test_a_merged_cell_belongs_to_its_top_left_cell(importer: Any) -> None:
    _, cart = importer

    def form(book: Any) -> None:
        sheet = book["Order"]
        sheet.append(["Item", "Quantity"])
        sheet.append(["1000", 6])
        sheet.append([None, 12])
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
