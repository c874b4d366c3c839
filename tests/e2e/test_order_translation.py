"""One order means the same goods at the same prices in every system, end to end with each pair.

An order with a line in boxes lands in the ERP in boxes (NAV's ``Unit_of_Measure_Code``, 1C's
``ЕдиницаИзмерения`` with its ``Коэффициент``), and the CRM's rows and the manager's mail show the
same boxes at the ERP's unit prices, line amounts and total; the CRM order belongs to the customer
(the Bitrix24 deal to its company and contact, the Creatio order to its account). A manager's edit
in the CRM brings the order back to the storefront with those prices, never zeroed. An order that
goes to the CRM only (an unlicensed customer's pick-up orders per contract) carries the
customer's personal prices from the ERP's price service.

The systems are read through their own APIs, never through the bus.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bus.settings import DEV_KEYS
from simulators.creatio.store import seed_id
from simulators.navision.seed import ITEM_UNITS
from tests.e2e.conftest import DONE, EVERY_PAIR, running, wait_until
from tests.e2e.test_segments import CONTRACTS, _mails_about, _provision
from tests.e2e.test_systems import (
    TIMINGS,
    _call,
    _creatio_patch,
    _creatio_session,
    _storefront_updates,
)
from tests.support.processes import BusClient, Stack

#: Two boxes of Rioja (six bottles each) and six bottles of Bordeaux, in the item's own unit.
LINES = [{"item": "1002", "quantity": 2, "unit": "BOX"}, {"item": "1000", "quantity": 6}]
#: 1C's empty reference: a row in the item's base unit has no ЕдиницаИзмерения.
EMPTY_REF = "00000000-0000-0000-0000-000000000000"
NAV_ODATA = "DynamicsNAV110/ODataV4/Company('CRONUS')"
ONEC_ODATA = "b2b/odata/standard.odata"
BITRIX24_REST = "rest/1/bus-webhook-code"
#: How many of the item's catalog units (what ``prices.get`` quotes) one box of water 1100 is:
#: NAV sells it by the box already, 1C's catalog counts bottles.
WATER_BOX = {"navision": 1, "onec": 24}


@pytest.fixture(scope="module", params=EVERY_PAIR, ids="-".join)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One deployment per pair for the module: customers 10000 (licensed) and 50000 (two
    contracts) provisioned with a manager; Creatio's order-changed process calls the bus."""
    erp, crm = request.param
    base = tmp_path_factory.mktemp(f"{erp}-{crm}")
    logs = base / "logs"
    logs.mkdir()
    env = {"BUS_DATABASE_URL": f"sqlite+aiosqlite:///{base / 'bus.db'}", **TIMINGS}
    simulators = (erp, crm, "storefront", "mail")
    for started in running(Stack(env, logs, erp=erp, crm=crm, simulators=simulators)):
        if crm == "creatio":
            hook = {"url": f"{started.api_url}/rpc", "key": DEV_KEYS["crm"]}
            creatio = started.urls["creatio"]
            httpx.post(f"{creatio}/_control/creatio/hook", json=hook).raise_for_status()
        for erp_key in ("10000", "50000"):
            _provision(started, erp_key)
        yield started


def test_a_box_is_the_same_goods_at_the_same_prices_in_the_erp_the_crm_and_the_mail(
    stack: Stack,
) -> None:
    order_id = f"T-{uuid.uuid4().hex[:6]}"
    message = _delivered(stack, _submit(stack, order_id, "10000", LINES))
    assert [c["target"] for c in message["children"]] == [stack.crm, "mail"]
    erp = _erp_order(stack, message["result"]["reference"])

    [box] = [line for line in erp["lines"] if line["item"] == "1002"]
    assert (box["quantity"], box["unit"]) == (2, "BOX")  # two boxes, not two bottles
    assert box["amount"] == pytest.approx(2 * box["price"], abs=0.01)
    if stack.erp == "onec":
        assert box["per_unit"] == 6  # 1C counts the box's bottles by its coefficient
    else:
        assert ITEM_UNITS[("1002", "BOX")] == 6  # NAV's item unit of measure
    [bottles] = [line for line in erp["lines"] if line["item"] == "1000"]
    assert bottles["quantity"] == 6 and bottles["price"] > 0

    crm = _crm_order(stack, order_id)
    assert _goods(crm["lines"]) == _goods(erp["lines"])  # same units, quantities, prices, sums
    assert crm["total"] == pytest.approx(erp["total"], abs=0.01)
    assert crm["total"] == pytest.approx(box["amount"] + bottles["amount"], abs=0.01)

    [mail] = _mails_about(stack, order_id)
    assert f"1002 x 2 BOX at {box['price']:,.2f} = {box['amount']:,.2f}" in mail["text"]
    unit = bottles["unit"]
    assert f"1000 x 6 {unit} at {bottles['price']:,.2f} = {bottles['amount']:,.2f}" in mail["text"]
    assert f"Total: {erp['total']:,.2f}" in mail["text"]


