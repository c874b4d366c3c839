"""The 1C adapter's calls to the HTTP service that 1C answers in its own time.

``account.request`` registers a customer's request for the ERP to decide on later; a document
1C takes time to prepare comes back as a throttled wait, not a failure. Real HTTP against the
1C simulator; what landed is read back through its control routes.
"""

from __future__ import annotations

import asyncio

import pytest

from bus.adapters import Delivery
from bus.errors import PermanentError, TransientError
from tests.contract.erps import Onec
from tests.contract.pairs import new_id

pytestmark = pytest.mark.timeout(60)

#: Short enough for the suite, long enough that the first attempt finds the document unready.
PREPARING_FOR = 0.5


def _address_request(customer: str = "10000") -> Delivery:
    payload = {
        "customer": customer,
        "kind": "delivery_address",
        "details": {"address": "г. Москва, ул. Складская, д. 5"},
    }
    return Delivery(new_id(), "account.request", payload)


async def test_a_request_is_registered_and_its_repeat_gets_the_same_number(onec: Onec) -> None:
    delivery = _address_request()
    receipt = await onec.adapter.deliver(delivery)
    assert receipt.reference == "ЗП-000001"
    assert receipt.details == {"erp_request_no": "ЗП-000001"}
    # A lost answer is asked again under the same message id: no second request in 1C.
    again = await onec.adapter.deliver(delivery)
    assert (again.reference, again.details) == (receipt.reference, receipt.details)
    registered = await onec.registered()
    assert [(r["number"], r["request_id"]) for r in registered] == [
        ("ЗП-000001", delivery.message_id)
    ]
    assert (registered[0]["customer"], registered[0]["kind"]) == ("10000", "delivery_address")
    assert registered[0]["details"] == delivery.payload["details"]
    assert await onec.adapter.lookup(delivery) is None


@pytest.mark.parametrize(("customer", "status"), [("99999", 404), ("40000", 409)])
async def test_a_request_for_an_unknown_or_deleted_customer_is_refused_for_good(
    onec: Onec, customer: str, status: int
) -> None:
    with pytest.raises(PermanentError) as refused:
        await onec.adapter.deliver(_address_request(customer))
    assert refused.value.http_status == status
    assert customer in refused.value.detail
    assert await onec.registered() == []


async def test_a_request_of_a_kind_1c_does_not_take_is_refused_for_good(onec: Onec) -> None:
    delivery = _address_request()
    odd = Delivery(delivery.message_id, "account.request", {**delivery.payload, "kind": "other"})
    with pytest.raises(PermanentError) as refused:
        await onec.adapter.deliver(odd)
    assert refused.value.http_status == 400


async def test_an_invoice_in_preparation_is_a_throttled_wait_then_arrives(onec: Onec) -> None:
    await onec.control_call("POST", "onec/documents", {"preparing_for": PREPARING_FOR})
    delivery = Delivery(new_id(), "invoice.create", {"customer": "10000", "amount": 1500.0})
    with pytest.raises(TransientError) as preparing:
        await onec.adapter.deliver(delivery)
    error = preparing.value
    assert error.throttled and error.http_status == 202
    assert error.retry_after == 1.0  # 0.5 s left, rounded up to whole seconds
    assert error.detail == (f"onec is still preparing the invoice (request {delivery.message_id})")
    await asyncio.sleep(PREPARING_FOR)
    receipt = await onec.adapter.deliver(delivery)
    document = receipt.details["document"]
    assert receipt.reference == document["number"] == "СЧ-000001"
    assert (document["kind"], document["request_id"]) == ("invoice", delivery.message_id)
    assert document["content_base64"]


async def test_preparing_without_retry_after_waits_five_seconds(onec: Onec) -> None:
    fault = {
        "mode": "status",
        "status": 202,
        "body": {"status": "preparing", "request_id": "x"},
        "match": "/reconciliation-acts",
        "times": 1,
    }
    await onec.control_call("POST", "faults", fault)
    payload = {"customer": "20000", "year": 2026, "quarter": 1}
    with pytest.raises(TransientError) as preparing:
        await onec.adapter.deliver(Delivery(new_id(), "reconciliation.create", payload))
    assert preparing.value.throttled and preparing.value.retry_after == 5.0
    assert "reconciliation_act" in preparing.value.detail
