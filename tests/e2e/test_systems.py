"""End to end with every system: each ERP, each CRM, the storefront, as real processes.

An order goes to the ERP, then to the CRM with the ERP's number and its product rows. A manager's
edit of a Bitrix24 deal, or of a Creatio order (reported by Creatio's business process), comes
back to the storefront as an order update, while the order's own creation (which both CRMs report
too) is recognised as the bus's echo and not forwarded.
"""

from __future__ import annotations

import base64
import io
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest

from bus.settings import DEV_KEYS, Settings
from simulators.creatio.store import seed_id
from tests.e2e.conftest import DONE, EVERY_PAIR, FAST, running, stack_dir, wait_until
from tests.support.processes import BusClient, Stack

#: Fast retries for every target of these stacks.
TIMINGS = {
    **{k: v for k, v in FAST.items() if not k.startswith(("BUS_NAVISION__", "BUS_ORDER_ROUTES"))},
    **{
        f"BUS_{system}__RETRY__{name}": value
        for system in ("NAVISION", "ONEC", "CREATIO", "BITRIX24", "STOREFRONT")
        for name, value in (("BACKOFF_MIN", "0.2"), ("BACKOFF_MAX", "1"), ("ATTEMPT_TIMEOUT", "5"))
    },
}


def _stack(log_dir: Path, tmp_path: Path, erp: str, crm: str) -> Iterator[Stack]:
    env = {"BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}", **TIMINGS}
    yield from running(Stack(env, log_dir, erp=erp, crm=crm, simulators=(erp, crm, "storefront")))


@pytest.fixture(scope="module", params=EVERY_PAIR, ids="-".join)
def pair_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A stack for each deployment, every ERP with every CRM, shared by the module's tests that
    take it: each submits an order of its own, the others read prices, carts and customer
    20000's documents, which only one of them requests."""
    erp, crm = request.param
    base = stack_dir(tmp_path_factory, f"{erp}-{crm}")
    yield from _stack(base / "logs", base, erp, crm)


