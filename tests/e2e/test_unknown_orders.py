"""The ERP's status change of an order the bus never saw, end to end with each ERP.

The storefront makes an ``order.update`` of an order it does not have a new order, so a status
change of an order that was neither submitted through the bus nor made by an accepted
``order.merge`` would become a phantom order. The bus refuses it at accept (``-32602`` naming
``order_id``), journals and sends nothing; the ERP sends it again once the order is known (the
merge that made it accepted). An order the bus knows, by its submit or by its merge, still hears.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.settings import DEV_KEYS
from tests.e2e.conftest import running, wait_until
from tests.e2e.test_cli import cli_json
from tests.e2e.test_provisioning import _steps_delivered
from tests.e2e.test_systems import TIMINGS, _both_steps_delivered, _call, _submit
from tests.support.processes import BusClient, Stack

#: Each ERP, with one CRM each (the refusal is the bus's, before any system is asked).
EVERY_ERP = [("navision", "bitrix24"), ("onec", "creatio")]


@pytest.fixture(params=EVERY_ERP, ids="-".join)
def stack(request: pytest.FixtureRequest, log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    erp, crm = request.param
    env = {"BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}", **TIMINGS}
    yield from running(Stack(env, log_dir, erp=erp, crm=crm, simulators=(erp, crm, "storefront")))


def _refusal(stack: Stack, params: dict[str, Any]) -> dict[str, Any]:
    """The ERP's ``order.status_changed`` call; its JSON-RPC error (there must be one)."""
    client = BusClient(stack.api_url, DEV_KEYS["erp"])
    try:
        answer = client.http.post(
            f"{stack.api_url}/rpc",
            json={"jsonrpc": "2.0", "id": 7, "method": "order.status_changed", "params": params},
        ).json()
    finally:
        client.close()
    assert "error" in answer, answer
    error: dict[str, Any] = answer["error"]
    return error


def _storefront_orders(stack: Stack) -> dict[str, dict[str, Any]]:
    url = f"{stack.urls['storefront']}/_control/storefront/orders"
    return {o["order_id"]: o for o in httpx.get(url).json()["orders"]}


def _merge(stack: Stack, new_order_id: str) -> dict[str, Any]:
    merged: dict[str, Any] = _call(
        stack,
        "erp",
        "order.merge",
        {
            "customer": "20000",
            "orders": ["A-1001", "A-1002"],
            "outcome": "accepted",
            "new_order": {
                "order_id": new_order_id,
                "erp_number": "SO-9001",
                "status": "created_in_reserve",
                "lines": [{"item": "1000", "quantity": 24}],
            },
        },
    )
    return merged


def _assert_refused(error: dict[str, Any], order_id: str) -> None:
    assert error["code"] == -32602, error
    [field] = error["data"]["fields"]
    assert (field["field"], field["type"]) == ("order_id", "unknown_order")
    assert order_id in field["message"] and "order.merge" in field["message"]
    assert error["data"]["order_id"] == order_id


def test_a_status_change_of_an_order_the_bus_never_saw_is_refused_and_nothing_is_sent(
    stack: Stack,
) -> None:
    phantom = f"ERP-ONLY-{uuid.uuid4().hex[:6]}"
    error = _refusal(stack, {"order_id": phantom, "status": "shipped", "idempotency_key": "s-1"})
    _assert_refused(error, phantom)
    # Nothing journaled (an operator's listing shows no such message), nothing sent.
    listed = cli_json(stack, "messages", "list", "--method", "order.status_changed")
    assert listed == []
    assert phantom not in _storefront_orders(stack)
    calls = httpx.get(
        f"{stack.urls['storefront']}/_control/storefront/calls", params={"method": "order.update"}
    ).json()["calls"]
    assert calls == []


def test_a_submitted_orders_status_change_still_reaches_the_storefront(stack: Stack) -> None:
    message_id, order = _submit(stack)
    _both_steps_delivered(stack, message_id)
    shipped = _call(
        stack, "erp", "order.status_changed", {"order_id": order["order_id"], "status": "shipped"}
    )
    _steps_delivered(stack, shipped["message_id"], steps=4)  # the storefront, then the CRM
    assert _storefront_orders(stack)[order["order_id"]]["status"] == "shipped"


def test_an_order_known_only_by_its_merge_hears_its_status_and_is_refused_before_it(
    stack: Stack,
) -> None:
    """The ERP's change of a merged order that overtook its merge is refused; sent again once
    the merge is accepted, it reaches the storefront after the merge."""
    change = {"order_id": "A-1003", "status": "provided", "idempotency_key": "a-1003/provided"}
    _assert_refused(_refusal(stack, change), "A-1003")
    assert "A-1003" not in _storefront_orders(stack)

    merged = _merge(stack, "A-1003")
    provided = _call(stack, "erp", "order.status_changed", change)  # the ERP's retry
    _steps_delivered(stack, merged["message_id"], steps=9)  # with its CRM steps
    _steps_delivered(stack, provided["message_id"], steps=4)  # the storefront, then the CRM
    orders = _storefront_orders(stack)
    assert orders["A-1003"]["merged_from"] == ["A-1001", "A-1002"]
    assert orders["A-1003"]["status"] == "provided"
    wait_until(lambda: "A-1001" not in _storefront_orders(stack), stack, 5, "the merged orders")
