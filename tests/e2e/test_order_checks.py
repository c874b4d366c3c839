"""Customers and items are checked before anything is sent, end to end with every ERP and CRM.

An order of a customer deactivated by the CRM, blocked or marked for deletion in the ERP or unknown
to it, or with a line the ERP's item table would not take (an unknown or blocked item, a unit the
item does not have, a quantity that is not whole packs), is refused at accept with ``-32602``
naming every wrong field, on every route (the CRM-only route of a customer with contracts too,
where no ERP order would have refused it), and nothing of it reaches the ERP, the CRM or the
manager. A line's product type is the ERP's item category: a storefront that says otherwise is
corrected (and told so in ``adjusted``), so wine never goes under the water contract.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import openpyxl
import pytest

from tests.e2e.conftest import EVERY_PAIR, running, stack_dir
from tests.e2e.test_order_identity import _crm_orders, _erp_orders, _manager_mails, _rpc
from tests.e2e.test_provisioning import _steps_delivered
from tests.e2e.test_segments import CONTRACTS, _provision
from tests.e2e.test_systems import TIMINGS, _call
from tests.support.processes import Stack

LICENSED, BY_CONTRACT, BLOCKED = "10000", "50000", "40000"
#: What the ERP says of item 1005: NAV blocks it, 1C marked it for deletion.
GONE = {"navision": "item_blocked", "onec": "item_deleted"}
CUSTOMER_GONE = {"navision": "customer_blocked", "onec": "customer_deleted"}


@pytest.fixture(scope="module", params=EVERY_PAIR, ids="-".join)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One deployment per pair for the module, customers 10000 and 50000 provisioned: the test
    that deactivates 10000 provisions it again, the other orders for 50000 only."""
    erp, crm = request.param
    base = stack_dir(tmp_path_factory, f"{erp}-{crm}")
    env = {
        "BUS_DATABASE_URL": f"sqlite+aiosqlite:///{base / 'bus.db'}",
        "BUS_DIRECTORY_TTL": "0.2",  # a deactivation is seen by the next order
        **TIMINGS,
    }
    simulators = (erp, crm, "storefront", "mail")
    stack = Stack(env, base / "logs", erp=erp, crm=crm, simulators=simulators)
    for provisioned in running(stack):
        for erp_key in (LICENSED, BY_CONTRACT):
            _provision(provisioned, erp_key)
        yield provisioned


def _refused(stack: Stack, order: dict[str, Any]) -> list[tuple[str, str]]:
    [answer] = _rpc(stack, [order])
    assert answer.get("error", {}).get("code") == -32602, answer
    return [(f["field"], f["type"]) for f in answer["error"]["data"]["fields"]]


def test_orders_the_erp_or_the_directory_would_refuse_are_refused_at_accept(stack: Stack) -> None:
    wrong_lines = [
        {"item": "1000", "quantity": 6},
        {"item": "NOPE", "quantity": 1},
        {"item": "1005", "quantity": 1},
        {"item": "1001", "quantity": 1, "unit": "CRATE"},
        {"item": "1100", "quantity": 30, "unit": "BOTTLE" if stack.erp == "navision" else "шт"},
    ]
    expected = [
        ("lines.1.item", "unknown_item"),
        ("lines.2.item", GONE[stack.erp]),
        ("lines.3.unit", "unknown_unit"),
        ("lines.4.quantity", "pack_size"),
    ]
    # Both routes: the ERP's, and the CRM-only one of a customer with contracts.
    for n, customer in enumerate((LICENSED, BY_CONTRACT)):
        order = {"order_id": f"BAD-{n}", "customer": customer, "lines": wrong_lines}
        assert _refused(stack, order) == expected
    blocked = {"order_id": "BAD-3", "customer": BLOCKED, "lines": wrong_lines[:1]}
    assert _refused(stack, blocked) == [("customer", CUSTOMER_GONE[stack.erp])]
    unknown = {"order_id": "BAD-4", "customer": "NOBODY", "lines": wrong_lines[:1]}
    assert _refused(stack, unknown) == [("customer", "customer_unknown")]

    # A deactivated customer: refused until the CRM provisions it again.
    deactivated = _call(stack, "crm", "account.deactivate", {"erp_key": LICENSED})
    _steps_delivered(stack, deactivated["message_id"], steps=3)
    after = {"order_id": "BAD-5", "customer": LICENSED, "lines": wrong_lines[:1]}
    assert _refused(stack, after) == [("customer", "customer_deactivated")]
    _provision(stack, LICENSED)
    [again] = _rpc(stack, [after])
    assert again.get("result", {}).get("status") == "accepted", again

    for n in range(5):
        assert _erp_orders(stack, f"BAD-{n}") == 0
        assert _crm_orders(stack, f"BAD-{n}") == 0
        assert _manager_mails(stack, f"BAD-{n}") == []


def test_the_contract_of_a_line_is_its_items_erp_category(stack: Stack) -> None:
    """The storefront calls the wine water: the ERP says wine, and wine is bought under the
    alcohol contract."""
    lines = [
        {"item": "1000", "quantity": 6, "product_type": "water"},
        {"item": "1100", "quantity": 1, "unit": "BOX"},  # no product type said: the ERP's
    ]
    [answer] = _rpc(stack, [{"order_id": "PT-1", "customer": BY_CONTRACT, "lines": lines}])
    result = answer["result"]
    assert {o["contract"]["number"]: o["lines"] for o in result["orders"]} == {
        CONTRACTS[stack.erp]["alcohol"]: 1,
        CONTRACTS[stack.erp]["water"]: 1,
    }
    [moved] = [a for a in result["adjusted"] if a["field"] == "lines.0.product_type"]
    assert (moved["from"], moved["to"]) == ("water", "alcohol")
    _steps_delivered(stack, result["message_id"], steps=7)


def test_the_excel_cart_applies_the_orders_rules_and_the_erps_stock(stack: Stack) -> None:
    """The cart takes what order.submit takes: whole packs, the ERP's stock (1C's too, with what
    can be had offered), each row priced in its own unit."""
    bottles = "BOTTLE" if stack.erp == "navision" else "шт"
    book = openpyxl.Workbook()
    for row in (
        ["Item", "Quantity", "Unit"],
        ["1100", 2, bottles],  # 2: water comes in boxes of 24
        ["1200", 1000, None],  # more corkscrews than the ERP has
        ["1100", 48, bottles],  # two boxes' worth, counted in bottles
        ["1100", 2, "BOX"],  # the same two boxes
    ):
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    cart = _call(
        stack,
        "storefront",
        "cart.import_excel",
        {"customer": LICENSED, "workbook": base64.b64encode(out.getvalue()).decode()},
    )
    packs, stock = cart["rejected"]
    assert (packs["row"], packs["reason"]) == (2, "pack_size")
    assert (stock["row"], stock["reason"]) == (3, "out_of_stock")
    assert 0 < stock["available"] < 1000
    in_bottles, in_boxes = cart["lines"]
    assert in_boxes["price"] == pytest.approx(in_bottles["price"] * 24, rel=0.01)
    assert in_boxes["amount"] == pytest.approx(in_bottles["amount"], rel=0.01)
    # What the cart took, order.submit takes.
    lines = [
        {"item": line["item"], "quantity": line["quantity"], "unit": line["unit"]}
        for line in cart["lines"]
    ]
    [answer] = _rpc(stack, [{"order_id": "CART-1", "customer": LICENSED, "lines": lines}])
    assert answer["result"]["status"] in ("accepted", "delivered"), answer
