"""Each ERP's order receipt: the units, unit prices, line amounts and total the ERP applied.

``sales_order.create`` sends a line's unit the way the ERP takes it (NAV's
``Unit_of_Measure_Code``, 1C's unit of the item with its ``Коэффициент``) and answers the ERP's
order as an :class:`~schemas.steps.OrderReceipt`; a lookup after a lost answer gives the same
receipt. ``order.quote`` prices the same lines without an order, as the order would be priced.
"""

from __future__ import annotations

from typing import Any

import pytest

from bus.adapters import Delivery
from bus.errors import PermanentError
from schemas.steps import OrderReceipt
from tests.contract.erps import COMPANY, Nav, Onec
from tests.contract.pairs import new_id, new_order

#: Two boxes of Rioja (six bottles each) and six bottles of Bordeaux in the item's own unit.
LINES = [
    {"item": "1002", "quantity": 2.0, "unit": "BOX"},
    {"item": "1000", "quantity": 6.0, "unit": None},
]


def _receipt(details: dict[str, Any]) -> OrderReceipt:
    receipt = OrderReceipt.from_fact(details[OrderReceipt.KEY])
    assert receipt is not None
    return receipt


async def test_navision_takes_the_unit_and_answers_its_prices(nav: Nav) -> None:
    delivery = Delivery(new_id(), "sales_order.create", new_order(lines=LINES))
    receipt = _receipt((await nav.adapter.deliver(delivery)).details)
    response = await nav.control.get(
        f"{nav.base}/{COMPANY}/SalesOrder",
        params={
            "$filter": f"External_Document_No eq '{delivery.message_id}'",
            "$expand": "SalesOrderSalesLines",
        },
        auth=("bus", "bus-secret"),
    )
    [order] = response.raise_for_status().json()["value"]
    assert (receipt.system, receipt.number, receipt.currency) == ("navision", order["No"], "LCY")
    assert [
        (line.item, line.quantity, line.unit, line.price, line.amount) for line in receipt.lines
    ] == [
        (li["No"], li["Quantity"], li["Unit_of_Measure_Code"], li["Unit_Price"], li["Line_Amount"])
        for li in order["SalesOrderSalesLines"]
    ]
    # Two boxes, not two bottles: the box's price is six bottles' (the list price, 11.20).
    assert [(line.unit, line.price) for line in receipt.lines] == [("BOX", 67.2), ("BOTTLE", 13.5)]
    assert receipt.total == order["Amount"] == 215.4

    found = await nav.adapter.lookup(delivery)  # an attempt whose answer was lost
    assert found is not None and _receipt(found.details) == receipt


async def test_navision_refuses_a_unit_the_item_has_not(nav: Nav) -> None:
    lines = [{"item": "1000", "quantity": 1.0, "unit": "BOX"}]
    with pytest.raises(PermanentError) as refused:
        await nav.adapter.deliver(Delivery(new_id(), "sales_order.create", new_order(lines=lines)))
    assert "Item Unit of Measure" in refused.value.detail


async def test_a_navision_quote_prices_the_lines_as_an_order_would(nav: Nav) -> None:
    order = new_order(lines=LINES)
    quoted = await nav.adapter.deliver(Delivery(new_id(), "order.quote", order))
    ordered = await nav.adapter.deliver(Delivery(new_id(), "sales_order.create", order))
    quote = _receipt(quoted.details)
    assert quote.number is None and "erp_order_no" not in quoted.details
    assert quote.lines == _receipt(ordered.details).lines
    assert quote.total == _receipt(ordered.details).total
    assert await nav.adapter.lookup(Delivery(new_id(), "order.quote", order)) is None


async def test_onec_takes_the_unit_with_its_coefficient_and_answers_its_prices(onec: Onec) -> None:
    delivery = Delivery(new_id(), "sales_order.create", new_order(lines=LINES))
    receipt = _receipt((await onec.adapter.deliver(delivery)).details)
    found = await onec.odata(
        "Document_ЗаказКлиента", **{"$filter": f"НомерПоДаннымКлиента eq '{delivery.message_id}'"}
    )
    [order] = found["value"]
    rows = order["Товары"]
    box = (await onec.odata("Catalog_ЕдиницыИзмерения", **{"$filter": "Code eq 'BOX'"}))["value"]
    [rioja_box] = [u for u in box if u["Owner_Key"] == rows[0]["Номенклатура_Key"]]
    assert (rows[0]["ЕдиницаИзмерения_Key"], rows[0]["Коэффициент"]) == (rioja_box["Ref_Key"], 6)
    assert rows[1]["ЕдиницаИзмерения_Key"] == "00000000-0000-0000-0000-000000000000"
    assert (receipt.system, receipt.number, receipt.currency) == ("onec", order["Number"], "RUB")
    assert [
        (line.item, line.quantity, line.unit, line.price, line.amount) for line in receipt.lines
    ] == [
        # Six bottles at the Rioja promotion's 1080 make a box; Bordeaux at 10000's own price.
        ("1002", 2, "BOX", 6480, 12960),
        ("1000", 6, "шт", 1350, 8100),
    ]
    assert receipt.total == order["СуммаДокумента"] == 21060

    again = await onec.adapter.lookup(delivery)
    assert again is not None and _receipt(again.details) == receipt


@pytest.mark.parametrize(
    ("unit", "refused"),
    [("BOX", "no unit 'BOX' of item '1000'"), ("PALLET", "no unit 'PALLET' of item '1000'")],
)
async def test_onec_refuses_a_unit_the_item_has_not(onec: Onec, unit: str, refused: str) -> None:
    lines = [{"item": "1000", "quantity": 1.0, "unit": unit}]
    with pytest.raises(PermanentError) as error:
        await onec.adapter.deliver(Delivery(new_id(), "sales_order.create", new_order(lines=lines)))
    assert refused in error.value.detail


async def test_onec_takes_the_base_unit_by_its_name(onec: Onec) -> None:
    lines = [{"item": "1000", "quantity": 2.0, "unit": "шт"}]
    delivery = Delivery(new_id(), "sales_order.create", new_order(lines=lines))
    receipt = _receipt((await onec.adapter.deliver(delivery)).details)
    assert [(line.unit, line.price) for line in receipt.lines] == [("шт", 1350)]


async def test_a_onec_quote_prices_the_lines_as_an_order_would(onec: Onec) -> None:
    order = new_order(lines=LINES)
    quoted = await onec.adapter.deliver(Delivery(new_id(), "order.quote", order))
    ordered = await onec.adapter.deliver(Delivery(new_id(), "sales_order.create", order))
    quote = _receipt(quoted.details)
    assert quote.number is None and "erp_order_no" not in quoted.details
    assert quote.lines == _receipt(ordered.details).lines
    assert quote.total == _receipt(ordered.details).total == 21060
    unknown = new_order(lines=[{"item": "1000", "quantity": 1.0, "unit": "BOX"}])
    with pytest.raises(PermanentError):
        await onec.adapter.deliver(Delivery(new_id(), "order.quote", unknown))
