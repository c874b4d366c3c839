"""``failure.report`` against the mail, Creatio and Bitrix24 simulators.

The manager's mail says which order, which step, why and which message; without a manager it is
not sent, and its step is done saying why. Creatio adds the report to the account's ``Notes``
after what they say, once however often it is repeated; Bitrix24 comments it on the customer's
company, and ``lookup`` finds that comment by its marker.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bus.adapters import Delivery
from schemas.notices import FailureReport, ManagerAddress
from simulators.creatio import seed_id
from tests.contract.pairs import PAIRS, new_id, running
from tests.contract.test_bitrix24_account_report import COMPANY_OF, Portal
from tests.contract.test_creatio_account_report import Crm
from tests.contract.test_mail_accounts import Relay

pytestmark = pytest.mark.timeout(60)

MANAGER = ManagerAddress(name="Irina Volkova", email="irina.volkova@b2b.example")
STEP = "01JSTEPFAILED0000000000000"


def failure(operation: str, *, manager: ManagerAddress | None = MANAGER) -> Delivery:
    """The report of order W-7's refused ERP step, as the notice's message carries it."""
    report = FailureReport(
        subject="order",
        customer="30000",
        about="01JORDERSENT00000000000000",
        step=STEP,
        method="order.submit",
        target="navision",
        operation="sales_order.create",
        status="failed",
        reason="navision answered 400: Item 1005 is blocked",
        order_id="W-7",
        manager=manager,
        no_manager=None if manager else "customer 30000 has no manager (the CRM named none)",
    )
    return Delivery(new_id(), operation, report.as_payload())


@pytest.fixture
async def relay(aiohttp_server: Any) -> AsyncIterator[Relay]:
    [pair] = [p for p in PAIRS if p.name == "mail"]
    async with running(pair, aiohttp_server) as served:
        yield Relay(served.base, served.adapter, served.control)


@pytest.fixture
async def crm(aiohttp_server: Any) -> AsyncIterator[Crm]:
    [pair] = [p for p in PAIRS if p.name == "creatio"]
    async with running(pair, aiohttp_server) as served:
        yield Crm(served.base, served.adapter, served.control)


@pytest.fixture(params=[p for p in PAIRS if p.simulator == "bitrix24"], ids=str)
async def portal(request: pytest.FixtureRequest, aiohttp_server: Any) -> AsyncIterator[Portal]:
    async with running(request.param, aiohttp_server) as served:
        yield Portal(served.base, served.adapter, served.control)


async def test_the_manager_is_mailed_which_order_which_step_why_and_which_message(
    relay: Relay,
) -> None:
    await relay.adapter.deliver(failure("mail.failure_report"))
    [sent] = await relay.messages()
    assert sent["rcpt_tos"] == [MANAGER.email]
    assert sent["subject"] == "Order W-7 of customer 30000 failed at sales_order.create"
    for said in ("Item 1005 is blocked", STEP, "sales_order.create at navision", "Hello, Irina"):
        assert said in sent["text"]


async def test_without_a_manager_nobody_is_mailed_and_the_step_says_why(relay: Relay) -> None:
    receipt = await relay.adapter.deliver(failure("mail.failure_report", manager=None))
    assert receipt.details["skipped"] == (
        "no manager mailed about order W-7 of customer 30000:"
        " customer 30000 has no manager (the CRM named none)"
    )
    assert await relay.messages() == []


async def test_creatio_adds_the_report_to_the_accounts_notes_once(crm: Crm) -> None:
    account = seed_id("Account:30000")
    before = await crm.notes(account)
    delivery = failure("failure.report")
    await crm.adapter.deliver(delivery)
    await crm.adapter.deliver(delivery)  # a repeat after a lost answer
    notes = await crm.notes(account)
    assert notes is not None
    assert notes.count(f"(bus message {delivery.message_id})") == 1
    assert "Item 1005 is blocked" in notes and STEP in notes and "order W-7" in notes
    assert not before or notes.startswith(before)  # what the notes said stays


async def test_bitrix24_comments_the_report_and_finds_it_again(portal: Portal) -> None:
    delivery = failure("failure.report")
    assert await portal.adapter.lookup(delivery) is None
    receipt = await portal.adapter.deliver(delivery)
    [comment] = [
        c
        for c in await portal.comments(COMPANY_OF["30000"])
        if delivery.message_id in str(c["COMMENT"])
    ]
    assert "Item 1005 is blocked" in comment["COMMENT"] and "order W-7" in comment["COMMENT"]
    found = await portal.adapter.lookup(delivery)
    assert found is not None and found.reference == receipt.reference
