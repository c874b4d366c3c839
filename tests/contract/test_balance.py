"""``balance.get`` against the NAV and 1C simulators: fresh, stale while the ERP is down."""

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
    assert isinstance(fresh["balance"], float) and isinstance(fresh["credit_limit"], float)
    if system == "onec":  # 1C's service gives every figure; NAV's page only two
        assert all(isinstance(fresh[k], float) for k in ("overdue", "payments_in_progress"))
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
