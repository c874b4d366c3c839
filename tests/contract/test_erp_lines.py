"""Each ERP's ``order.lines`` against its simulator: the ERP order's lines become the CRM's.

The order is created by ``sales_order.create``; ``order.lines`` then gets what its route hands
it (the journal's references of the order, the CRM's order as read). Lines that already match
write nothing; NAV deletes the lines that differ and posts the missing ones (a repeat after a
lost answer converges), 1C replaces ``Товары`` and posts the order again.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bus.adapters import Delivery, Receipt
from bus.errors import UnknownOutcome
from schemas.order_sync import OrderReferences
from schemas.steps import OrderReceipt
from tests.contract.erps import COMPANY, Nav, Onec
from tests.contract.pairs import new_id, new_order

#: The order as created: 30 bottles of Bordeaux, 2 boxes of Rioja (each item's sales unit).
CREATED = [
    {"item": "1000", "quantity": 30.0, "unit": None},
    {"item": "1002", "quantity": 2.0, "unit": None},
]


def _lines_delivery(
    order: dict[str, Any], created: Receipt, lines: list[dict[str, Any]]
) -> Delivery:
    """``order.lines`` as its route hands it: the ERP order found, the CRM's lines read."""
    references = OrderReferences(
        order_id=order["order_id"],
        made_by=new_id(),
        erp_number=created.reference,
        erp_key=str(created.details.get("ref_key") or created.reference),
        crm_reference="42",
    )
    read = {"order_id": order["order_id"], "status": "in_progress", "lines": lines}
    previous = {"order": read, **references.as_fact()}
    return Delivery(new_id(), "order.lines", {"deal_id": 42}, previous)


async def _created(adapter: Any) -> tuple[dict[str, Any], Receipt]:
    order = new_order(lines=CREATED)
    return order, await adapter.deliver(Delivery(new_id(), "sales_order.create", order))


async def _writes(control: httpx.AsyncClient, base: str) -> list[tuple[str, str]]:
    """The requests the simulator received that were not reads."""
    received = (await control.get(f"{base}/_control/received")).raise_for_status().json()
    return [(r["method"], r["path"]) for r in received["requests"] if r["method"] != "GET"]


async def _nav_lines(nav: Nav, number: str) -> list[tuple[str, float, str]]:
    response = await nav.control.get(
        f"{nav.base}/{COMPANY}/SalesOrder(Document_Type='Order',No='{number}')/SalesOrderSalesLines",
        auth=("bus", "bus-secret"),
    )
    lines = response.raise_for_status().json()["value"]
    return sorted((li["No"], li["Quantity"], li["Unit_of_Measure_Code"]) for li in lines)


async def test_navision_changes_only_the_lines_that_differ(nav: Nav) -> None:
    order, created = await _created(nav.adapter)
    # As the CRM shows the order (the ERP's units), one line's quantity edited.
    edited = [
        {"item": "1000", "quantity": 24.0, "unit": "BOTTLE", "price": 13.5},
        {"item": "1002", "quantity": 2.0, "unit": "box", "price": 67.2},
    ]
    await nav.control.delete(f"{nav.base}/_control/received")
    receipt = await nav.adapter.deliver(_lines_delivery(order, created, edited))

    assert receipt.details["erp_lines"] == "changed"
    assert (receipt.details["lines_removed"], receipt.details["lines_added"]) == (1, 1)
    assert await _nav_lines(nav, created.reference) == [
        ("1000", 24.0, "BOTTLE"),
        ("1002", 2.0, "BOX"),
    ]
    writes = await _writes(nav.control, nav.base)
    assert [method for method, _ in writes] == ["DELETE", "POST"]
    assert all("SalesOrderSalesLines" in path for _, path in writes)

    # The same lines again (an event that changed no line, a repeat): read, nothing written.
    await nav.control.delete(f"{nav.base}/_control/received")
    again = await nav.adapter.deliver(_lines_delivery(order, created, edited))
    assert again.details["erp_lines"] == "unchanged"
    assert await _writes(nav.control, nav.base) == []