def test_the_crm_order_belongs_to_the_customer(stack: Stack) -> None:
    order_id = f"C-{uuid.uuid4().hex[:6]}"
    _delivered(stack, _submit(stack, order_id, "10000", LINES))
    crm = _crm_order(stack, order_id)
    url = stack.urls[stack.crm]
    if stack.crm == "creatio":
        assert crm["owner"] == {"AccountId": seed_id("Account:10000")}
        return
    rest = f"{url}/{BITRIX24_REST}"
    [company] = httpx.post(
        f"{rest}/crm.company.list.json", json={"filter": {"ORIGIN_ID": "10000"}, "select": ["ID"]}
    ).json()["result"]
    contacts = httpx.post(
        f"{rest}/crm.contact.list.json",
        json={"filter": {"COMPANY_ID": company["ID"]}, "select": ["ID"], "order": {"ID": "ASC"}},
    ).json()["result"]
    assert contacts, "the simulated portal knows a contact of the customer's company"
    assert crm["owner"] == {"COMPANY_ID": company["ID"], "CONTACT_ID": contacts[0]["ID"]}


def test_an_edit_in_the_crm_brings_the_erps_prices_back_to_the_storefront(stack: Stack) -> None:
    storefront = stack.urls["storefront"]
    changed = "creatio.order_changed" if stack.crm == "creatio" else "bitrix24.deal_changed"
    events_before = len(_events(stack, changed))
    order_id = f"E-{uuid.uuid4().hex[:6]}"
    message = _delivered(stack, _submit(stack, order_id, "10000", LINES))
    erp = _erp_order(stack, message["result"]["reference"])
    # The order's own creation comes back as events: the bus's echo, not forwarded.
    echoes = 1 if stack.crm == "creatio" else 2
    wait_until(
        lambda: _events_settled(stack, changed, events_before + echoes), stack, 30, "the echoes"
    )
    assert _storefront_updates(storefront, order_id) == []

    _edit_in_crm(stack, order_id)
    wait_until(
        lambda: len(_storefront_updates(storefront, order_id)) == 1,
        stack,
        30,
        "the storefront's order update",
    )
    [update] = _storefront_updates(storefront, order_id)
    lines = update["params"]["lines"]
    assert all(line["price"] > 0 for line in lines), lines  # never zeroed
    sent = sorted((li["item"], li["quantity"], li.get("unit"), li["price"]) for li in lines)
    expected = sorted((li["item"], li["quantity"], li["unit"], li["price"]) for li in erp["lines"])
    assert sent == [(i, q, u, pytest.approx(p)) for i, q, u, p in expected]


