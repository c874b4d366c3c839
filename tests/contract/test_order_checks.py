"""An order's customer and items checked against the NAV and 1C simulators' item tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bus.errors import InvalidParams
from bus.order_checks import OrderChecks
from bus.order_rules import apply_rules
from bus.queries.catalog import Catalog
from bus.queries.prices import PriceService
from bus.settings import CatalogSettings, OrderRules, RealtimeSettings
from schemas.steps import CustomerProfile
from simulators import SIMULATORS
from tests.contract.test_prices import price_source

RULES = OrderRules(pack_sizes={"1000": 6})
#: The base unit of the seeded goods in each ERP, and one unit neither has.
BOTTLE = {"navision": "BOTTLE", "onec": "шт"}
NOON = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)


@dataclass
class Erp:
    system: str
    checks: OrderChecks
    prices: PriceService


@pytest.fixture(params=["navision", "onec"])
async def erp(request: pytest.FixtureRequest, aiohttp_server: Any) -> AsyncIterator[Erp]:
    system: str = request.param
    server = await aiohttp_server(SIMULATORS[system]())
    base = str(server.make_url("")).rstrip("/")
    async with httpx.AsyncClient() as client:
        source = price_source(system, base, client)
        catalog = Catalog(CatalogSettings(), source, system)
        prices = PriceService(RealtimeSettings(), source, system)
        yield Erp(system, OrderChecks(catalog, CatalogSettings(), RULES), prices)


def order(*lines: dict[str, Any], customer: str = "10000") -> dict[str, Any]:
    return {"order_id": "C-1", "customer": customer, "lines": list(lines)}


def line(item: str, quantity: float, unit: str | None = None, **more: Any) -> dict[str, Any]:
    return {"item": item, "quantity": quantity, "unit": unit, **more}


async def refused(erp: Erp, sent: dict[str, Any], profile: Any = None) -> list[tuple[str, str]]:
    with pytest.raises(InvalidParams) as refusal:
        await erp.checks.check(sent, profile)
    return [(f["field"], f["type"]) for f in refusal.value.data["fields"]]


async def test_unknown_and_refused_items_are_named_by_line(erp: Erp) -> None:
    problems = await refused(
        erp, order(line("1000", 6), line("NOPE", 1), line("1005", 1), line("1001", 1, "CRATE"))
    )
    gone = "item_blocked" if erp.system == "navision" else "item_deleted"
    assert problems == [
        ("lines.1.item", "unknown_item"),
        ("lines.2.item", gone),
        ("lines.3.unit", "unknown_unit"),
    ]


async def test_quantities_come_in_the_erps_packs_counted_in_base_units(erp: Erp) -> None:
    bottles = BOTTLE[erp.system]
    # 1100 is sold in boxes of 24 bottles: 48 bottles or 2 boxes are whole boxes, 30 are not.
    await erp.checks.check(order(line("1100", 48, bottles), line("1100", 2, "BOX")), None)
    problems = await refused(erp, order(line("1100", 30, bottles), line("1000", 4)))
    assert problems == [("lines.0.quantity", "pack_size"), ("lines.1.quantity", "pack_size")]


async def test_a_customer_the_erp_would_not_take_an_order_from_is_refused(erp: Erp) -> None:
    kind = "customer_blocked" if erp.system == "navision" else "customer_deleted"
    assert await refused(erp, order(line("1000", 6), customer="40000")) == [("customer", kind)]
    for nobody in ("NOBODY", "10000#x", "10000?$top=1", "10000')"):  # a key stays the key
        assert await refused(erp, order(line("1000", 6), customer=nobody)) == [
            ("customer", "customer_unknown")
        ]


async def test_a_deactivated_customer_is_refused_before_the_erp_is_asked(erp: Erp) -> None:
    kept = {"deactivated": {"message_id": "m-1", "at": "2026-11-23T10:00:00+00:00"}}
    profile = CustomerProfile.model_validate(kept)
    problems = await refused(erp, order(line("1000", 6)), profile)
    assert problems == [("customer", "customer_deactivated")]


async def test_the_product_type_is_the_erps_category(erp: Erp) -> None:
    sent = order(line("1000", 6, product_type="water"), line("1100", 1, "BOX"), line("1200", 1))
    facts = await erp.checks.check(sent, None)
    assert [line["product_type"] for line in sent["lines"]] == ["alcohol", "water", "accessories"]
    assert facts.adjusted == [
        {
            "field": "lines.0.product_type",
            "from": "water",
            "to": "alcohol",
            "reason": facts.adjusted[0]["reason"],
        }
    ]
    assert "category" in facts.adjusted[0]["reason"]


async def test_the_minimum_counts_a_box_as_its_bottles(erp: Erp) -> None:
    """2 boxes of water are 48 bottles: worth more than 24 bottles, less than 72."""
    bottles = BOTTLE[erp.system]
    values = {}
    for unit, quantity in (("BOX", 2), (bottles, 24), (bottles, 72)):
        sent = order(line("1100", quantity, unit))
        facts = await erp.checks.check(sent, None)
        rules = OrderRules(minimum_amount=1_000_000)
        with pytest.raises(InvalidParams) as below:
            await apply_rules(sent, rules, erp.prices, NOON, facts=facts)
        message = below.value.data["fields"][0]["message"]
        values[(unit, quantity)] = float(message.split("worth ")[1].split()[0])
    assert values[(bottles, 24)] < values[("BOX", 2)] < values[(bottles, 72)]


async def test_when_the_erp_cannot_answer_the_order_is_taken_unchecked() -> None:
    async with httpx.AsyncClient() as client:
        source = price_source("navision", "http://127.0.0.1:9", client)  # nothing listens
        settings = CatalogSettings(budget=0.3)
        checks = OrderChecks(Catalog(settings, source, "navision"), settings, RULES)
        facts = await checks.check(order(line("1000", 6)), None)
        assert [note.split(":")[0] for note in facts.unchecked] == [
            "customer not checked in the ERP",
            "items not checked in the ERP",
        ]
        # The configured pack still holds without the item table.
        with pytest.raises(InvalidParams):
            await checks.check(order(line("1000", 4)), None)