async def test_navision_converges_after_a_lost_answer(nav: Nav) -> None:
    order, created = await _created(nav.adapter)
    edited = [
        {"item": "1000", "quantity": 30.0, "unit": "BOTTLE"},
        {"item": "1002", "quantity": 5.0, "unit": "BOX"},
    ]
    fault = {
        "mode": "drop_after_commit",
        "times": 1,
        "match": "/SalesOrderSalesLines",
        "methods": ["POST"],
    }
    (await nav.control.post(f"{nav.base}/_control/faults", json=fault)).raise_for_status()
    delivery = _lines_delivery(order, created, edited)
    with pytest.raises(UnknownOutcome):
        await nav.adapter.deliver(delivery)

    receipt = await nav.adapter.deliver(delivery)  # the next attempt reads what landed
    assert receipt.details["erp_lines"] == "unchanged"
    assert await _nav_lines(nav, created.reference) == [
        ("1000", 30.0, "BOTTLE"),
        ("1002", 5.0, "BOX"),
    ]


async def test_navision_keeps_the_lines_of_a_crm_order_without_any(nav: Nav) -> None:
    order, created = await _created(nav.adapter)
    await nav.control.delete(f"{nav.base}/_control/received")
    receipt = await nav.adapter.deliver(_lines_delivery(order, created, []))
    assert receipt.details["erp_lines"] == "kept: the CRM's order has no lines"
    assert await _writes(nav.control, nav.base) == []
    assert len(await _nav_lines(nav, created.reference)) == 2


async def _onec_order(onec: Onec, ref_key: str) -> dict[str, Any]:
    found: dict[str, Any] = await onec.odata(f"Document_ЗаказКлиента(guid'{ref_key}')")
    return found


async def test_onec_replaces_the_rows_and_posts_the_order_again(onec: Onec) -> None:
    order, created = await _created(onec.adapter)
    ref_key = created.details["ref_key"]
    before = await _onec_order(onec, ref_key)
    assert before["Posted"] is True
    units = {line.item: line.unit for line in _receipt_lines(created)}
    edited = [
        {"item": "1000", "quantity": 18.0, "unit": units["1000"], "price": 13.5},
        {"item": "1002", "quantity": 2.0, "unit": units["1002"], "price": 11.2},
    ]
    await onec.control.delete(f"{onec.base}/_control/received")
    receipt = await onec.adapter.deliver(_lines_delivery(order, created, edited))

    assert receipt.details["erp_lines"] == "changed"
    after = await _onec_order(onec, ref_key)
    rows = sorted(after["Товары"], key=lambda row: int(row["LineNumber"]))
    assert [(row["LineNumber"], row["Количество"]) for row in rows] == [("1", 18), ("2", 2)]
    assert [row["Номенклатура_Key"] for row in rows] == [
        row["Номенклатура_Key"] for row in sorted(before["Товары"], key=_line_number)
    ]
    assert rows[0]["Сумма"] == pytest.approx(18 * rows[0]["Цена"])  # 1C priced it
    assert after["Posted"] is True
    writes = await _writes(onec.control, onec.base)
    assert [method for method, _ in writes] == ["PATCH", "POST"]
    assert writes[-1][1].endswith("/Post")

    await onec.control.delete(f"{onec.base}/_control/received")
    again = await onec.adapter.deliver(_lines_delivery(order, created, edited))
    assert again.details["erp_lines"] == "unchanged"
    assert await _writes(onec.control, onec.base) == []


async def test_onec_leaves_an_order_marked_for_deletion(onec: Onec) -> None:
    order, created = await _created(onec.adapter)
    ref_key = created.details["ref_key"]
    response = await onec.control.patch(
        f"{onec.base}/b2b/odata/standard.odata/Document_ЗаказКлиента(guid'{ref_key}')",
        params={"$format": "json"},
        json={"DeletionMark": True},
        auth=("bus", "bus-secret"),
    )
    response.raise_for_status()
    await onec.control.delete(f"{onec.base}/_control/received")
    edited = [{"item": "1000", "quantity": 1.0, "unit": None}]
    receipt = await onec.adapter.deliver(_lines_delivery(order, created, edited))
    assert receipt.details["erp_lines"] == "kept: the order is marked for deletion"
    assert await _writes(onec.control, onec.base) == []


def _line_number(row: dict[str, Any]) -> int:
    return int(row["LineNumber"])


def _receipt_lines(created: Receipt) -> list[Any]:
    receipt = OrderReceipt.from_fact(created.details[OrderReceipt.KEY])
    assert receipt is not None
    return list(receipt.lines)
