"""``prices.get`` against the NAV and 1C simulators: fresh, cached, stale, refused, in budget."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bus.adapters.erp_queries import ErpQueries
from bus.adapters.navision_queries import NavisionQueries
from bus.adapters.onec_queries import OnecQueries
from bus.errors import UpstreamRefused, UpstreamUnavailable
from bus.queries.prices import PriceService
from bus.settings import BreakerSettings, NavisionSettings, OnecSettings, RealtimeSettings
from simulators import SIMULATORS

SETTINGS = RealtimeSettings(
    budget=1.0,
    attempt_timeout=0.4,
    cache_ttl=30.0,
    stale_for=3600.0,
    breaker=BreakerSettings(failure_threshold=2, cooldown=5.0),
)
LINES = [("1000", 5.0), ("1002", 1.0)]


@dataclass
class Clock:
    """Monotonic seconds that a test moves forward."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Erp:
    system: str
    base: str
    service: PriceService
    clock: Clock
    control: httpx.AsyncClient

    async def fault(self, **spec: Any) -> None:
        (await self.control.post(f"{self.base}/_control/faults", json=spec)).raise_for_status()

    async def clear(self) -> None:
        await self.control.delete(f"{self.base}/_control/faults")

    async def price_requests(self) -> int:
        received = (await self.control.get(f"{self.base}/_control/received")).json()["requests"]
        return sum("/WS/" in r["path"] or "/hs/" in r["path"] for r in received)


def price_source(system: str, base: str, client: httpx.AsyncClient) -> ErpQueries:
    if system == "navision":
        return NavisionQueries(NavisionSettings(url=f"{base}/DynamicsNAV110/ODataV4"), client)
    return OnecQueries(OnecSettings(url=f"{base}/b2b"), client)


@pytest.fixture(params=["navision", "onec"])
async def erp(request: pytest.FixtureRequest, aiohttp_server: Any) -> AsyncIterator[Erp]:
    system: str = request.param
    server = await aiohttp_server(SIMULATORS[system]())
    base = str(server.make_url("")).rstrip("/")
    clock = Clock()
    async with httpx.AsyncClient() as client, httpx.AsyncClient() as control:
        service = PriceService(SETTINGS, price_source(system, base, client), system, clock)
        yield Erp(system, base, service, clock, control)


async def test_prices_come_fresh_then_from_the_cache(erp: Erp) -> None:
    first = await erp.service.get("10000", LINES)
    assert not first["stale"]
    assert [p["item"] for p in first["prices"]] == ["1000", "1002"]
    assert all(isinstance(p["price"], float) and p["price"] > 0 for p in first["prices"])
    again = await erp.service.get("10000", LINES)
    assert again == first
    assert await erp.price_requests() == 1  # the second answer came from the cache


async def test_when_the_erp_is_down_the_last_known_prices_come_back_stale(erp: Erp) -> None:
    fresh = await erp.service.get("10000", LINES)
    erp.clock.now += SETTINGS.cache_ttl + 1
    await erp.fault(mode="down")
    stale = await erp.service.get("10000", LINES)
    assert stale["stale"] and stale["prices"] == fresh["prices"]
    assert stale["as_of"] == fresh["as_of"]


async def test_without_known_prices_an_outage_is_upstream_unavailable(erp: Erp) -> None:
    await erp.fault(mode="status", status=503)
    with pytest.raises(UpstreamUnavailable) as unavailable:
        await erp.service.get("10000", LINES)
    assert unavailable.value.data["system"] == erp.system
    assert unavailable.value.data["retry_after"] > 0


async def test_a_hanging_erp_never_holds_a_call_past_its_budget(erp: Erp) -> None:
    await erp.fault(mode="slow", delay=10)
    started = time.perf_counter()
    with pytest.raises(UpstreamUnavailable):
        await erp.service.get("10000", LINES)
    assert time.perf_counter() - started < SETTINGS.budget + 0.3


async def test_an_open_breaker_answers_without_asking_the_erp(erp: Erp) -> None:
    await erp.service.get("10000", LINES)
    erp.clock.now += SETTINGS.cache_ttl + 1
    await erp.fault(mode="status", status=500)
    for _ in range(SETTINGS.breaker.failure_threshold):
        assert (await erp.service.get("10000", LINES))["stale"]
    asked = await erp.price_requests()
    assert (await erp.service.get("10000", LINES))["stale"]
    assert await erp.price_requests() == asked  # the breaker is open: no request
    await erp.clear()
    erp.clock.now += SETTINGS.breaker.cooldown + 1
    assert not (await erp.service.get("10000", LINES))["stale"]


async def test_an_unknown_customer_is_refused_by_the_erp(erp: Erp) -> None:
    with pytest.raises(UpstreamRefused) as refused:
        await erp.service.get("99999", LINES)
    assert refused.value.data["system"] == erp.system


