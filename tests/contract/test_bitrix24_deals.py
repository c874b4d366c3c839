"""Bitrix24 deals against the simulator: what a deal carries to be found again, and ``deal.read``.

A deal the bus creates carries ``ORIGINATOR_ID = "bus"`` and ``ORIGIN_ID = "<order id>/<message
id>"``: the message finds its own deal by it (another message for the same storefront order has
its own), and an event about the deal is traced back to the storefront's order by it. Deals are
read back through the portal's own REST methods, independently of the adapter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bus.adapters import Delivery, Receipt
from tests.contract.consoles import Bitrix24Console
from tests.contract.pairs import PAIRS, deal_origin, erp_result, new_id, new_order, running

pytestmark = pytest.mark.timeout(60)


class Portal(Bitrix24Console):
    """A running Bitrix24 simulator, the adapter under test, and a client of the portal."""

    async def create(self, order: dict[str, Any]) -> tuple[Delivery, Receipt]:
        """``order.create`` through the adapter: the delivery and its receipt."""
        delivery = Delivery(new_id(), "order.create", order, previous=erp_result(order))
        return delivery, await self.adapter.deliver(delivery)

    async def read(self, deal_id: int | str) -> Receipt:
        return await self.adapter.deliver(Delivery(new_id(), "deal.read", {"deal_id": deal_id}))


@pytest.fixture(params=[p for p in PAIRS if p.simulator == "bitrix24"], ids=str)
async def portal(request: pytest.FixtureRequest, aiohttp_server: Any) -> AsyncIterator[Portal]:
    async with running(request.param, aiohttp_server) as served:
        yield Portal(served.base, served.adapter, served.control)


async def test_a_deal_carries_the_order_and_the_message(portal: Portal) -> None:
    delivery, receipt = await portal.create(new_order())
    deal = await portal.rest("crm.deal.get", {"id": receipt.reference})
    assert deal["ORIGINATOR_ID"] == "bus"
    assert deal["ORIGIN_ID"] == f"{delivery.payload['order_id']}/{delivery.message_id}"
    assert deal["ORIGIN_ID"] == deal_origin(delivery)


async def test_two_messages_for_one_order_make_two_deals_each_finding_its_own(
    portal: Portal,
) -> None:
    order = new_order()
    first, first_deal = await portal.create(order)
    second, second_deal = await portal.create({**order, "lines": order["lines"][:1]})
    assert first_deal.reference != second_deal.reference
    assert await portal.adapter.lookup(first) == first_deal
    assert await portal.adapter.lookup(second) == second_deal
    first_rows = await portal.rest("crm.deal.productrows.get", {"id": first_deal.reference})
    assert [r["PRODUCT_NAME"] for r in first_rows] == ["1000", "1002"]  # untouched by second


async def test_a_deal_reads_back_as_its_storefront_order(portal: Portal) -> None:
    """The order id comes from ``ORIGIN_ID``; unchanged, the deal shows the bus's own state."""
    delivery, receipt = await portal.create(new_order(order_id="SO/7'1%_x"))
    read = await portal.read(receipt.reference)
    assert read.skip_next is None
    order = read.details["order"]
    assert order["order_id"] == "SO/7'1%_x"
    assert (order["status"], order["crm_reference"]) == ("new", receipt.reference)
    assert read.state == portal.adapter.intended_state(delivery)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"ORIGINATOR_ID": "bus"},
        {"ORIGINATOR_ID": "bus", "ORIGIN_ID": "SO-1"},
        {"ORIGINATOR_ID": "bus", "ORIGIN_ID": "/01JD0000000000000000000000"},
        {"ORIGINATOR_ID": "bus", "ORIGIN_ID": "SO-1/not-a-message-id"},
        {"ORIGINATOR_ID": "shop", "ORIGIN_ID": "SO-1/01JD0000000000000000000000"},
    ],
    ids=["by-hand", "no-origin", "no-message", "no-order", "foreign-reference", "other-system"],
)
async def test_a_deal_the_bus_did_not_create_is_skipped(
    portal: Portal, fields: dict[str, str]
) -> None:
    deal_id = await portal.rest("crm.deal.add", {"fields": {"TITLE": "By hand", **fields}})
    read = await portal.read(deal_id)
    assert read.skip_next is not None and "not created by the bus" in read.skip_next
    assert read.state is None
