"""The order lifecycle from the ERP and the requests it decides on, end to end with each ERP.

A customer's request (a delivery address, an employee's account) is registered in the ERP and
waits for its decision, which the ERP sends later with the request's message id; past its
deadline an undecided request is reported stuck. The ERP's verdict on merging orders, and a
preorder's progress, reach the storefront. A 1C document that takes long to prepare is stuck while
it waits, then delivered.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.settings import DEV_KEYS
from tests.e2e.conftest import EVERY_PAIR, running, stack_dir, wait_until
from tests.e2e.test_cli import cli_json
from tests.e2e.test_provisioning import _steps_delivered
from tests.e2e.test_systems import TIMINGS, _call
from tests.support.processes import BusClient, Stack

#: Short deadlines, so a waiting request is stuck within the test.
DEADLINES = {"address.request": 1.0, "employee.request": 1.0, "invoice.request": 1.0}


def _stack(log_dir: Path, tmp_path: Path, erp: str, crm: str) -> Iterator[Stack]:
    env = {
        "BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}",
        "BUS_DEADLINES": json.dumps(DEADLINES),
        **TIMINGS,
    }
    yield from running(Stack(env, log_dir, erp=erp, crm=crm, simulators=(erp, crm, "storefront")))


@pytest.fixture(scope="module", params=EVERY_PAIR, ids="-".join)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One deployment per pair for the module's address request and merges (neither touches
    what the other reads: the storefront's requests, its orders)."""
    base = stack_dir(tmp_path_factory, "-".join(request.param))
    yield from _stack(base / "logs", base, *request.param)


