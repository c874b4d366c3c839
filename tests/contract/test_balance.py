"""``balance.get`` against the NAV and 1C simulators: every figure from each ERP, fresh, and stale
while the ERP is down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bus.errors import UpstreamRefused, UpstreamUnavailable
from bus.queries.balance import BalanceService
from bus.settings import RealtimeSettings
from simulators import SIMULATORS
from tests.contract.test_prices import Clock, price_source

SETTINGS = RealtimeSettings(budget=1.0, attempt_timeout=0.4, cache_ttl=60.0)
FIGURES = ("balance", "credit_limit", "receivables", "overdue", "payments_in_progress")


@pytest.fixture(params=["navision", "onec"])
async def erp(request: pytest.FixtureRequest, aiohttp_server: Any) -> AsyncIterator[Any]:
    system: str = request.param
    server = await aiohttp_server(SIMULATORS[system]())
    base = str(server.make_url("")).rstrip("/")
    clock = Clock()
    async with httpx.AsyncClient() as client, httpx.AsyncClient() as control:
        service = BalanceService(SETTINGS, price_source(system, base, client), system, clock)
        yield system, base, service, clock, control


async def test_a_balance_comes_fresh_then_stale_while_the_erp_is_down(erp: Any) -> None:
    system, base, service, clock, control = erp
    fresh = await service.get("10000")
    assert not fresh["stale"]
    assert all(isinstance(fresh[figure], float) for figure in FIGURES)
    clock.now += SETTINGS.cache_ttl + 1
    (await control.post(f"{base}/_control/faults", json={"mode": "down"})).raise_for_status()
    stale = await service.get("10000")
    assert stale["stale"] and stale["balance"] == fresh["balance"]
    with pytest.raises(UpstreamUnavailable):
        await service.get("20000")  # never asked before: nothing to fall back on


async def test_an_unknown_customer_is_refused(erp: Any) -> None:
    _, _, service, _, _ = erp
    with pytest.raises(UpstreamRefused):
        await service.get("99999")


@pytest.mark.parametrize("customer", ["10000", "20000", "30000", "40000", "50000"])
async def test_each_erp_gives_every_figure_and_they_add_up(erp: Any, customer: str) -> None:
    _, _, service, _, _ = erp
    answer = await service.get(customer)
    assert all(isinstance(answer[figure], float) for figure in FIGURES), answer
    # Both ERPs: the balance is what is owed less the payments not yet set against it.
    assert answer["balance"] == pytest.approx(
        answer["receivables"] - answer["payments_in_progress"]
    )
    assert 0 <= answer["overdue"] <= answer["receivables"]
    assert answer["payments_in_progress"] >= 0


#: NAV's open customer ledger entries (seeded relative to today), per customer:
#: (balance, receivables, overdue, payments in progress).
NAV_FIGURES = {
    # An invoice not yet due and a payment not yet applied to it.
    "10000": (1623.5, 1873.5, 0.0, 250.0),
    # An invoice past its due date and one due today (not overdue yet).
    "20000": (4410.9, 4410.9, 520.0, 0.0),
    # Only closed entries: paid in full.
    "30000": (0.0, 0.0, 0.0, 0.0),
    "40000": (12875.0, 12875.0, 12875.0, 0.0),
    # A partly paid invoice past its due date: what remains of it is overdue, not its amount.
    "50000": (250.75, 250.75, 250.75, 0.0),
}


@pytest.mark.parametrize("page_size", [1000, 1])
async def test_nav_reads_overdue_debt_and_payments_from_open_ledger_entries(
    aiohttp_server: Any, page_size: int
) -> None:
    # A page of one entry: the adapter follows NAV's nextLink to the end.
    server = await aiohttp_server(SIMULATORS["navision"](max_page_size=page_size))
    base = str(server.make_url("")).rstrip("/")
    async with httpx.AsyncClient() as client:
        service = BalanceService(SETTINGS, price_source("navision", base, client), "navision")
        for customer, expected in NAV_FIGURES.items():
            answer = await service.get(customer)
            figures = tuple(
                answer[k] for k in ("balance", "receivables", "overdue", "payments_in_progress")
            )
            assert figures == pytest.approx(expected), customer
