"""``account.report`` against the Bitrix24 simulator: a timeline comment on the customer's company.

Run for both auth modes (webhook and OAuth) of :mod:`tests.contract.pairs`. The comments are read
back through the portal's own ``crm.timeline.comment.list``, independently of the adapter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bus.adapters import Delivery
from bus.errors import PermanentError, UnknownOutcome
from tests.contract.consoles import Bitrix24Console
from tests.contract.pairs import HTTP_FAULTS, PAIRS, new_id, running

pytestmark = pytest.mark.timeout(60)

#: The simulator's seeded companies of the ERP's customers (``ORIGIN_ID`` = the ERP key).
COMPANY_OF = {"10000": 4, "20000": 5, "30000": 6, "50000": 7}
#: What the steps before the report produced: the storefront user and the imported orders.
PROVISIONED = {"reference": "mail-1", "context": {"user_id": "u-0003", "imported": 2}}


class Portal(Bitrix24Console):
    """A running Bitrix24 simulator, the adapter under test, and a client of the portal."""

    async def comments(self, company_id: int) -> list[dict[str, Any]]:
        """The company's timeline comments, oldest first: the first page (50) of them."""
        listed = await self.rest(
            "crm.timeline.comment.list",
            {"filter": {"ENTITY_ID": company_id, "ENTITY_TYPE": "company"}},
        )
        return list(listed)

    async def add_comments(self, company_id: int, count: int) -> None:
        """Comments by others; batched 30 at a time, as the portal's bucket holds 50 requests."""
        add = f"crm.timeline.comment.add?fields[ENTITY_ID]={company_id}&fields[ENTITY_TYPE]=company"
        for first in range(0, count, 30):
            last = min(first + 30, count)
            commands = {f"c{n}": f"{add}&fields[COMMENT]=note+{n}" for n in range(first, last)}
            await self.rest("batch", {"halt": 1, "cmd": commands})


@pytest.fixture(params=[p for p in PAIRS if p.simulator == "bitrix24"], ids=str)
async def portal(request: pytest.FixtureRequest, aiohttp_server: Any) -> AsyncIterator[Portal]:
    async with running(request.param, aiohttp_server) as served:
        yield Portal(served.base, served.adapter, served.control)


def report(erp_key: str, **settings: Any) -> Delivery:
    """An ``account.report`` of a provisioned customer, as the route's last step gets it."""
    contact = {"name": "Anna", "email": "anna@customer.example", "primary": True}
    payload = {"erp_key": erp_key, "contacts": [contact], "settings": settings}
    return Delivery(new_id(), "account.report", payload, PROVISIONED)


def expected_text(delivery: Delivery) -> str:
    return (
        "Storefront account ready: user u-0003, 2 past orders imported, set-password mail sent."
        " No manager (the CRM named none): new orders mail nobody until one is set."
        f" (bus message {delivery.message_id})"
    )


async def test_the_report_lands_on_the_company_found_by_origin_id(portal: Portal) -> None:
    delivery = report("30000")
    receipt = await portal.adapter.deliver(delivery)
    comments = await portal.comments(COMPANY_OF["30000"])
    assert [c["COMMENT"] for c in comments] == [expected_text(delivery)]
    assert receipt.reference == comments[0]["ID"]
    assert receipt.details == {"crm_comment_id": int(comments[0]["ID"])}
    for key, company_id in COMPANY_OF.items():
        if key != "30000":
            assert await portal.comments(company_id) == []


async def test_the_report_lands_on_the_company_the_crm_named(portal: Portal) -> None:
    # crm_id wins over the ERP key: the CRM knows its own record, whatever ORIGIN_ID says.
    delivery = report("10000", crm_id="2")
    await portal.adapter.deliver(delivery)
    assert [c["COMMENT"] for c in await portal.comments(2)] == [expected_text(delivery)]
    assert await portal.comments(COMPANY_OF["10000"]) == []


async def test_without_the_facts_the_report_still_reads(portal: Portal) -> None:
    delivery = Delivery(new_id(), "account.report", report("20000").payload, None)
    await portal.adapter.deliver(delivery)
    (comment,) = await portal.comments(COMPANY_OF["20000"])
    assert comment["COMMENT"].startswith(
        "Storefront account ready: user None, no past orders imported"
    )


async def test_a_deactivation_is_reported_too_found_by_origin_id(portal: Portal) -> None:
    # account.deactivate carries the ERP key alone: the company is the one of its ORIGIN_ID.
    done = {"reference": "", "user_id": None, "user_outcome": "nothing_to_deactivate"}
    delivery = Delivery(new_id(), "account.report", {"erp_key": "30000"}, done)
    await portal.adapter.deliver(delivery)
    [comment] = await portal.comments(COMPANY_OF["30000"])
    assert comment["COMMENT"] == (
        "Nothing to deactivate: customer 30000 has no storefront user."
        f" (bus message {delivery.message_id})"
    )
    assert await portal.adapter.lookup(delivery) is not None


async def test_lookup_finds_the_delivered_report_and_only_it(portal: Portal) -> None:
    delivery = report("50000")
    assert await portal.adapter.lookup(delivery) is None
    delivered = await portal.adapter.deliver(delivery)
    assert await portal.adapter.lookup(delivery) == delivered
    assert await portal.adapter.lookup(report("50000")) is None  # another message's report


async def test_lookup_reads_past_the_first_page(portal: Portal) -> None:
    delivery = report("50000", crm_id=str(COMPANY_OF["50000"]))
    delivered = await portal.adapter.deliver(delivery)
    await portal.add_comments(COMPANY_OF["50000"], 60)  # newer: the report is on page 2
    assert await portal.adapter.lookup(delivery) == delivered
    assert await portal.adapter.lookup(report("50000")) is None


async def test_a_lost_answer_is_looked_up_not_repeated(portal: Portal) -> None:
    delivery = report("10000")
    path, spec = HTTP_FAULTS["answer_lost"]
    aimed = {**spec, "match": "crm.timeline.comment.add"}
    (await portal.control.post(portal.base + path, json=aimed)).raise_for_status()
    with pytest.raises(UnknownOutcome):
        await portal.adapter.deliver(delivery)
    found = await portal.adapter.lookup(delivery)
    assert found is not None
    comments = await portal.comments(COMPANY_OF["10000"])
    assert [c["ID"] for c in comments] == [found.reference]


@pytest.mark.parametrize(
    ("delivery", "reason"),
    [
        (report("99999"), "bitrix24 has no company for customer '99999'"),
        (report("99999", crm_id="777"), "Not found"),
        (report("10000", crm_id="3f1c-guid"), "is not a number"),
    ],
    ids=["unknown-customer", "unknown-crm-id", "foreign-crm-id"],
)
async def test_an_unknown_customer_is_permanent(
    portal: Portal, delivery: Delivery, reason: str
) -> None:
    with pytest.raises(PermanentError) as refused:
        await portal.adapter.deliver(delivery)
    assert reason in refused.value.detail
