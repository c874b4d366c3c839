"""``account.request`` against the NAV simulator: a customer's request lands on ``B2BRequests``.

The message id is the request's ``Request_Id``, so ``lookup`` finds what an earlier attempt
registered and a request whose answer was lost is never registered twice.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bus.adapters import Adapter, Delivery
from bus.adapters.http import cookieless_jar
from bus.errors import PermanentError, UnknownOutcome
from simulators import SIMULATORS
from tests.contract.pairs import PAIRS, Pair, new_id

pytestmark = pytest.mark.timeout(60)

NAV_PAIRS = [p for p in PAIRS if p.simulator == "navision"]
COMPANY = "DynamicsNAV110/ODataV4/Company('CRONUS')"


@dataclass
class Nav:
    """The NAV simulator, the adapter against it, and a client that reads it directly."""

    base: str
    adapter: Adapter
    control: httpx.AsyncClient

    async def requests_of(self, delivery: Delivery) -> list[dict[str, Any]]:
        """The ``B2BRequests`` rows carrying ``delivery``'s message id, as NAV stores them."""
        response = await self.control.get(
            f"{self.base}/{COMPANY}/B2BRequests",
            params={"$filter": f"Request_Id eq '{delivery.message_id}'"},
            auth=("bus", "bus-secret"),
        )
        found: list[dict[str, Any]] = response.raise_for_status().json()["value"]
        return found

    async def lose_the_next_answer(self) -> None:
        """NAV registers the next request but the answer never reaches the bus."""
        fault = {
            "mode": "drop_after_commit",
            "times": 1,
            "match": "/B2BRequests",
            "methods": ["POST"],
        }
        (await self.control.post(f"{self.base}/_control/faults", json=fault)).raise_for_status()


@pytest.fixture(params=NAV_PAIRS, ids=str)
async def nav(request: pytest.FixtureRequest, aiohttp_server: Any) -> AsyncIterator[Nav]:
    pair: Pair = request.param
    app = SIMULATORS[pair.simulator](**pair.simulator_options)
    server = await aiohttp_server(app)
    base = str(server.make_url("")).rstrip("/")
    _, make_adapter = pair.build(base, app)
    async with (
        httpx.AsyncClient(cookies=cookieless_jar()) as shared,
        httpx.AsyncClient(timeout=10) as control,
    ):
        adapter = make_adapter(shared)
        yield Nav(base, adapter, control)
        await adapter.aclose()


def _request(customer: str = "10000", kind: str = "delivery_address", **details: Any) -> Delivery:
    """An ``account.request`` delivery as the bus journals it."""
    asked = details or {"address": "Ул. Садовая, 5, склад 2", "name": "Warehouse 2"}
    return Delivery(
        new_id(), "account.request", {"customer": customer, "kind": kind, "details": asked}
    )


async def test_a_request_is_registered_and_its_number_is_the_receipt(nav: Nav) -> None:
    delivery = _request()
    receipt = await nav.adapter.deliver(delivery)
    (registered,) = await nav.requests_of(delivery)
    assert receipt.reference == registered["No"] and receipt.reference.startswith("REQ-")
    assert receipt.details == {"erp_request_no": registered["No"]}
    assert registered["Customer_No"] == "10000" and registered["Kind"] == "delivery_address"
    assert registered["Status"] == "Registered"
    # JSON text with sorted keys, non-ASCII as is: the field's 2048 characters are characters.
    assert registered["Details"] == (
        '{"address": "Ул. Садовая, 5, склад 2", "name": "Warehouse 2"}'
    )
    assert json.loads(registered["Details"]) == delivery.payload["details"]


async def test_an_employee_request_is_registered_as_such(nav: Nav) -> None:
    delivery = _request("20000", "employee", name="Anna Petrova", email="anna@example.com")
    receipt = await nav.adapter.deliver(delivery)
    (registered,) = await nav.requests_of(delivery)
    assert registered["No"] == receipt.reference and registered["Kind"] == "employee"


async def test_lookup_after_a_delivered_attempt_finds_the_same_request(nav: Nav) -> None:
    delivery = _request()
    receipt = await nav.adapter.deliver(delivery)
    assert await nav.adapter.lookup(delivery) == receipt


async def test_a_lost_answer_is_found_by_lookup_and_never_registered_twice(nav: Nav) -> None:
    delivery = _request()
    await nav.lose_the_next_answer()
    with pytest.raises(UnknownOutcome):
        await nav.adapter.deliver(delivery)
    found = await nav.adapter.lookup(delivery)
    (registered,) = await nav.requests_of(delivery)
    assert found is not None and found.reference == registered["No"]
    assert found.details == {"erp_request_no": registered["No"]}


async def test_lookup_of_an_unknown_message_id_is_none(nav: Nav) -> None:
    await nav.adapter.deliver(_request())
    assert await nav.adapter.lookup(_request()) is None


@pytest.mark.parametrize("customer", ["99999", "40000"], ids=["unknown", "blocked"])
async def test_a_customer_nav_refuses_is_a_permanent_error(nav: Nav, customer: str) -> None:
    delivery = _request(customer)
    with pytest.raises(PermanentError) as refused:
        await nav.adapter.deliver(delivery)
    assert refused.value.http_status == 400
    assert await nav.requests_of(delivery) == []
    assert await nav.adapter.lookup(delivery) is None


async def test_an_unknown_kind_is_a_permanent_error(nav: Nav) -> None:
    with pytest.raises(PermanentError) as refused:
        await nav.adapter.deliver(_request(kind="invoice"))
    assert "is not a request kind" in str(refused.value)
