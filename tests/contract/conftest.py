"""Fixtures of the adapter contract tests: an ERP simulator with the adapter against it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bus.adapters.onec import OnecAdapter
from bus.settings import OnecSettings
from simulators import SIMULATORS
from tests.contract.erps import Nav, Onec
from tests.contract.pairs import BREAKER, PAIRS, RETRY, running

NAV_PAIRS = [p for p in PAIRS if p.simulator == "navision"]


@pytest.fixture(params=NAV_PAIRS, ids=str)
async def nav(request: pytest.FixtureRequest, aiohttp_server: Any) -> AsyncIterator[Nav]:
    async with running(request.param, aiohttp_server) as served:
        yield Nav(served.base, served.adapter, served.control)


@pytest.fixture
async def onec(aiohttp_server: Any) -> AsyncIterator[Onec]:
    server = await aiohttp_server(SIMULATORS["onec"]())
    base = str(server.make_url("")).rstrip("/")
    settings = OnecSettings(url=f"{base}/b2b", retry=RETRY, breaker=BREAKER)
    async with httpx.AsyncClient() as client, httpx.AsyncClient() as control:
        yield Onec(base, OnecAdapter(settings, client), control)
