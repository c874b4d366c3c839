"""A merge names orders of its customer: end to end with each ERP.

An order the bus journaled for another customer (submitted through it, or made by a merge) in a
merge's ``orders`` or as its ``new_order`` is refused at accept, naming the field; nothing is
journaled and the storefront's orders stay. An order id the bus never journaled is the ERP's own
(the storefront's seeded A-1001 and A-1002 of customer 20000 stand for those): it passes, and the
storefront, which holds the customer's orders, merges them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.settings import DEV_KEYS
from tests.e2e.conftest import running, wait_until
from tests.e2e.test_cli import cli_json
from tests.e2e.test_systems import TIMINGS, _call, _submit
from tests.e2e.test_unknown_orders import EVERY_ERP, _storefront_orders
from tests.support.processes import Stack

#: The storefront's customer with orders A-1001 and A-1002 (seeded: the bus never saw them).
CUSTOMER = "20000"


@pytest.fixture(params=EVERY_ERP, ids="-".join)
def stack(request: pytest.FixtureRequest, log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    erp, crm = request.param
    env = {"BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}", **TIMINGS}
    yield from running(Stack(env, log_dir, erp=erp, crm=crm, simulators=(erp, crm, "storefront")))


def _merge(
    stack: Stack, orders: list[str], new_order_id: str = "A-1003", **more: Any
) -> dict[str, Any]:
    """The ERP's accepted merge of ``orders`` for ``CUSTOMER``: the whole answer."""
    params = {
        **more,
        "customer": CUSTOMER,
        "orders": orders,
        "outcome": "accepted",
        "new_order": {
            "order_id": new_order_id,
            "erp_number": "SO-9001",
            "status": "created_in_reserve",
            "lines": [{"item": "1000", "quantity": 24}],
        },
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "order.merge", "params": params}
    headers = {"Authorization": f"Bearer {DEV_KEYS['erp']}"}
    answer: dict[str, Any] = httpx.post(
        f"{stack.api_url}/rpc", json=body, headers=headers, timeout=30
    ).json()
    return answer


def test_a_merge_naming_another_customers_order_is_refused(stack: Stack) -> None:
    _, theirs = _submit(stack, customer="10000")
    stranger = theirs["order_id"]

    in_orders = _merge(stack, ["A-1001", stranger])["error"]
    assert in_orders["code"] == -32602, in_orders
    [field] = in_orders["data"]["fields"]
    assert (field["field"], field["type"]) == ("orders.1", "foreign_order")
    assert stranger in field["message"] and "10000" in field["message"]

    as_new = _merge(stack, ["A-1001", "A-1002"], new_order_id=stranger)["error"]
    assert as_new["code"] == -32602, as_new
    assert [f["field"] for f in as_new["data"]["fields"]] == ["new_order.order_id"]

    # Nothing journaled, nothing merged.
    assert cli_json(stack, "messages", "list", "--method", "order.merge") == []
    assert {"A-1001", "A-1002"} <= set(_storefront_orders(stack))


def test_the_erps_own_orders_and_the_customers_are_merged(stack: Stack) -> None:
    # A-1001 and A-1002 are the ERP's own orders to the bus; the new order is then the
    # customer's, and the merge sent again (its new order known now) is the same message.
    merged = _merge(stack, ["A-1001", "A-1002"], idempotency_key="merge-1")["result"]
    wait_until(lambda: "A-1003" in _storefront_orders(stack), stack, 30, "the merged order")
    orders = _storefront_orders(stack)
    assert orders["A-1003"]["merged_from"] == ["A-1001", "A-1002"]
    assert "A-1001" not in orders
    again = _merge(stack, ["A-1001", "A-1002"], idempotency_key="merge-1")
    assert again["result"]["message_id"] == merged["message_id"], again

    # A merge of the customer's orders the bus knows (one submitted, one made by the merge).
    _, own = _submit(stack, customer=CUSTOMER)
    other = _call(
        stack,
        "erp",
        "order.merge",
        {"customer": CUSTOMER, "orders": ["A-1003", own["order_id"]], "outcome": "rejected"},
    )
    assert other["message_id"] != merged["message_id"]
