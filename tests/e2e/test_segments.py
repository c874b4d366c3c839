"""Order routing by customer segment, end to end with every ERP and CRM.

Provisioning keeps each customer's facts (the ERP's licence and contracts, the CRM's manager) in
the bus's directory; a licensed customer's order then goes to the ERP, to the licence address, and
on to the CRM, and an unlicensed customer's cart is split into one pick-up order per contract,
which the ERP only prices (it holds no order) for the CRM. Every order mails the customer's
manager.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.settings import DEV_KEYS
from tests.e2e.conftest import EVERY_PAIR, running, stack_dir, wait_until
from tests.e2e.test_cli import cli_json
from tests.e2e.test_provisioning import _steps_delivered
from tests.e2e.test_systems import (
    TIMINGS,
    _bitrix24_deal,
    _call,
    _creatio_order,
    _creatio_session,
)
from tests.support.processes import BusClient, Stack

MANAGER = {"name": "Irina Volkova", "email": "irina.volkova@b2b.example"}
#: What each ERP seeds for the licensed customer 10000.
LICENCE_ADDRESS = {
    "navision": "192 Market Square, Atlanta 31772",
    "onec": "г. Москва, Рыночная пл., д. 192",
}
#: Customer 50000 has no licence, a contract for water and one for alcohol (its accessories
#: contract is blocked in the ERP).
CONTRACTS = {
    "navision": {"water": "D-50000-W", "alcohol": "D-50000-A"},
    "onec": {"water": "Д-50000-В", "alcohol": "Д-50000-А"},
}


@pytest.fixture(scope="module", params=EVERY_PAIR, ids="-".join)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One deployment per pair for the module, customers 10000 and 50000 provisioned: each test
    that takes it submits orders of its own and sets no fault."""
    base = stack_dir(tmp_path_factory, "-".join(request.param))
    yield from _provisioned(base, base / "logs", *request.param)


