"""CRM orders from the ERP's receipt, against each CRM simulator, and the manager's mail.

A Bitrix24 deal or a Creatio order shows every line in the unit the ERP took it in, at the ERP's
unit price and line amount, with the ERP's total, and belongs to the customer (the deal to its
company and that company's contact, the Creatio order to its account). Read back, it is the bus's
own state (its echo) and carries the same units and prices to the storefront. Systems are read
through their own APIs, independently of the adapters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bus.adapters import Delivery
from bus.adapters.mail import order_waiting_mail
from bus.errors import PermanentError
from simulators.creatio import seed_id
from tests.contract.pairs import PAIRS, erp_result, new_id, new_order, running

pytestmark = pytest.mark.timeout(60)

WEBHOOK = "/rest/1/bus-webhook-code"
#: Rioja by the box and Bordeaux by the bottle: the receipt's units and prices (pairs.ERP_PRICES).
LINES = [
    {"item": "1002", "quantity": 2.0, "unit": "BOX"},
    {"item": "1000", "quantity": 6.0, "unit": None},
]
EXPECTED = [("1002", 2.0, "BOX", 67.2, 134.4), ("1000", 6.0, "BOTTLE", 13.5, 81.0)]


def _created(number: str | None = "101001", **overrides: Any) -> Delivery:
    order = new_order(lines=LINES, **overrides)
    return Delivery(new_id(), "order.create", order, previous=erp_result(order, number))


# --- Bitrix24 -----------------------------------------------------------------------------------


class Portal:
    def __init__(self, base: str, adapter: Any, control: httpx.AsyncClient) -> None:
        self.base, self.adapter, self.control = base, adapter, control

    async def rest(self, method: str, params: dict[str, Any]) -> Any:
        response = await self.control.post(f"{self.base}{WEBHOOK}/{method}.json", json=params)
        return response.raise_for_status().json()["result"]


@pytest.fixture(params=[p for p in PAIRS if p.simulator == "bitrix24"], ids=str)
async def portal(request: pytest.FixtureRequest, aiohttp_server: Any) -> AsyncIterator[Portal]:
    async with running(request.param, aiohttp_server) as served:
        yield Portal(served.base, served.adapter, served.control)


async def test_a_deal_has_the_erps_units_prices_and_total_and_the_customers_company(
    portal: Portal,
) -> None:
    delivery = _created()
    receipt = await portal.adapter.deliver(delivery)
    deal = await portal.rest("crm.deal.get", {"id": receipt.reference})
    [company] = await portal.rest(
        "crm.company.list", {"filter": {"ORIGIN_ID": "10000"}, "select": ["ID"]}
    )
    contacts = await portal.rest(
        "crm.contact.list", {"filter": {"COMPANY_ID": company["ID"]}, "order": {"ID": "ASC"}}
    )
    assert (deal["COMPANY_ID"], deal["CONTACT_ID"]) == (company["ID"], contacts[0]["ID"])
    assert deal["OPPORTUNITY"] == "215.40" and "(ERP 101001)" in deal["TITLE"]
    rows = await portal.rest("crm.deal.productrows.get", {"id": receipt.reference})
    assert [
        (r["PRODUCT_NAME"], r["QUANTITY"], r["MEASURE_NAME"], r["PRICE"], r["MEASURE_CODE"])
        for r in rows
    ] == [("1002", 2.0, "BOX", 67.2, 778), ("1000", 6.0, "BOTTLE", 13.5, 868)]

    read = await portal.adapter.deliver(
        Delivery(new_id(), "deal.read", {"deal_id": receipt.reference})
    )
    lines = read.details["order"]["lines"]
    assert sorted((li["item"], li["quantity"], li["unit"], li["price"]) for li in lines) == sorted(
        line[:4] for line in EXPECTED
    )
    assert read.state == portal.adapter.intended_state(delivery)  # its own echo


async def test_a_customer_without_a_company_is_refused_before_any_deal(portal: Portal) -> None:
    delivery = _created(customer="99999")
    with pytest.raises(PermanentError) as refused:
        await portal.adapter.deliver(delivery)
    assert "no company for customer '99999'" in refused.value.detail
    listed = await portal.rest("crm.deal.list", {"filter": {"=ORIGINATOR_ID": "bus"}})
    assert listed == []


async def test_a_quoted_order_is_priced_without_an_erp_number(portal: Portal) -> None:
    receipt = await portal.adapter.deliver(_created(number=None))
    deal = await portal.rest("crm.deal.get", {"id": receipt.reference})
    assert "ERP" not in deal["TITLE"] and deal["OPPORTUNITY"] == "215.40"


async def test_a_result_stored_before_receipts_gives_unpriced_rows_as_ordered(
    portal: Portal,
) -> None:
    order = new_order(lines=LINES)
    legacy = {"reference": "101001", "erp_order_no": "101001", "status": "Open"}
    receipt = await portal.adapter.deliver(Delivery(new_id(), "order.create", order, legacy))
    deal = await portal.rest("crm.deal.get", {"id": receipt.reference})
    assert "(ERP 101001)" in deal["TITLE"]
    rows = await portal.rest("crm.deal.productrows.get", {"id": receipt.reference})
    assert [(r["PRODUCT_NAME"], r["QUANTITY"], r["PRICE"]) for r in rows] == [
        ("1002", 2.0, 0.0),
        ("1000", 6.0, 0.0),
    ]
    assert rows[0]["MEASURE_NAME"] == "BOX"  # the unit as ordered, where the line said one


# --- Creatio ------------------------------------------------------------------------------------


class Creatio:
    def __init__(self, base: str, adapter: Any, control: httpx.AsyncClient) -> None:
        self.base, self.adapter, self.control = base, adapter, control
        self.headers: dict[str, str] = {}

    async def odata(self, path: str, **params: str) -> Any:
        if not self.headers:
            login = await self.control.post(
                f"{self.base}/ServiceModel/AuthService.svc/Login",
                json={"UserName": "Supervisor", "UserPassword": "Supervisor"},
            )
            self.headers = {
                "BPMCSRF": login.cookies["BPMCSRF"],
                "Cookie": "; ".join(f"{k}={v}" for k, v in login.cookies.items()),
            }
            self.control.cookies.clear()
        response = await self.control.get(
            f"{self.base}/0/odata/{path}", params=params, headers=self.headers
        )
        return response.raise_for_status().json()


@pytest.fixture
async def creatio(aiohttp_server: Any) -> AsyncIterator[Creatio]:
    [pair] = [p for p in PAIRS if p.name == "creatio"]
    async with running(pair, aiohttp_server) as served:
        yield Creatio(served.base, served.adapter, served.control)


async def test_a_creatio_order_has_the_erps_units_prices_and_total_and_the_account(
    creatio: Creatio,
) -> None:
    delivery = _created()
    receipt = await creatio.adapter.deliver(delivery)
    order = await creatio.odata(f"Order({receipt.reference})")
    assert (order["AccountId"], order["Code"], order["Amount"]) == (
        seed_id("Account:10000"),
        "101001",
        215.4,
    )
    rows = (await creatio.odata("OrderProduct", **{"$filter": f"OrderId eq {order['Id']}"}))[
        "value"
    ]
    units = {u["Id"]: u["ShortName"] for u in (await creatio.odata("Unit"))["value"]}
    assert [
        (r["Name"], r["Quantity"], units[r["UnitId"]], r["Price"], r["Amount"]) for r in rows
    ] == EXPECTED

    read = await creatio.adapter.deliver(
        Delivery(new_id(), "order.read", {"order_id": receipt.reference})
    )
    lines = read.details["order"]["lines"]
    assert sorted((li["item"], li["quantity"], li["unit"], li["price"]) for li in lines) == sorted(
        line[:4] for line in EXPECTED
    )
    assert read.state == creatio.adapter.intended_state(delivery)  # its own echo


async def test_a_unit_creatio_does_not_know_is_refused_before_any_order(creatio: Creatio) -> None:
    order = new_order(lines=[{"item": "1100", "quantity": 1.0, "unit": "BOX"}])
    previous = erp_result(order)
    previous["erp_receipt"]["lines"][0]["unit"] = "KEG"
    delivery = Delivery(new_id(), "order.create", order, previous)
    with pytest.raises(PermanentError) as refused:
        await creatio.adapter.deliver(delivery)
    assert "no Unit with ShortName 'keg'" in refused.value.detail
    assert await creatio.adapter.lookup(delivery) is None


# --- the manager's mail -------------------------------------------------------------------------


def _mail_after_crm(number: str | None) -> Delivery:
    order = {**new_order(lines=LINES), "manager": {"name": "Irina", "email": "irina@b2b.example"}}
    crm_step = {"reference": "41", "crm_deal_id": 41, "context": erp_result(order, number)}
    return Delivery(new_id(), "mail.order_waiting", order, crm_step)


def test_the_managers_mail_lists_the_erps_units_prices_and_total() -> None:
    text = order_waiting_mail(_mail_after_crm("101001"))["text"]
    assert "ERP order: 101001" in text and "CRM: 41" in text
    assert "  1002 x 2 BOX at 67.20 = 134.40" in text
    assert "  1000 x 6 BOTTLE at 13.50 = 81.00" in text
    assert "  Total: 215.40 LCY before VAT" in text


def test_a_quoted_orders_mail_names_no_erp_order() -> None:
    text = order_waiting_mail(_mail_after_crm(None))["text"]
    assert "ERP order" not in text and "1002 x 2 BOX at 67.20" in text