@pytest.fixture
def bitrix24_stack(log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    yield from _stack(log_dir, tmp_path, "navision", "bitrix24")


def _call(stack: Stack, caller: str, method: str, params: dict[str, Any]) -> Any:
    """One JSON-RPC call to the stack's bus as ``caller``; its result."""
    client = BusClient(stack.api_url, DEV_KEYS[caller])
    try:
        return client.call(method, params)
    finally:
        client.close()


def _submit(stack: Stack, **overrides: Any) -> tuple[str, dict[str, Any]]:
    order = {
        "order_id": f"W-{uuid.uuid4().hex[:8]}",
        "customer": "10000",
        "lines": [{"item": "1000", "quantity": 12}, {"item": "1002", "quantity": 6}],
        **overrides,
    }
    accepted = _call(stack, "storefront", "order.submit", order)
    return accepted["message_id"], order


def _both_steps_delivered(stack: Stack, message_id: str) -> dict[str, Any]:
    """Wait until the order and its CRM step are delivered; the CRM step's message."""
    ops = BusClient(stack.api_url, DEV_KEYS["ops"])
    found: dict[str, Any] = {}

    def delivered() -> bool:
        order = ops.call("message.get", {"message_id": message_id})
        if order["status"] != "delivered" or not order["children"]:
            return False
        child = ops.call("message.get", {"message_id": order["children"][0]["message_id"]})
        found.update(order=order, crm=child)
        return bool(child["status"] == "delivered")

    try:
        wait_until(delivered, stack, 40, "the ERP and the CRM steps")
    finally:
        ops.close()
    return found


def test_an_order_reaches_the_erp_then_the_crm_with_product_rows(pair_stack: Stack) -> None:
    message_id, order = _submit(pair_stack)
    steps = _both_steps_delivered(pair_stack, message_id)
    erp_number = steps["order"]["result"]["reference"]
    assert steps["crm"]["target"] == pair_stack.crm
    crm_url = pair_stack.urls[pair_stack.crm]
    if pair_stack.crm == "creatio":
        created, rows = _creatio_order(crm_url, order["order_id"])
        assert created["Code"] == erp_number  # the CRM order carries the ERP's number
        assert sorted((r["Name"], r["Quantity"]) for r in rows) == [("1000", 12), ("1002", 6)]
    else:
        deal, rows = _bitrix24_deal(crm_url, order["order_id"])
        assert erp_number in deal["TITLE"]
        assert sorted((r["PRODUCT_NAME"], r["QUANTITY"]) for r in rows) == [
            ("1000", 12),
            ("1002", 6),
        ]


def test_personal_prices_come_from_each_erp(pair_stack: Stack) -> None:
    answer = _call(
        pair_stack,
        "storefront",
        "prices.get",
        {"customer": "10000", "items": [{"item": "1000", "quantity": 5}, {"item": "1002"}]},
    )
    assert answer["customer"] == "10000" and not answer["stale"]
    assert [(p["item"], p["quantity"]) for p in answer["prices"]] == [("1000", 5), ("1002", 1)]
    assert all(p["price"] > 0 for p in answer["prices"])
    balance = _call(pair_stack, "storefront", "balance.get", {"customer": "10000"})
    assert not balance["stale"] and balance["credit_limit"] > 0


def test_an_excel_order_form_becomes_a_priced_cart(pair_stack: Stack) -> None:
    book = openpyxl.Workbook()
    book.active.append(["Item", "Quantity"])
    book.active.append(["1000", 6])
    book.active.append(["nope", 1])
    out = io.BytesIO()
    book.save(out)
    workbook = base64.b64encode(out.getvalue()).decode()
    cart = _call(
        pair_stack, "storefront", "cart.import_excel", {"customer": "10000", "workbook": workbook}
    )
    assert [(line["row"], line["item"]) for line in cart["lines"]] == [(2, "1000")]
    assert cart["lines"][0]["price"] > 0
    assert [(r["row"], r["reason"]) for r in cart["rejected"]] == [(3, "unknown_item")]


def test_documents_are_issued_by_the_erp_and_delivered_to_the_storefront(
    pair_stack: Stack,
) -> None:
    invoice = _call(
        pair_stack, "storefront", "invoice.request", {"customer": "20000", "amount": 1500}
    )
    act = _call(
        pair_stack,
        "storefront",
        "reconciliation.request",
        {"customer": "20000", "year": 2026, "quarter": 2},
    )
    for accepted in (invoice, act):
        wait_until(
            lambda m=accepted["message_id"]: _all_delivered(pair_stack, m),
            pair_stack,
            30,
            "the document",
        )
    storefront = pair_stack.urls["storefront"]
    documents = httpx.get(
        f"{storefront}/_control/storefront/documents", params={"customer": "20000"}
    ).json()["documents"]
    assert sorted(d["kind"] for d in documents) == ["invoice", "reconciliation_act"]
    for document in documents:
        assert base64.b64decode(document["content_base64"]).startswith(b"%PDF")
        assert document["filename"].endswith(".pdf")


def _all_delivered(stack: Stack, message_id: str) -> bool:
    message = _call(stack, "ops", "message.get", {"message_id": message_id})
    return all(m["status"] in DONE for m in [message, *message["children"]])


def test_status_changes_from_the_erp_reach_the_storefront_after_the_order(
    bitrix24_stack: Stack,
) -> None:
    # NAV takes its time over the order: its steps are still open when the status change
    # arrives, however fast the machine (delivered already, the change would rightly run at once)
    slow = {"mode": "slow", "delay": 2, "match": "/SalesOrder", "methods": ["POST"], "times": 1}
    nav = bitrix24_stack.urls["navision"]
    httpx.post(f"{nav}/_control/faults", json=slow).raise_for_status()
    message_id, order = _submit(bitrix24_stack)
    shipped = _call(
        bitrix24_stack,
        "erp",
        "order.status_changed",
        {"order_id": order["order_id"], "status": "shipped"},
    )
    assert shipped["status"] == "blocked"  # the order's own steps come first
    _both_steps_delivered(bitrix24_stack, message_id)
    storefront = bitrix24_stack.urls["storefront"]
    wait_until(
        lambda: len(_storefront_updates(storefront, order["order_id"])) == 1,
        bitrix24_stack,
        30,
        "the status in the storefront",
    )
    [update] = _storefront_updates(storefront, order["order_id"])
    assert update["params"] == {
        "order_id": order["order_id"],
        "status": "shipped",
        "source": "erp",
        "message_id": shipped["message_id"],
    }


def test_an_event_showing_an_earlier_write_of_the_bus_is_not_carried_back(
    bitrix24_stack: Stack,
) -> None:
    """An event read while the bus's next write to the deal is under way shows the state the bus
    wrote before: its own echo (here a repeated ONCRMDEALUPDATE, as portals send), not a change.
    Carried to the storefront it would undo the status the ERP has just sent."""
    stack = bitrix24_stack
    message_id, order = _submit(stack)
    deal = _both_steps_delivered(stack, message_id)["crm"]["result"]["reference"]
    # The stage's update takes its time: the event is read before the new stage is there.
    slow_stage = {"mode": "slow", "delay": 3, "match": "crm.deal.update", "times": 1}
    httpx.post(f"{stack.urls['bitrix24']}/_control/faults", json=slow_stage).raise_for_status()
    shipped = _call(
        stack, "erp", "order.status_changed", {"order_id": order["order_id"], "status": "shipped"}
    )
    wait_until(lambda: _stage_update_under_way(stack), stack, 30, "the stage's update")
    event = [
        ("event", "ONCRMDEALUPDATE"),
        ("data[FIELDS][ID]", str(deal)),
        ("ts", str(int(time.time()))),
        ("auth[domain]", "b24.example"),
        ("auth[application_token]", Settings().bitrix24.application_token.get_secret_value()),
    ]
    httpx.post(f"{stack.api_url}/hooks/bitrix24", data=dict(event)).raise_for_status()
    wait_until(lambda: _all_delivered(stack, shipped["message_id"]), stack, 30, "the status")
    time.sleep(1.0)  # the event's steps, and the stage's own event, read and judged
    updates = _storefront_updates(stack.urls["storefront"], order["order_id"])
    assert [u["params"]["status"] for u in updates] == ["shipped"], updates


def _stage_update_under_way(stack: Stack) -> bool:
    received = httpx.get(f"{stack.urls['bitrix24']}/_control/received").json()["requests"]
    return any("crm.deal.update" in r["path"] for r in received)


@pytest.fixture
def creatio_stack(log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    yield from _stack(log_dir, tmp_path, "onec", "creatio")


def test_an_order_edited_in_creatio_updates_the_storefront_without_echoes(
    creatio_stack: Stack,
) -> None:
    stack = creatio_stack
    creatio, storefront = stack.urls["creatio"], stack.urls["storefront"]
    hook = {"url": f"{stack.api_url}/rpc", "key": DEV_KEYS["crm"]}
    httpx.post(f"{creatio}/_control/creatio/hook", json=hook).raise_for_status()
    message_id, order = _submit(stack)
    _both_steps_delivered(stack, message_id)
    # Saving the order's rows fired Creatio's process: the bus's own echo, not forwarded.
    changed = "creatio.order_changed"
    wait_until(lambda: _deal_events_settled(stack, 1, changed), stack, 30, "the echo")
    assert _storefront_updates(storefront, order["order_id"]) == []

    created, _ = _creatio_order(creatio, order["order_id"])
    completed = seed_id("OrderStatus:Completed")
    _creatio_patch(creatio, f"Order({created['Id']})", {"StatusId": completed})
    wait_until(
        lambda: len(_storefront_updates(storefront, order["order_id"])) == 1,
        stack,
        30,
        "the storefront's order update",
    )
    [update] = _storefront_updates(storefront, order["order_id"])
    assert update["params"]["status"] == "shipped"
    assert update["params"]["crm_reference"] == created["Id"]


def test_a_deal_edited_in_bitrix24_updates_the_storefront_without_echoes(
    bitrix24_stack: Stack,
) -> None:
    message_id, order = _submit(bitrix24_stack)
    steps = _both_steps_delivered(bitrix24_stack, message_id)
    deal_id = steps["crm"]["result"]["reference"]
    bitrix24 = bitrix24_stack.urls["bitrix24"]
    storefront = bitrix24_stack.urls["storefront"]
    # The deal's creation fired ONCRMDEALADD and ONCRMDEALUPDATE: both are the bus's echo.
    wait_until(
        lambda: _deal_events_settled(bitrix24_stack, 2), bitrix24_stack, 30, "the echo events"
    )
    assert _storefront_updates(storefront, order["order_id"]) == []

    edit = {"id": int(deal_id), "fields": {"STAGE_ID": "EXECUTING"}}
    httpx.post(f"{bitrix24}/_control/bitrix24/edit_deal", json=edit).raise_for_status()
    wait_until(
        lambda: len(_storefront_updates(storefront, order["order_id"])) == 1,
        bitrix24_stack,
        30,
        "the storefront's order update",
    )
    [update] = _storefront_updates(storefront, order["order_id"])
    assert update["params"]["status"] == "in_progress"
    assert update["params"]["crm_reference"] == deal_id
    assert [(li["item"], li["quantity"]) for li in update["params"]["lines"]] == [
        ("1000", 12.0),
        ("1002", 6.0),
    ]
    wait_until(
        lambda: _deal_events_settled(bitrix24_stack, 3), bitrix24_stack, 30, "the edit's event"
    )
    # The same event posted twice more (a proxy retrying, say): read again, nothing forwarded.
    repeat = {
        "event": "ONCRMDEALUPDATE",
        "data[FIELDS][ID]": deal_id,
        "ts": "1795000000",
        "auth[application_token]": "dev-bitrix24-application-token",
    }
    for _ in range(2):
        httpx.post(f"{bitrix24_stack.api_url}/hooks/bitrix24", data=repeat).raise_for_status()
    wait_until(lambda: _deal_events_settled(bitrix24_stack, 5), bitrix24_stack, 30, "the repeats")
    assert len(_storefront_updates(storefront, order["order_id"])) == 1  # and nothing more


def test_forged_and_malformed_events_are_refused_with_a_reason(
    bitrix24_stack: Stack,
) -> None:
    hook = f"{bitrix24_stack.api_url}/hooks/bitrix24"
    event = {
        "event": "ONCRMDEALUPDATE",
        "data[FIELDS][ID]": "1",
        "ts": "1795000000",
        "auth[application_token]": "dev-bitrix24-application-token",
        "auth[domain]": "portal.example",
    }
    forged = httpx.post(hook, data={**event, "auth[application_token]": "guess"})
    assert forged.status_code == 401
    assert "application_token" in forged.json()["error"]
    malformed = httpx.post(hook, data={**event, "data[FIELDS][ID]": "1; DROP TABLE"})
    assert malformed.status_code == 400
    assert "data[FIELDS][ID]" in malformed.json()["error"]
    garbage = httpx.post(
        hook, content=b"\xff\xfe not a form", headers={"Content-Type": "application/json"}
    )
    assert garbage.status_code in (400, 401)
    accepted = httpx.post(hook, data=event)
    assert accepted.status_code == 200 and accepted.json()["message_id"]  # journaled first
    api_log = next(p for p in bitrix24_stack.processes if p.name == "api").output()
    assert "refused (401): wrong or missing auth[application_token]" in api_log


def _deal_events_settled(
    stack: Stack, at_least: int, method: str = "bitrix24.deal_changed"
) -> bool:
    """At least ``at_least`` CRM change events journaled, and every one of them finished."""
    listed = stack.run_cli("messages", "list", "--method", method, "--limit", "10000", "--json")
    events = json.loads(listed.stdout or "[]")
    return len(events) >= at_least and all(e["status"] in DONE for e in events)


def _storefront_updates(storefront: str, order_id: str) -> list[dict[str, Any]]:
    calls = httpx.get(
        f"{storefront}/_control/storefront/calls", params={"method": "order.update"}
    ).json()
    listed = calls["calls"] if isinstance(calls, dict) else calls
    return [c for c in listed if c["params"].get("order_id") == order_id and not c["repeat"]]


def _creatio_session(url: str) -> dict[str, str]:
    login = httpx.post(
        f"{url}/ServiceModel/AuthService.svc/Login",
        json={"UserName": "Supervisor", "UserPassword": "Supervisor"},
    )
    return {
        "BPMCSRF": login.cookies["BPMCSRF"],
        "Cookie": "; ".join(f"{k}={v}" for k, v in login.cookies.items()),
    }


def _creatio_patch(url: str, path: str, fields: dict[str, Any]) -> None:
    """Save ``fields`` on an entity as a manager would in Creatio's UI."""
    headers = _creatio_session(url)
    httpx.patch(f"{url}/0/odata/{path}", json=fields, headers=headers).raise_for_status()


def _creatio_order(url: str, number: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    headers = _creatio_session(url)
    [order] = httpx.get(
        f"{url}/0/odata/Order", params={"$filter": f"Number eq '{number}'"}, headers=headers
    ).json()["value"]
    rows = httpx.get(
        f"{url}/0/odata/OrderProduct",
        params={"$filter": f"OrderId eq {order['Id']}"},
        headers=headers,
    ).json()["value"]
    return order, rows


def _bitrix24_deal(url: str, order_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rest = f"{url}/rest/1/bus-webhook-code"
    # The bus's deals carry ORIGIN_ID "<order id>/<message id>"; the test knows only the order.
    listed = httpx.post(
        f"{rest}/crm.deal.list.json",
        json={
            "filter": {"=ORIGINATOR_ID": "bus", "=%ORIGIN_ID": f"{order_id}/%"},
            "select": ["ID", "TITLE", "ORIGIN_ID"],
        },
    ).json()["result"]
    [deal] = [d for d in listed if d["ORIGIN_ID"].rpartition("/")[0] == order_id]
    rows = httpx.post(f"{rest}/crm.deal.productrows.get.json", json={"id": deal["ID"]}).json()
    return deal, rows["result"]