async def test_one_item_at_several_quantities_gets_each_its_own_price(erp: Erp) -> None:
    lines = [("1000", 1.0), ("1000", 120.0)]
    both = await erp.service.get("20000", lines)
    erp.clock.now += SETTINGS.cache_ttl + 1  # ask again, one quantity at a time
    alone = [(await erp.service.get("20000", [line]))["prices"][0] for line in lines]
    assert [p["price"] for p in both["prices"]] == [p["price"] for p in alone]


#: Why each ERP says an item, or a customer, may not be ordered.
REFUSALS = {
    "navision": {"item": "item_blocked", "customer": "customer_blocked"},  # Blocked
    "onec": {"item": "item_deleted", "customer": "customer_deleted"},  # DeletionMark
}


async def test_an_item_nobody_may_buy_is_priced_and_flagged(erp: Erp) -> None:
    # 1005 is blocked in NAV and marked for deletion in 1C; 1000 is on sale in both.
    answer = await erp.service.get("10000", [("1005", 1.0), ("1000", 1.0)])
    refused, on_sale = answer["prices"]
    assert (refused["orderable"], refused["reason"]) == (False, REFUSALS[erp.system]["item"])
    assert isinstance(refused["price"], float)  # still priced: the storefront may show it
    assert (on_sale["orderable"], on_sale["reason"]) == (True, None)
    assert (answer["orderable"], answer["reason"]) == (True, None)


async def test_a_customer_nobody_may_sell_to_flags_the_whole_answer(erp: Erp) -> None:
    # 40000 is blocked (All) in NAV and marked for deletion in 1C.
    fresh = await erp.service.get("40000", [("1000", 1.0), ("1005", 1.0)])
    reasons = REFUSALS[erp.system]
    assert (fresh["orderable"], fresh["reason"]) == (False, reasons["customer"])
    # Every line says so too; a line's own refusal comes first.
    assert [(p["orderable"], p["reason"]) for p in fresh["prices"]] == [
        (False, reasons["customer"]),
        (False, reasons["item"]),
    ]
    assert all(isinstance(p["price"], float) for p in fresh["prices"])
    erp.clock.now += SETTINGS.cache_ttl + 1
    await erp.fault(mode="down")
    stale = await erp.service.get("40000", [("1000", 1.0), ("1005", 1.0)])
    assert stale["stale"] and (stale["orderable"], stale["reason"]) == (False, reasons["customer"])


@pytest.mark.parametrize("blocked", ["Ship", "Invoice", "All"])
async def test_any_nav_block_on_a_customer_stops_its_orders(
    aiohttp_server: Any, blocked: str
) -> None:
    # NAV refuses a sales order for a customer blocked for Ship, Invoice or All alike.
    server = await aiohttp_server(SIMULATORS["navision"]())
    base = str(server.make_url("")).rstrip("/")
    async with httpx.AsyncClient() as client:
        changed = await client.patch(
            f"{base}/DynamicsNAV110/ODataV4/Company('CRONUS')/Customer('30000')",
            json={"Blocked": blocked},
            headers={"If-Match": "*"},
            auth=("bus", "bus-secret"),
        )
        changed.raise_for_status()
        service = PriceService(SETTINGS, price_source("navision", base, client), "navision")
        answer = await service.get("30000", [("1000", 1.0)])
    assert (answer["orderable"], answer["reason"]) == (False, "customer_blocked")


#: Per ERP: (customer, item, quantity) -> (price, kind, promo) of a promotion and a regular price.
PROMOTIONS: dict[str, dict[tuple[str, str, float], tuple[float, str, bool]]] = {
    "navision": {
        # The open-ended WELCOME campaign beats the list price of the corkscrew (6.50).
        ("10000", "1200", 1.0): (5.9, "Campaign", True),
        # 10000's own price beats its group's and the list price.
        ("10000", "1000", 1.0): (13.5, "Customer", False),
        ("20000", "1002", 1.0): (60.0, "Customer Price Group", False),
    },
    "onec": {
        # The open-ended Rioja promotion beats the base price (1120); 10000's group has none.
        ("10000", "1002", 1.0): (1080.0, "Акция", True),
        ("10000", "1000", 1.0): (1350.0, "Индивидуальная", False),
        ("20000", "1002", 1.0): (1010.0, "HoReCa", False),
    },
}


async def test_each_erp_marks_a_promotion_with_its_kind(erp: Erp) -> None:
    for (customer, item, quantity), expected in PROMOTIONS[erp.system].items():
        (price,) = (await erp.service.get(customer, [(item, quantity)]))["prices"]
        assert (price["price"], price["kind"], price["promo"]) == expected, (customer, item)
