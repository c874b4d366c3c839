"""``account.request`` against the NAV simulator: a customer's request lands on ``B2BRequests``.

The message id is the request's ``Request_Id``, so ``lookup`` finds what an earlier attempt
registered and a request whose answer was lost is never registered twice.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bus.adapters import Delivery
from bus.errors import PermanentError, UnknownOutcome
from tests.contract.erps import Nav
from tests.contract.pairs import new_id

pytestmark = pytest.mark.timeout(60)


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