@pytest.fixture(params=EVERY_PAIR, ids="-".join)
def fresh_stack(request: pytest.FixtureRequest, log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    """A deployment of its own: the storefront has heard of no request of customer 20000."""
    yield from _stack(log_dir, tmp_path, *request.param)


@pytest.fixture
def onec_stack(log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    """1C prepares documents in its own time (NAV's codeunit answers at once)."""
    yield from _stack(log_dir, tmp_path, "onec", "bitrix24")


def _message(stack: Stack, message_id: str) -> dict[str, Any]:
    return dict(_call(stack, "ops", "message.get", {"message_id": message_id}))


def _registered(stack: Stack, message_id: str) -> list[dict[str, Any]]:
    """The requests the ERP registered under the bus's ``message_id``."""
    url = stack.urls[stack.erp]
    if stack.erp == "onec":
        found = httpx.get(f"{url}/_control/onec/requests").json()["requests"]
        return [r for r in found if r["request_id"] == message_id]
    odata = f"{url}/DynamicsNAV110/ODataV4/Company('CRONUS')"
    response = httpx.get(
        f"{odata}/B2BRequests",
        params={"$filter": f"Request_Id eq '{message_id}'"},
        auth=("bus", "bus-secret"),
    )
    return list(response.json()["value"])


def _storefront_requests(stack: Stack, customer: str) -> list[dict[str, Any]]:
    url = f"{stack.urls['storefront']}/_control/storefront/requests"
    return list(httpx.get(url, params={"customer": customer}).json()["requests"])


def test_a_request_waits_for_the_erps_decision_and_is_stuck_past_its_deadline(
    stack: Stack,
) -> None:
    asked = _call(
        stack,
        "storefront",
        "address.request",
        {"customer": "20000", "address": "7 Harbour Lane, Chicago 60601", "name": "Harbour"},
    )
    request_id = asked["message_id"]
    wait_until(lambda: len(_registered(stack, request_id)) == 1, stack, 20, "the ERP registers it")
    wait_until(lambda: _message(stack, request_id)["stuck"], stack, 10, "stuck past the deadline")
    stuck = cli_json(stack, "messages", "list", "--stuck")
    assert [m["id"] for m in stuck] == [request_id]  # type: ignore[index,union-attr]

    decided = _call(
        stack, "erp", "request.decided", {"request_id": request_id, "decision": "approved"}
    )
    _steps_delivered(stack, decided["message_id"], steps=1)
    [told] = _storefront_requests(stack, "20000")
    assert (told["request_id"], told["kind"], told["decision"]) == (
        request_id,
        "delivery_address",
        "approved",
    )
    assert told["details"]["address"] == "7 Harbour Lane, Chicago 60601"
    assert told["erp_request_no"]  # the ERP's number, from the registration
    request = _message(stack, request_id)
    assert not request["stuck"]
    assert [c["method"] for c in request["children"]] == ["request.decided"]
    assert cli_json(stack, "messages", "list", "--stuck") == []

    # A decision about something that was never asked is refused, naming the field.
    client = BusClient(stack.api_url, DEV_KEYS["erp"])
    try:
        refused = client.http.post(
            f"{stack.api_url}/rpc",
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "request.decided",
                "params": {"request_id": decided["message_id"], "decision": "declined"},
            },
        ).json()["error"]
    finally:
        client.close()
    assert refused["code"] == -32602 and refused["data"]["fields"][0]["field"] == "request_id"


def test_a_declined_employee_request_reaches_the_storefront(fresh_stack: Stack) -> None:
    stack = fresh_stack
    asked = _call(
        stack,
        "storefront",
        "employee.request",
        {"customer": "20000", "name": "Pavel Orlov", "email": "pavel@trey.example"},
    )
    _steps_delivered(stack, asked["message_id"], steps=1)
    decided = _call(
        stack,
        "erp",
        "request.decided",
        {"request_id": asked["message_id"], "decision": "declined", "reason": "no contract"},
    )
    _steps_delivered(stack, decided["message_id"], steps=1)
    [told] = _storefront_requests(stack, "20000")
    assert (told["kind"], told["decision"], told["reason"]) == (
        "employee",
        "declined",
        "no contract",
    )


def _orders(stack: Stack) -> dict[str, dict[str, Any]]:
    url = f"{stack.urls['storefront']}/_control/storefront/orders"
    found = httpx.get(url, params={"customer": "20000"}).json()["orders"]
    return {o["order_id"]: o for o in found}


def test_the_erps_verdict_on_a_merge_and_a_preorders_progress_reach_the_storefront(
    stack: Stack,
) -> None:
    rejected = _call(
        stack,
        "erp",
        "order.merge",
        {
            "customer": "20000",
            "orders": ["A-1001", "A-1002"],
            "outcome": "rejected",
            "reason": "different delivery dates",
        },
    )
    _steps_delivered(stack, rejected["message_id"], steps=1)
    before = _orders(stack)
    assert before["A-1001"]["merge_rejected"] == "different delivery dates"
    merged = _call(
        stack,
        "erp",
        "order.merge",
        {
            "customer": "20000",
            "orders": ["A-1001", "A-1002"],
            "outcome": "accepted",
            "new_order": {
                "order_id": "A-1003",
                "erp_number": "SO-9001",
                "status": "created_in_reserve",
                "lines": [{"item": "1000", "quantity": 24}],
            },
        },
    )
    # the storefront, the ERP's quote and the CRM order of the new order; a chain per merged
    # order for its CRM order (skipped: the bus never had these)
    _steps_delivered(stack, merged["message_id"], steps=9)
    after = _orders(stack)
    assert sorted(after) == ["A-1003"]
    assert after["A-1003"]["merged_from"] == ["A-1001", "A-1002"]
    # The new order was a preorder: created in reserve, then provided.
    provided = _call(
        stack, "erp", "order.status_changed", {"order_id": "A-1003", "status": "provided"}
    )
    # the storefront, then the new order's CRM order
    _steps_delivered(stack, provided["message_id"], steps=4)
    assert _orders(stack)["A-1003"]["status"] == "provided"


def test_a_late_document_is_stuck_while_1c_prepares_it_then_delivered(onec_stack: Stack) -> None:
    stack = onec_stack
    onec = stack.urls["onec"]
    httpx.post(f"{onec}/_control/onec/documents", json={"preparing_for": 3}).raise_for_status()
    asked = _call(stack, "storefront", "invoice.request", {"customer": "20000", "amount": 1500.0})
    wait_until(lambda: _message(stack, asked["message_id"])["stuck"], stack, 10, "stuck")
    waiting = _message(stack, asked["message_id"])
    assert waiting["status"] == "retry_wait" and waiting["attempts"][0]["http_status"] == 202
    done = _steps_delivered(stack, asked["message_id"], steps=2)
    assert not done["stuck"]
    assert all(a["outcome"] == "throttled" for a in done["attempts"][:-1])  # no attempt spent