def test_pickup_orders_straight_to_the_crm_carry_the_customers_personal_prices(
    stack: Stack,
) -> None:
    order_id = f"P-{uuid.uuid4().hex[:6]}"
    lines = [
        {"item": "1100", "quantity": 2, "unit": "BOX", "product_type": "water"},
        {"item": "1000", "quantity": 6, "product_type": "alcohol"},
    ]
    accepted = _submit(stack, order_id, "50000", lines)
    assert accepted["route"] == "by_contract"
    _delivered(stack, accepted)
    quoted = _call(
        stack,
        "storefront",
        "prices.get",
        {
            "customer": "50000",
            "items": [{"item": "1100", "quantity": 2}, {"item": "1000", "quantity": 6}],
        },
    )
    price_of = {p["item"]: p["price"] for p in quoted["prices"]}
    contracts = CONTRACTS[stack.erp]

    [water] = _crm_order(stack, f"{order_id}/{contracts['water']}")["lines"]
    assert (water["item"], water["quantity"], water["unit"]) == ("1100", 2, "BOX")
    assert water["price"] == pytest.approx(price_of["1100"] * WATER_BOX[stack.erp])
    assert water["amount"] == pytest.approx(2 * water["price"], abs=0.01)
    alcohol = _crm_order(stack, f"{order_id}/{contracts['alcohol']}")
    [wine] = alcohol["lines"]
    assert (wine["item"], wine["quantity"]) == ("1000", 6) and wine["unit"]
    assert wine["price"] == pytest.approx(price_of["1000"]) and wine["price"] > 0
    assert alcohol["total"] == pytest.approx(6 * wine["price"], abs=0.01)
    [mail] = _mails_about(stack, f"{order_id}/{contracts['water']}")
    assert f"1100 x 2 BOX at {water['price']:,.2f}" in mail["text"]
    assert "ERP order" not in mail["text"]  # the ERP quoted prices; it holds no order


# --- helpers ------------------------------------------------------------------------------------


def _submit(stack: Stack, order_id: str, customer: str, lines: list[dict[str, Any]]) -> Any:
    order = {"order_id": order_id, "customer": customer, "lines": lines}
    return _call(stack, "storefront", "order.submit", order)


def _delivered(stack: Stack, accepted: dict[str, Any]) -> dict[str, Any]:
    """Wait until the message and every step after it are delivered; the message."""
    ops = BusClient(stack.api_url, DEV_KEYS["ops"])
    seen: dict[str, Any] = {}

    def done() -> bool:
        seen.update(ops.call("message.get", {"message_id": accepted["message_id"]}))
        steps = [seen, *seen["children"]]
        return bool(seen["children"]) and all(s["status"] in DONE for s in steps)

    try:
        wait_until(done, stack, 40, f"the steps of {accepted['message_id']}")
    finally:
        ops.close()
    return seen


