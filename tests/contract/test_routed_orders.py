"""Every step of an order reads the routed order as its type (``schemas.steps.RoutedOrder``).

A payload that is not a routed order (a line without its unit or quantity) and an ERP receipt
without a price are refused for good, naming the field, before anything is sent: not an ERP
order line in the item's default unit, nor a CRM row at price 0. An order journaled before the
order was typed reads as it did, and is written back the same.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from bus.adapters.base import Adapter, Delivery
from bus.adapters.bitrix24 import Bitrix24Adapter
from bus.adapters.creatio import CreatioAdapter
from bus.adapters.mail import MailAdapter
from bus.adapters.navision import NavisionAdapter
from bus.adapters.onec import OnecAdapter
from bus.adapters.orders import routed_order
from bus.errors import PermanentError
from bus.order_routing import plan_order
from bus.settings import (
    Bitrix24Settings,
    CreatioSettings,
    MailSettings,
    NavisionSettings,
    OnecSettings,
    Settings,
)
from schemas.steps import CustomerProfile, RoutedOrder
from tests.contract.pairs import BREAKER, RETRY, erp_result, new_id, new_order

NOWHERE = "http://127.0.0.1:9"

#: Every adapter operation that reads an order's payload, and how to build its adapter.
ORDER_STEPS: dict[str, tuple[str, Callable[[httpx.AsyncClient], Adapter]]] = {
    "navision:sales_order.create": (
        "sales_order.create",
        lambda client: NavisionAdapter(
            NavisionSettings(url=NOWHERE, retry=RETRY, breaker=BREAKER), client
        ),
    ),
    "navision:order.quote": (
        "order.quote",
        lambda client: NavisionAdapter(
            NavisionSettings(url=NOWHERE, retry=RETRY, breaker=BREAKER), client
        ),
    ),
    "onec:sales_order.create": (
        "sales_order.create",
        lambda client: OnecAdapter(OnecSettings(url=NOWHERE, retry=RETRY, breaker=BREAKER), client),
    ),
    "onec:order.quote": (
        "order.quote",
        lambda client: OnecAdapter(OnecSettings(url=NOWHERE, retry=RETRY, breaker=BREAKER), client),
    ),
    "bitrix24:order.create": (
        "order.create",
        lambda client: Bitrix24Adapter(
            Bitrix24Settings(
                webhook_url=f"{NOWHERE}/rest/1/code",  # type: ignore[arg-type]  # coerced
                retry=RETRY,
                breaker=BREAKER,
            ),
            client,
        ),
    ),
    "creatio:order.create": (
        "order.create",
        lambda client: CreatioAdapter(
            CreatioSettings(url=NOWHERE, retry=RETRY, breaker=BREAKER), client
        ),
    ),
    "mail:mail.order_waiting": (
        "mail.order_waiting",
        lambda client: MailAdapter(
            MailSettings(host="127.0.0.1", port=9, retry=RETRY, breaker=BREAKER)
        ),
    ),
}


@pytest.fixture
async def sent() -> AsyncIterator[tuple[httpx.AsyncClient, list[httpx.Request]]]:
    """An HTTP client that records every request and answers none of them usefully."""
    requests: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(599)

    async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as client:
        yield client, requests


async def _perform(adapter: Adapter, delivery: Delivery) -> None:
    """A step as the worker performs it: its intended state first, then the delivery."""
    adapter.intended_state(delivery)
    await adapter.deliver(delivery)


def _order(**overrides: Any) -> dict[str, Any]:
    order = new_order(
        lines=[
            {"item": "1002", "quantity": 2.0, "unit": "BOX", "product_type": None},
            {"item": "1000", "quantity": 6.0, "unit": None, "product_type": None},
        ],
        manager={"name": "Irina", "email": "irina@b2b.example"},
        **overrides,
    )
    return order


def _without(order: dict[str, Any], field: str) -> dict[str, Any]:
    """``order`` without the field at the dotted path ``field`` (``lines.1.unit``)."""
    broken = copy.deepcopy(order)
    *path, name = field.split(".")
    parent: Any = broken
    for part in path:
        parent = parent[int(part)] if isinstance(parent, list) else parent[part]
    del parent[name]
    return broken


@pytest.mark.parametrize("field", ["lines.1.unit", "lines.0.quantity", "lines.0.item", "customer"])
@pytest.mark.parametrize("step", list(ORDER_STEPS))
async def test_an_order_without_a_field_is_refused_naming_it_and_nothing_is_sent(
    step: str, field: str, sent: tuple[httpx.AsyncClient, list[httpx.Request]]
) -> None:
    client, requests = sent
    operation, build = ORDER_STEPS[step]
    order = _order()
    delivery = Delivery(new_id(), operation, _without(order, field), previous=erp_result(order))
    with pytest.raises(PermanentError) as refused:
        await _perform(build(client), delivery)
    assert f"{field}: Field required" in str(refused.value)
    assert delivery.message_id in str(refused.value)
    assert requests == []


@pytest.mark.parametrize("field", ["lines.0.price", "lines.1.unit", "lines.0.amount"])
@pytest.mark.parametrize(
    "step", [s for s in ORDER_STEPS if s.split(":")[0] in {"bitrix24", "creatio"}]
)
async def test_a_crm_order_from_a_receipt_without_a_price_or_unit_is_refused_naming_it(
    step: str, field: str, sent: tuple[httpx.AsyncClient, list[httpx.Request]]
) -> None:
    client, requests = sent
    operation, build = ORDER_STEPS[step]
    order = _order()
    previous = erp_result(order)
    previous["erp_receipt"] = _without(previous["erp_receipt"], field)
    delivery = Delivery(new_id(), operation, order, previous=previous)
    with pytest.raises(PermanentError) as refused:
        await _perform(build(client), delivery)
    assert f"{field}: Field required" in str(refused.value)
    assert requests == []


def test_a_quantity_that_is_no_quantity_is_named() -> None:
    order = _order()
    order["lines"][1]["quantity"] = 0
    with pytest.raises(PermanentError, match=r"lines\.1\.quantity: Input should be greater"):
        routed_order(Delivery(new_id(), "sales_order.create", order))


#: Orders as they were journaled before the routed order was a type (bus.order_routing's dicts):
#: a licensed customer's (to the licence address, its manager), one of a split cart (pick-up
#: under a contract, its parent), one without a manager (why), one without delivery wishes.
JOURNALED = [
    {
        "order_id": "W-1",
        "customer": "20000",
        "lines": [{"item": "1000", "quantity": 12.0, "unit": "BOX", "product_type": "alcohol"}],
        "delivery": {"date": "2026-12-01", "address": "Moscow, Tverskaya 1"},
        "comment": None,
        "manager": {"name": "Irina", "email": "irina@b2b.example"},
    },
    {
        "order_id": "W-2/D-W",
        "customer": "30000",
        "lines": [{"item": "1100", "quantity": 1.0, "unit": None, "product_type": "water"}],
        "delivery": {"date": None, "address_code": None, "pickup": True},
        "comment": "by the back door",
        "manager": {"name": "Irina", "email": "irina@b2b.example"},
        "parent_order_id": "W-2",
        "contract": {"number": "D-W", "product_type": "water", "description": "Water 2026"},
    },
    {
        "order_id": "W-3",
        "customer": "40000",
        "lines": [{"item": "1000", "quantity": 6.0, "unit": None, "product_type": None}],
        "delivery": {"date": "2026-12-03", "address_code": "SHOP"},
        "comment": None,
        "no_manager": "customer 40000 has no manager (the CRM named none)",
    },
    {
        "order_id": "W-4",
        "customer": "40000",
        "lines": [{"item": "1000", "quantity": 6.0, "unit": "BOTTLE", "product_type": None}],
        "delivery": {},
        "comment": None,
    },
]


@pytest.mark.parametrize("journaled", JOURNALED, ids=lambda order: order["order_id"])
def test_an_order_journaled_before_it_was_typed_reads_and_writes_back_the_same(
    journaled: dict[str, Any],
) -> None:
    order = routed_order(Delivery(new_id(), "order.create", journaled))
    assert json.dumps(order.model_dump(mode="json")) == json.dumps(journaled)
    assert order.lines[0].quantity == journaled["lines"][0]["quantity"]


def test_a_split_order_is_journaled_as_it_always_was() -> None:
    sent = {
        "order_id": "W-2",
        "customer": "30000",
        "lines": [{"item": "1100", "quantity": 1.0, "unit": None, "product_type": "water"}],
        "delivery": {"date": None, "address_code": None},
        "comment": "by the back door",
    }
    profile = {
        "licence": None,
        "contracts": [
            {"number": "D-W", "product_type": "water", "description": "Water 2026"},
            {"number": "D-A", "product_type": "alcohol", "description": None},
        ],
        "manager": {"name": "Irina", "email": "irina@b2b.example"},
    }
    plan = plan_order(sent, CustomerProfile.model_validate(profile), Settings())
    [branch] = plan.branches
    assert json.dumps(branch.payload) == json.dumps(JOURNALED[1])
    assert RoutedOrder.model_validate(branch.payload).contract is not None