@pytest.fixture(params=EVERY_PAIR, ids="-".join)
def fresh_stack(request: pytest.FixtureRequest, log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    """A deployment of its own, provisioned alike, for a test that sets a one-time CRM fault:
    on a shared one, the CRM events another test's orders cause could use it up."""
    yield from _provisioned(tmp_path, log_dir, *request.param)


def _provisioned(base: Path, logs: Path, erp: str, crm: str) -> Iterator[Stack]:
    env = {"BUS_DATABASE_URL": f"sqlite+aiosqlite:///{base / 'bus.db'}", **TIMINGS}
    simulators = (erp, crm, "storefront", "mail")
    for provisioned in running(Stack(env, logs, erp=erp, crm=crm, simulators=simulators)):
        for erp_key in ("10000", "50000"):
            _provision(provisioned, erp_key)
        yield provisioned


def _provision(stack: Stack, erp_key: str) -> None:
    contact = {"name": "Anna Petrova", "email": f"anna@{erp_key}.example", "primary": True}
    params = {"erp_key": erp_key, "contacts": [contact], "settings": {"manager": MANAGER}}
    created = _call(stack, "crm", "account.create", params)
    _steps_delivered(stack, created["message_id"], steps=8)  # the CRM hears the outcome


def _crm_order(stack: Stack, order_id: str) -> list[tuple[str, float]]:
    """The product rows of the CRM's order (Creatio) or deal (Bitrix24) for ``order_id``."""
    url = stack.urls[stack.crm]
    if stack.crm == "creatio":
        _, rows = _creatio_order(url, order_id)
        return sorted((r["Name"], r["Quantity"]) for r in rows)
    _, rows = _bitrix24_deal(url, order_id)
    return sorted((r["PRODUCT_NAME"], r["QUANTITY"]) for r in rows)


def _mails_about(stack: Stack, order_id: str) -> list[dict[str, Any]]:
    found = httpx.get(
        f"{stack.urls['mail']}/_control/mail/messages", params={"to": MANAGER["email"]}
    ).json()["messages"]
    return [m for m in found if order_id in m["subject"]]


def _erp_delivery_address(stack: Stack, message: dict[str, Any]) -> str:
    """The delivery address on the ERP's order created by ``message``."""
    url, number = stack.urls[stack.erp], message["result"]["reference"]
    if stack.erp == "navision":
        odata = f"{url}/DynamicsNAV110/ODataV4/Company('CRONUS')"
        found = httpx.get(
            f"{odata}/SalesOrder",
            params={"$filter": f"No eq '{number}'"},
            auth=("bus", "bus-secret"),
        ).json()["value"]
        return str(found[0]["Ship_to_Address"])
    found = httpx.get(
        f"{url}/b2b/odata/standard.odata/Document_ЗаказКлиента",
        params={"$format": "json", "$filter": f"Number eq '{number}'"},
        auth=("bus", "bus-secret"),
    ).json()["value"]
    return str(found[0]["АдресДоставки"])


def _crm_notes(stack: Stack, erp_key: str) -> list[str]:
    """What the CRM shows on the customer's account (Creatio) or company timeline (Bitrix24)."""
    url = stack.urls[stack.crm]
    if stack.crm == "creatio":
        found = httpx.get(
            f"{url}/0/odata/Account",
            params={"$filter": f"Code eq '{erp_key}'", "$select": "Notes"},
            headers=_creatio_session(url),
        ).json()["value"]
        return [str(account["Notes"]) for account in found]
    rest = f"{url}/rest/1/bus-webhook-code"
    [company] = httpx.post(
        f"{rest}/crm.company.list.json", json={"filter": {"ORIGIN_ID": erp_key}, "select": ["ID"]}
    ).json()["result"]
    comments = httpx.post(
        f"{rest}/crm.timeline.comment.list.json",
        json={"filter": {"ENTITY_ID": company["ID"], "ENTITY_TYPE": "company"}},
    ).json()["result"]
    return [str(comment["COMMENT"]) for comment in comments]


def test_provisioning_reports_its_outcome_to_the_crm(stack: Stack) -> None:
    for erp_key in ("10000", "50000"):
        [note] = [n for n in _crm_notes(stack, erp_key) if "Storefront account ready" in n]
        assert "set-password mail sent" in note


def test_a_licensed_customer_orders_through_the_erp_to_its_licence_address(stack: Stack) -> None:
    order_id = f"L-{uuid.uuid4().hex[:6]}"
    lines = [
        {"item": "1000", "quantity": 6, "product_type": "alcohol"},
        {"item": "1100", "quantity": 24, "product_type": "water"},
    ]
    accepted = _call(
        stack,
        "storefront",
        "order.submit",
        {"order_id": order_id, "customer": "10000", "lines": lines},
    )
    assert accepted["route"] == "licensed" and "orders" not in accepted
    message = _steps_delivered(stack, accepted["message_id"], steps=3)  # ERP, CRM, mail
    assert [c["target"] for c in message["children"]] == [stack.crm, "mail"]
    assert _erp_delivery_address(stack, message) == LICENCE_ADDRESS[stack.erp]
    assert _crm_order(stack, order_id) == [("1000", 6), ("1100", 24)]
    [mail] = _mails_about(stack, order_id)
    erp_number = message["result"]["reference"]
    assert f"ERP order: {erp_number}" in mail["text"] and LICENCE_ADDRESS[stack.erp] in mail["text"]


def test_an_unlicensed_customers_cart_is_split_into_pickup_orders_per_contract(
    stack: Stack,
) -> None:
    order_id = f"U-{uuid.uuid4().hex[:6]}"
    lines = [
        {"item": "1100", "quantity": 24, "product_type": "water"},
        {"item": "1000", "quantity": 6, "product_type": "alcohol"},
        {"item": "1101", "quantity": 24, "product_type": "water"},
    ]
    order = {"order_id": order_id, "customer": "50000", "lines": lines}
    accepted = _call(stack, "storefront", "order.submit", order)
    contracts = CONTRACTS[stack.erp]
    assert accepted["route"] == "by_contract" and accepted["status"] == "delivered"
    assert {o["contract"]["number"]: o["lines"] for o in accepted["orders"]} == {
        contracts["water"]: 2,
        contracts["alcohol"]: 1,
    }
    # Per order: the ERP's prices, the CRM's order, the mail.
    parent = _steps_delivered(stack, accepted["message_id"], steps=7)
    targets = [stack.erp, stack.crm, "mail"] * 2
    assert sorted(c["target"] for c in parent["children"]) == sorted(targets)
    assert _crm_order(stack, f"{order_id}/{contracts['water']}") == [("1100", 24), ("1101", 24)]
    assert _crm_order(stack, f"{order_id}/{contracts['alcohol']}") == [("1000", 6)]
    for contract in contracts.values():
        [mail] = _mails_about(stack, f"{order_id}/{contract}")
        assert "Pick-up on " in mail["text"] and f"under contract {contract}." in mail["text"]
    erp_log = httpx.get(f"{stack.urls[stack.erp]}/_control/received").json()["requests"]
    assert not [r for r in erp_log if order_id in str(r.get("body"))]  # it holds no order

    # A line of a product type the customer has no (active) contract for is refused, named.
    refused = httpx.post(
        f"{stack.api_url}/rpc",
        headers={"Authorization": f"Bearer {DEV_KEYS['storefront']}"},
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "order.submit",
            "params": {
                **order,
                "order_id": f"{order_id}-2",
                "lines": [*lines, {"item": "1200", "quantity": 1, "product_type": "accessories"}],
            },
        },
    ).json()["error"]
    assert refused["code"] == -32602
    [field] = refused["data"]["fields"]
    assert field["field"] == "lines.3.product_type" and "accessories" in field["message"]


def test_a_split_order_with_one_failing_child_delivers_the_others(fresh_stack: Stack) -> None:
    stack = fresh_stack
    crm = stack.urls[stack.crm]
    # The CRM refuses the first order it is sent, for good; the other is unaffected.
    fault = {"mode": "status", "status": 400, "match": "batch", "methods": ["POST"], "times": 1}
    httpx.post(f"{crm}/_control/faults", json=fault).raise_for_status()
    order_id = f"F-{uuid.uuid4().hex[:6]}"
    lines = [
        {"item": "1100", "quantity": 24, "product_type": "water"},
        {"item": "1000", "quantity": 6, "product_type": "alcohol"},
    ]
    accepted = _call(
        stack,
        "storefront",
        "order.submit",
        {"order_id": order_id, "customer": "50000", "lines": lines},
    )
    ops = BusClient(stack.api_url, DEV_KEYS["ops"])
    try:

        def settled() -> bool:
            children = ops.call("message.get", {"message_id": accepted["message_id"]})["children"]
            statuses = sorted(c["status"] for c in children)
            # Both priced; one order and its mail delivered, the other failed, its mail waiting.
            return statuses == ["blocked", *["delivered"] * 4, "failed"]

        wait_until(
            settled, stack, 40, "one order delivered and mailed, one failed, its mail waiting"
        )
        children = ops.call("message.get", {"message_id": accepted["message_id"]})["children"]
        [failed] = [c["message_id"] for c in children if c["status"] == "failed"]
        replayed = cli_json(
            stack, "messages", "replay", failed, "--reason", "CRM fixed", "--by", "alice"
        )
        assert replayed[0]["ok"]  # type: ignore[index]
        _steps_delivered(stack, accepted["message_id"], steps=7)
    finally:
        ops.close()