def _goods(lines: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Lines as comparable tuples: item, quantity, unit, unit price, line amount."""
    return sorted(
        (li["item"], li["quantity"], li["unit"], round(li["price"], 2), round(li["amount"], 2))
        for li in lines
    )


def _erp_order(stack: Stack, number: str) -> dict[str, Any]:
    """The ERP's order ``number`` as its API shows it: lines and total (before VAT)."""
    url = stack.urls[stack.erp]
    if stack.erp == "navision":
        [order] = httpx.get(
            f"{url}/{NAV_ODATA}/SalesOrder",
            params={"$filter": f"No eq '{number}'", "$expand": "SalesOrderSalesLines"},
            auth=("bus", "bus-secret"),
        ).json()["value"]
        lines = [
            {
                "item": line["No"],
                "quantity": line["Quantity"],
                "unit": line["Unit_of_Measure_Code"],
                "price": line["Unit_Price"],
                "amount": line["Line_Amount"],
            }
            for line in order["SalesOrderSalesLines"]
        ]
        return {"lines": lines, "total": order["Amount"]}
    [order] = _onec(url, "Document_ЗаказКлиента", {"$filter": f"Number eq '{number}'"})
    items = {i["Ref_Key"]: i for i in _onec(url, "Catalog_Номенклатура", {})}
    units = {u["Ref_Key"]: u for u in _onec(url, "Catalog_ЕдиницыИзмерения", {})}
    lines = []
    for row in order["Товары"]:
        item = items[row["Номенклатура_Key"]]
        unit = units.get(row["ЕдиницаИзмерения_Key"])
        lines.append(
            {
                "item": item["Code"],
                "quantity": row["Количество"],
                # A row without a unit is in the item's base unit.
                "unit": unit["Code"] if unit else item["ЕдиницаИзмерения"],
                "per_unit": row["Коэффициент"],
                "price": row["Цена"],
                "amount": row["Сумма"],
            }
        )
    return {"lines": lines, "total": order["СуммаДокумента"]}


def _onec(url: str, entity_set: str, params: dict[str, str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(
        f"{url}/{ONEC_ODATA}/{entity_set}",
        params={"$format": "json", **params},
        auth=("bus", "bus-secret"),
    ).json()["value"]
    return found


def _crm_order(stack: Stack, order_id: str) -> dict[str, Any]:
    """The CRM's order for ``order_id``: its rows, its total and whom it belongs to."""
    url = stack.urls[stack.crm]
    if stack.crm == "creatio":
        headers = _creatio_session(url)
        [order] = httpx.get(
            f"{url}/0/odata/Order", params={"$filter": f"Number eq '{order_id}'"}, headers=headers
        ).json()["value"]
        rows = httpx.get(
            f"{url}/0/odata/OrderProduct",
            params={"$filter": f"OrderId eq {order['Id']}"},
            headers=headers,
        ).json()["value"]
        units = {
            u["Id"]: u["ShortName"]
            for u in httpx.get(f"{url}/0/odata/Unit", headers=headers).json()["value"]
        }
        lines = [
            {
                "item": row["Name"],
                "quantity": float(row["Quantity"]),
                "unit": units.get(row["UnitId"]),
                "price": float(row["Price"]),
                "amount": float(row["Amount"]),
            }
            for row in rows
        ]
        return {
            "lines": lines,
            "total": float(order["Amount"]),
            "owner": {"AccountId": order["AccountId"]},
        }
    rest = f"{url}/{BITRIX24_REST}"
    listed = httpx.post(
        f"{rest}/crm.deal.list.json",
        json={
            "filter": {"=ORIGINATOR_ID": "bus", "=%ORIGIN_ID": f"{order_id}/%"},
            "select": ["ID", "ORIGIN_ID"],
        },
    ).json()["result"]
    [deal_id] = [d["ID"] for d in listed if d["ORIGIN_ID"].rpartition("/")[0] == order_id]
    deal = httpx.post(f"{rest}/crm.deal.get.json", json={"id": deal_id}).json()["result"]
    rows = httpx.post(f"{rest}/crm.deal.productrows.get.json", json={"id": deal_id}).json()
    lines = [
        {
            "item": row["PRODUCT_NAME"],
            "quantity": row["QUANTITY"],
            "unit": row["MEASURE_NAME"],
            "price": row["PRICE"],
            "amount": round(row["PRICE"] * row["QUANTITY"], 2),
        }
        for row in rows["result"]
    ]
    owner = {"COMPANY_ID": deal["COMPANY_ID"], "CONTACT_ID": deal["CONTACT_ID"]}
    return {"lines": lines, "total": float(deal["OPPORTUNITY"]), "owner": owner}


def _edit_in_crm(stack: Stack, order_id: str) -> None:
    """A manager moves the order on in the CRM (a deal's stage, an order's status)."""
    url = stack.urls[stack.crm]
    if stack.crm == "creatio":
        headers = _creatio_session(url)
        [order] = httpx.get(
            f"{url}/0/odata/Order", params={"$filter": f"Number eq '{order_id}'"}, headers=headers
        ).json()["value"]
        _creatio_patch(
            url, f"Order({order['Id']})", {"StatusId": seed_id("OrderStatus:InProgress")}
        )
        return
    listed = httpx.post(
        f"{url}/{BITRIX24_REST}/crm.deal.list.json",
        json={"filter": {"=%ORIGIN_ID": f"{order_id}/%"}, "select": ["ID"]},
    ).json()["result"]
    edit = {"id": int(listed[0]["ID"]), "fields": {"STAGE_ID": "EXECUTING"}}
    httpx.post(f"{url}/_control/bitrix24/edit_deal", json=edit).raise_for_status()


def _events(stack: Stack, method: str) -> list[dict[str, Any]]:
    listed = stack.run_cli("messages", "list", "--method", method, "--json")
    events: list[dict[str, Any]] = json.loads(listed.stdout or "[]")
    return events


def _events_settled(stack: Stack, method: str, at_least: int) -> bool:
    events = _events(stack, method)
    return len(events) >= at_least and all(e["status"] in DONE for e in events)
