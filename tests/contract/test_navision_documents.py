"""``invoice.create`` / ``reconciliation.create`` against the NAV simulator's ``B2BDocuments``.

The codeunit keys each document by ``requestId`` (the message id), so a repeat gets the same
document and a lost answer is transient. Its refusals are SOAP faults, which are permanent; a
500 without a fault is no verdict and stays transient.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest

from bus.adapters import Delivery, Receipt
from bus.errors import PermanentError, TransientError
from tests.contract.erps import Nav
from tests.contract.pairs import new_id

pytestmark = pytest.mark.timeout(60)

#: The keys of a document as every ERP adapter returns it: the storefront step sends it on.
DOCUMENT_KEYS = {"kind", "request_id", "number", "filename", "content_base64"}


def _invoice(customer: str = "10000", amount: float = 1500.0) -> Delivery:
    return Delivery(new_id(), "invoice.create", {"customer": customer, "amount": amount})


def _act(customer: str = "20000", year: int = 2024, quarter: int = 4) -> Delivery:
    payload = {"customer": customer, "year": year, "quarter": quarter}
    return Delivery(new_id(), "reconciliation.create", payload)


def _document(receipt: Receipt, delivery: Delivery, kind: str) -> dict[str, Any]:
    """The receipt's document, checked for the shape the storefront step expects."""
    document: dict[str, Any] = receipt.details["document"]
    assert set(receipt.details) == {"document"} and set(document) == DOCUMENT_KEYS
    assert (document["kind"], document["request_id"]) == (kind, delivery.message_id)
    assert receipt.reference == document["number"]
    assert document["filename"] == f"{kind}-{document['number']}.pdf"
    assert base64.b64decode(document["content_base64"], validate=True).startswith(b"%PDF")
    return document


async def _fault(nav: Nav, **spec: Any) -> None:
    fault = {"match": "/Codeunit/B2BDocuments", "methods": ["POST"], "times": 1, **spec}
    (await nav.control.post(f"{nav.base}/_control/faults", json=fault)).raise_for_status()


async def test_an_invoice_comes_back_as_a_pdf_document(nav: Nav) -> None:
    delivery = _invoice(amount=1234.5)
    document = _document(await nav.adapter.deliver(delivery), delivery, "invoice")
    assert document["number"] == "INV-0001"
    assert document["filename"] == "invoice-INV-0001.pdf"


async def test_a_reconciliation_act_comes_back_as_a_pdf_document(nav: Nav) -> None:
    delivery = _act()
    document = _document(await nav.adapter.deliver(delivery), delivery, "reconciliation_act")
    assert document["number"] == "REC-0001"


async def test_a_repeat_by_the_same_message_id_gets_the_same_document(nav: Nav) -> None:
    delivery = _invoice()
    first = await nav.adapter.deliver(delivery)
    assert await nav.adapter.deliver(delivery) == first
    assert await nav.adapter.lookup(delivery) is None  # a repeat, not a lookup, finds it
    other = await nav.adapter.deliver(_invoice())
    assert (first.reference, other.reference) == ("INV-0001", "INV-0002")


async def test_a_lost_answer_is_transient_and_the_repeat_collects_the_document(nav: Nav) -> None:
    delivery = _act()
    await _fault(nav, mode="drop_after_commit")
    with pytest.raises(TransientError):
        await nav.adapter.deliver(delivery)
    receipt = await nav.adapter.deliver(delivery)
    assert _document(receipt, delivery, "reconciliation_act")["number"] == "REC-0001"


@pytest.mark.parametrize(
    ("delivery", "reason"),
    [
        (_invoice("99999"), "The Customer does not exist"),
        (_invoice("40000"), "is blocked with type All"),
        (_invoice(amount=0.0), "The amount must be positive"),
        (_act(year=dt.date.today().year + 1, quarter=1), "has not begun yet"),
    ],
    ids=["unknown-customer", "blocked-customer", "amount", "future-quarter"],
)
async def test_the_codeunits_refusal_is_a_permanent_error(
    nav: Nav, delivery: Delivery, reason: str
) -> None:
    with pytest.raises(PermanentError) as refused:
        await nav.adapter.deliver(delivery)
    assert refused.value.http_status == 500
    assert reason in str(refused.value)


async def test_the_message_id_reused_for_another_document_is_a_permanent_error(nav: Nav) -> None:
    delivery = _invoice()
    await nav.adapter.deliver(delivery)
    changed = Delivery(delivery.message_id, delivery.operation, {**delivery.payload, "amount": 1.0})
    with pytest.raises(PermanentError) as refused:
        await nav.adapter.deliver(changed)
    assert "already used for another document" in str(refused.value)


@pytest.mark.parametrize(
    "spec",
    [
        {"mode": "error"},  # NAV's OData error envelope, not a SOAP fault
        {"mode": "status", "status": 500, "body": "<html>Fault tolerance is down</html>"},
        {"mode": "status", "status": 503},
    ],
    ids=["500-json", "500-html", "503"],
)
async def test_a_server_error_without_a_soap_fault_is_transient(
    nav: Nav, spec: dict[str, Any]
) -> None:
    await _fault(nav, **spec)
    delivery = _invoice()
    with pytest.raises(TransientError):
        await nav.adapter.deliver(delivery)
    assert (await nav.adapter.deliver(delivery)).reference == "INV-0001"


async def test_an_answer_without_the_document_is_transient(nav: Nav) -> None:
    await _fault(nav, mode="status", status=200, body="<html>not SOAP</html>")
    with pytest.raises(TransientError) as unreadable:
        await nav.adapter.deliver(_invoice())
    assert "IssueInvoice_Result" in str(unreadable.value)
