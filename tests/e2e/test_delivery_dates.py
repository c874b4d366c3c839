"""Delivery dates end to end: no delivery lands in the ERP on a weekend or a holiday.

The bus runs as real processes with a clock in another zone than the ERP's (``TZ`` of
Vladivostok, seven hours ahead of Moscow, where the 1C infobase keeps its time). An order asking
for a Saturday or a configured holiday is answered with the date moved to the next working day
(``adjusted``), and that date is the one NAV (``Requested_Delivery_Date``) and 1C
(``ДатаОтгрузки``) hold; 1C's order ``Date`` is the infobase's wall clock, not the bus host's.
Where the deployment refuses such dates, the order is refused naming ``delivery.date`` and
nothing reaches the ERP. The cut-off is read on the customer's clock: customer 30000, provisioned
from an ERP that serves it from another warehouse (NAV ``EAST``, 1C ``Склад Красногорск``),
orders in that warehouse's zone; a customer with a zone of its own in it; anyone else in the
default one.

The systems are read through their own APIs, never through the bus.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from bus.settings import DEV_KEYS
from tests.e2e.conftest import ERP_ONLY, running, wait_until
from tests.e2e.test_segments import _provision
from tests.e2e.test_systems import TIMINGS
from tests.support.processes import BusClient, Stack

NAV_ODATA = "DynamicsNAV110/ODataV4/Company('CRONUS')"
ONEC_ODATA = "b2b/odata/standard.odata"
#: The bus host's zone, and the infobase's.
BUS_ZONE = "Asia/Vladivostok"
INFOBASE_ZONE = "Europe/Moscow"
LINES = [{"item": "1000", "quantity": 12}]
#: The zone of each seeded warehouse other than the main one, and of one customer.
WAREHOUSE_ZONES = {"EAST": "Asia/Vladivostok", "Склад Красногорск": "Europe/Samara"}
CUSTOMER_ZONES = {"20000": "Europe/Kaliningrad"}


def _ahead(weekday: int) -> dt.date:
    """The first ``weekday`` (0 is Monday) at least two weeks from today: past any earliest
    date the cut-off can give."""
    day = dt.date.today() + dt.timedelta(days=14)
    return day + dt.timedelta(days=(weekday - day.weekday()) % 7)


SATURDAY = _ahead(5)
#: A Wednesday made a holiday by the deployment's settings.
HOLIDAY = _ahead(2)


def _env(tmp: Path, **rules: str) -> dict[str, str]:
    return {
        "BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'bus.db'}",
        **TIMINGS,
        "BUS_ORDER_ROUTES": ERP_ONLY,
        "BUS_ORDER_RULES__HOLIDAYS": json.dumps([HOLIDAY.isoformat()]),
        "BUS_ORDER_RULES__WAREHOUSE_TIMEZONES": json.dumps(WAREHOUSE_ZONES),
        "BUS_ORDER_RULES__CUSTOMER_TIMEZONES": json.dumps(CUSTOMER_ZONES),
        **{f"BUS_ORDER_RULES__{name.upper()}": value for name, value in rules.items()},
        "BUS_ONEC__TIMEZONE": INFOBASE_ZONE,
        "TZ": BUS_ZONE,
    }


@pytest.fixture(scope="module", params=["navision", "onec"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The bus with one ERP and customer 30000 provisioned (its warehouse in the directory);
    orders go to the ERP only (the CRM holds no delivery date)."""
    erp = request.param
    base = tmp_path_factory.mktemp(erp)
    (base / "logs").mkdir()
    simulators = (erp, "bitrix24", "storefront", "mail")
    for started in running(Stack(_env(base), base / "logs", erp=erp, simulators=simulators)):
        _provision(started, "30000")
        yield started


