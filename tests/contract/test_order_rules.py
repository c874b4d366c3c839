"""The rules of ``order.submit``: the customer's minimum, the cut-off and holidays (whole packs
and the ERP's item table: ``test_order_checks``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bus.errors import InvalidParams
from bus.order_rules import apply_rules
from bus.queries.prices import PriceService
from bus.settings import OrderRules, RealtimeSettings
from simulators import SIMULATORS
from tests.contract.test_prices import price_source

RULES = OrderRules(
    pack_sizes={"1100": 12},
    minimum_amount=50.0,
    customer_minimums={"20000": 5000.0},
    holidays=(dt.date(2026, 12, 31), dt.date(2027, 1, 1)),
)
MOSCOW = dt.timezone(dt.timedelta(hours=3))


def order(*lines: tuple[str, float], customer: str = "10000", date: str | None = None) -> Any:
    return {
        "order_id": "R-1",
        "customer": customer,
        "lines": [{"item": item, "quantity": quantity, "unit": None} for item, quantity in lines],
        "delivery": {"date": date, "address_code": None},
        "comment": None,
    }


@pytest.fixture
async def prices(aiohttp_server: Any) -> AsyncIterator[PriceService]:
    server = await aiohttp_server(SIMULATORS["navision"]())
    async with httpx.AsyncClient() as client:
        base = str(server.make_url("")).rstrip("/")
        yield PriceService(RealtimeSettings(), price_source("navision", base, client), "navision")


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=MOSCOW)


async def test_an_order_below_the_customers_minimum_is_refused(prices: PriceService) -> None:
    with pytest.raises(InvalidParams) as refused:
        await apply_rules(order(("1000", 1)), RULES, prices, at("2026-11-23T10:00"))
    assert "below the minimum of 50.00" in refused.value.data["fields"][0]["message"]
    big = order(("1000", 24), customer="20000")
    with pytest.raises(InvalidParams) as own:
        await apply_rules(big, RULES, prices, at("2026-11-23T10:00"))
    assert "below the minimum of 5000.00" in own.value.data["fields"][0]["message"]
    await apply_rules(order(("1000", 24)), RULES, prices, at("2026-11-23T10:00"))  # 10000: 50


async def test_when_the_erp_cannot_price_the_minimum_is_left_unchecked() -> None:
    async with httpx.AsyncClient() as client:
        source = price_source("navision", "http://127.0.0.1:9", client)  # nothing listens
        unreachable = PriceService(RealtimeSettings(budget=0.3), source, "navision")
        checked = await apply_rules(order(("1000", 1)), RULES, unreachable, at("2026-11-23T10:00"))
    assert checked.unchecked and "minimum order value not checked" in checked.unchecked[0]


@pytest.mark.parametrize(
    ("placed", "requested", "delivered", "moved"),
    [
        ("2026-11-23T10:00", None, "2026-11-24", True),  # Monday morning: Tuesday
        ("2026-11-23T18:30", None, "2026-11-25", True),  # after the cut-off: two working days
        ("2026-11-27T17:00", None, "2026-11-30", True),  # Friday: the weekend is skipped
        ("2026-12-30T12:00", None, "2027-01-04", True),  # holidays, then the weekend
        ("2026-11-23T10:00", "2026-11-23", "2026-11-24", True),  # too early: moved
        ("2026-11-23T10:00", "2026-12-01", "2026-12-01", False),  # later than needed: kept
        ("2026-11-23T10:00", "2026-11-28", "2026-11-30", True),  # a Saturday: the next working day
        ("2026-11-23T10:00", "2026-12-31", "2027-01-04", True),  # a holiday: after the break
    ],
)
async def test_the_delivery_date_follows_the_cut_off_weekends_and_holidays(
    prices: PriceService, placed: str, requested: str | None, delivered: str, moved: bool
) -> None:
    checked = await apply_rules(order(("1000", 24), date=requested), RULES, prices, at(placed))
    assert checked.order["delivery"]["date"] == delivered
    assert bool(checked.adjusted) is moved
    if moved:
        assert checked.adjusted[0]["from"] == requested and checked.adjusted[0]["to"] == delivered