@pytest.fixture(scope="module")
def refusing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A deployment that refuses deliveries on non-working days."""
    base = tmp_path_factory.mktemp("refusing")
    (base / "logs").mkdir()
    env = _env(base, non_working_days="refuse")
    yield from running(Stack(env, base / "logs", erp="navision"))


@pytest.mark.parametrize(
    ("requested", "moved_to", "what"),
    [
        (SATURDAY, SATURDAY + dt.timedelta(days=2), "Saturday"),
        (SATURDAY + dt.timedelta(days=1), SATURDAY + dt.timedelta(days=2), "Sunday"),
        (HOLIDAY, HOLIDAY + dt.timedelta(days=1), "holiday"),
    ],
    ids=["saturday", "sunday", "holiday"],
)
def test_a_weekend_or_holiday_lands_in_the_erp_as_the_next_working_day(
    stack: Stack, requested: dt.date, moved_to: dt.date, what: str
) -> None:
    accepted = _submit(stack, requested)
    [adjusted] = accepted["adjusted"]
    assert (adjusted["field"], adjusted["from"], adjusted["to"]) == (
        "delivery.date",
        requested.isoformat(),
        moved_to.isoformat(),
    )
    assert what in adjusted["reason"] and "next working day" in adjusted["reason"]
    assert _erp_order(stack, _delivered(stack, accepted))["delivery_date"] == moved_to


def test_a_working_day_lands_as_requested(stack: Stack) -> None:
    friday = SATURDAY - dt.timedelta(days=1)
    accepted = _submit(stack, friday)
    assert "adjusted" not in accepted
    assert _erp_order(stack, _delivered(stack, accepted))["delivery_date"] == friday


def test_the_1c_order_is_dated_in_the_infobases_zone(stack: Stack) -> None:
    if stack.erp != "onec":
        pytest.skip("NAV dates its orders itself (Order_Date)")
    before = _wall_clock(INFOBASE_ZONE)
    accepted = _submit(stack, SATURDAY - dt.timedelta(days=1))
    order = _erp_order(stack, _delivered(stack, accepted))
    after = _wall_clock(INFOBASE_ZONE)
    # The bus's own clock reads seven hours later: a Date from it would be far out of this range.
    assert before - dt.timedelta(seconds=1) <= order["date"] <= after, (before, order, after)


@pytest.mark.parametrize(
    ("customer", "zone"),
    [("30000", "warehouse"), ("20000", CUSTOMER_ZONES["20000"]), ("10000", "Europe/Moscow")],
    ids=["warehouse", "customer", "default"],
)
def test_the_cut_off_is_read_on_the_customers_clock(stack: Stack, customer: str, zone: str) -> None:
    if zone == "warehouse":
        zone = WAREHOUSE_ZONES["EAST" if stack.erp == "navision" else "Склад Красногорск"]
    before = _wall_clock(zone)
    accepted = _submit(stack, None, customer)
    after = _wall_clock(zone)
    [adjusted] = accepted["adjusted"]
    placed = re.search(r"placed at (\d\d:\d\d) on \w+ (\S+) \(([^)]+)\)", adjusted["reason"])
    assert placed is not None, adjusted
    local = dt.datetime.fromisoformat(f"{placed[2]}T{placed[1]}")
    assert placed[3] == zone
    assert before.replace(second=0) <= local <= after, (before, adjusted, after)
    assert adjusted["to"] == _earliest(local).isoformat(), adjusted


def test_a_deployment_that_refuses_non_working_days_names_the_field(refusing: Stack) -> None:
    for requested, what in [(SATURDAY, "Saturday"), (HOLIDAY, "holiday")]:
        order_id = f"R-{uuid.uuid4().hex[:8]}"
        error = _refused(refusing, order_id, requested)
        assert error["code"] == -32602, error
        [field] = error["data"]["fields"]
        assert (field["field"], field["type"]) == ("delivery.date", "non_working_day")
        assert f"{requested.isoformat()} is a {what}" in field["message"]
        assert _nav_orders(refusing, order_id) == []
    friday = SATURDAY - dt.timedelta(days=1)
    accepted = _submit(refusing, friday)  # a working day still goes through
    assert _erp_order(refusing, _delivered(refusing, accepted))["delivery_date"] == friday


# --- helpers ------------------------------------------------------------------------------------


def _order(order_id: str, date: dt.date | None, customer: str = "10000") -> dict[str, Any]:
    delivery = {"date": date.isoformat() if date else None}
    return {"order_id": order_id, "customer": customer, "lines": LINES, "delivery": delivery}


def _submit(stack: Stack, date: dt.date | None, customer: str = "10000") -> Any:
    client = BusClient(stack.api_url, DEV_KEYS["storefront"])
    try:
        return client.call("order.submit", _order(f"D-{uuid.uuid4().hex[:8]}", date, customer))
    finally:
        client.close()


def _earliest(local: dt.datetime) -> dt.date:
    """The default rules by hand: the next weekday before 18:00 on a weekday, else the second
    (the configured holiday is weeks ahead)."""
    count = 1 if local.weekday() < 5 and local.time() < dt.time(18) else 2
    day = local.date()
    while count:
        day += dt.timedelta(days=1)
        count -= day.weekday() < 5
    return day


def _refused(stack: Stack, order_id: str, date: dt.date) -> Any:
    """The JSON-RPC error of an ``order.submit`` the bus refuses."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "order.submit", "params": _order(order_id, date)}
    headers = {"Authorization": f"Bearer {DEV_KEYS['storefront']}"}
    reply = httpx.post(f"{stack.api_url}/rpc", json=body, headers=headers, timeout=30).json()
    assert "error" in reply, reply
    return reply["error"]


def _delivered(stack: Stack, accepted: dict[str, Any]) -> str:
    """Wait until the order is in the ERP; the ERP's order number."""
    ops = BusClient(stack.api_url, DEV_KEYS["ops"])
    seen: dict[str, Any] = {}

    def done() -> bool:
        seen.update(ops.call("message.get", {"message_id": accepted["message_id"]}))
        return bool(seen["status"] == "delivered")

    try:
        wait_until(done, stack, 40, f"the order {accepted['message_id']} in the ERP")
    finally:
        ops.close()
    return str(seen["result"]["reference"])


def _erp_order(stack: Stack, number: str) -> dict[str, Any]:
    """The ERP's order ``number``: its delivery date and (1C) its ``Date``, as the ERP's API
    shows them."""
    url = stack.urls[stack.erp]
    if stack.erp == "navision":
        [order] = httpx.get(
            f"{url}/{NAV_ODATA}/SalesOrder",
            params={"$filter": f"No eq '{number}'"},
            auth=("bus", "bus-secret"),
        ).json()["value"]
        return {"delivery_date": dt.date.fromisoformat(order["Requested_Delivery_Date"])}
    [order] = httpx.get(
        f"{url}/{ONEC_ODATA}/Document_ЗаказКлиента",
        params={"$format": "json", "$filter": f"Number eq '{number}'"},
        auth=("bus", "bus-secret"),
    ).json()["value"]
    shipment = dt.datetime.fromisoformat(order["ДатаОтгрузки"])
    assert shipment.time() == dt.time(0), order["ДатаОтгрузки"]  # a date: midnight
    return {"delivery_date": shipment.date(), "date": dt.datetime.fromisoformat(order["Date"])}


def _nav_orders(stack: Stack, order_id: str) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = httpx.get(
        f"{stack.urls['navision']}/{NAV_ODATA}/SalesOrder",
        params={"$filter": f"Your_Reference eq '{order_id}'"},
        auth=("bus", "bus-secret"),
    ).json()["value"]
    return orders


def _wall_clock(zone: str) -> dt.datetime:
    """Now as a naive wall clock of ``zone``, to the second (as 1C keeps dates)."""
    return dt.datetime.now(ZoneInfo(zone)).replace(microsecond=0, tzinfo=None)
