"""A permanent failure holds only the messages that depend on it, end to end (DESIGN.md §4).

One customer's invoice that the ERP refuses must not hold the customer's account lifecycle, other
documents or requests; one order's failure must not hold another order's changes. What really
depends on a message still waits for it: a deactivate for its create, a decision for its request
(it carries the ERP's number from the registration), an order's changes for the order, the new
order's changes for the merge that made it. With each ERP (and each CRM once).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.adapters.onec import COUNTERPARTIES, ORDERS
from bus.settings import DEV_KEYS
from tests.e2e.conftest import ERP_ONLY, running, wait_until
from tests.e2e.test_provisioning import _steps_delivered
from tests.e2e.test_systems import TIMINGS, _call, _submit
from tests.support.processes import Stack

#: Each ERP with a CRM: every system once.
PAIRS = [("navision", "creatio"), ("onec", "bitrix24")]

#: The path (a part of it) where each ERP simulator issues invoices, registers requests and takes
#: sales orders: a fault matching it hits that call alone.
PATHS = {
    "navision": {
        "invoice": "/Codeunit/B2BDocuments",
        "request": "/B2BRequests",
        "order": "/SalesOrder",
        "customer": "/Customer(",
    },
    "onec": {
        "invoice": "/hs/b2b/v1/invoices",
        "request": "/hs/b2b/v1/requests",
        "order": f"/{ORDERS}",
        "customer": f"/{COUNTERPARTIES}",
    },
}

#: A customer every simulator knows; the storefront has a (deactivated) user for it.
CUSTOMER = "50000"


@pytest.fixture(params=PAIRS, ids="-".join)
def stack(request: pytest.FixtureRequest, log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    erp, crm = request.param
    env = {
        "BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}",
        "BUS_ORDER_ROUTES": ERP_ONLY,  # an order is one message, so its failure is the ERP's
        **TIMINGS,
    }
    simulators = (erp, crm, "storefront", "mail")
    yield from running(Stack(env, log_dir, erp=erp, crm=crm, simulators=simulators))


def _fault(stack: Stack, system: str, **fault: Any) -> None:
    httpx.post(f"{stack.urls[system]}/_control/faults", json=fault).raise_for_status()


def _message(stack: Stack, message_id: str) -> dict[str, Any]:
    return dict(_call(stack, "ops", "message.get", {"message_id": message_id}))


def _failed(stack: Stack, message_id: str) -> None:
    wait_until(lambda: _message(stack, message_id)["status"] == "failed", stack, 30, "a failure")


def _storefront(stack: Stack, what: str, customer: str) -> list[dict[str, Any]]:
    url = f"{stack.urls['storefront']}/_control/storefront/{what}"
    found: list[dict[str, Any]] = httpx.get(url, params={"customer": customer}).json()[what]
    return found


def test_a_refused_invoice_holds_none_of_the_customers_other_messages(stack: Stack) -> None:
    erp = stack.erp
    _fault(stack, erp, mode="status", status=400, match=PATHS[erp]["invoice"], times=1)
    invoice = _call(stack, "storefront", "invoice.request", {"customer": CUSTOMER, "amount": 900.0})
    _failed(stack, invoice["message_id"])

    # The ERP registers the next request slowly: a decision arriving meanwhile is refused (the
    # ERP has no number of it yet) and sent again once it has (below).
    _fault(stack, erp, mode="slow", delay=2, match=PATHS[erp]["request"], times=1)
    asked = _call(
        stack, "storefront", "address.request", {"customer": CUSTOMER, "address": "7 Pier Road"}
    )
    decision = {"request_id": asked["message_id"], "decision": "approved"}
    early = httpx.post(
        f"{stack.api_url}/rpc",
        json={"jsonrpc": "2.0", "id": 1, "method": "request.decided", "params": decision},
        headers={"Authorization": f"Bearer {DEV_KEYS['erp']}"},
    ).json()["error"]
    assert early["data"]["fields"][0]["type"] == "not_registered", early
    contact = {"name": "Ivan Petrov", "email": "ivan@relecloud.example", "primary": True}
    # The ERP reads the customer slowly: the deactivate arrives while its create is under way.
    _fault(stack, erp, mode="slow", delay=2, match=PATHS[erp]["customer"], times=1)
    created = _call(stack, "crm", "account.create", {"erp_key": CUSTOMER, "contacts": [contact]})
    deactivated = _call(stack, "crm", "account.deactivate", {"erp_key": CUSTOMER})
    assert created["status"] == "accepted"  # the refused invoice holds no account
    assert deactivated["status"] == "blocked"  # behind its create
    act = _call(
        stack,
        "storefront",
        "reconciliation.request",
        {"customer": CUSTOMER, "year": 2025, "quarter": 1},
    )
    employee = _call(
        stack,
        "storefront",
        "employee.request",
        {"customer": CUSTOMER, "name": "Olga Ivanova", "email": "olga@relecloud.example"},
    )

    _steps_delivered(stack, asked["message_id"], 1)  # registered: the ERP decides
    _call(stack, "erp", "request.decided", decision)
    for message, steps in [
        (act, 2),
        (employee, 1),
        (asked, 2),  # the request and its decision, its child
        (created, 8),  # the CRM's account read first, its report last
        (deactivated, 3),  # the directory first, the CRM hears of it too
    ]:
        _steps_delivered(stack, message["message_id"], steps)
    assert _message(stack, invoice["message_id"])["status"] == "failed"
    # The decision came after its request: the storefront got the ERP's number of it.
    [told] = _storefront(stack, "requests", CUSTOMER)
    assert told["request_id"] == asked["message_id"] and told["erp_request_no"]
    # The deactivate came after the create, which re-activated the user.
    [user] = _storefront(stack, "users", CUSTOMER)
    assert not user["active"]
    [document] = _storefront(stack, "documents", CUSTOMER)
    assert document["kind"] == "reconciliation_act"


def test_an_orders_failure_holds_only_that_orders_changes(stack: Stack) -> None:
    erp = stack.erp
    _fault(
        stack, erp, mode="status", status=400, match=PATHS[erp]["order"], methods=["POST"], times=1
    )
    refused, order = _submit(stack)
    _failed(stack, refused)
    held = _call(
        stack, "erp", "order.status_changed", {"order_id": order["order_id"], "status": "shipped"}
    )
    placed, other = _submit(stack)
    shipped = _call(
        stack, "erp", "order.status_changed", {"order_id": other["order_id"], "status": "shipped"}
    )
    _steps_delivered(stack, placed, 1)
    _steps_delivered(stack, shipped["message_id"], 4)  # the storefront, then the CRM steps
    assert _message(stack, held["message_id"])["status"] == "blocked"  # behind its own order

    # The storefront takes its time over a merge: the new order's progress waits for it.
    _fault(stack, "storefront", mode="slow", delay=2, match="/rpc", times=1)
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
                "status": "created_in_reserve",
                "lines": [{"item": "1000", "quantity": 24}],
            },
        },
    )
    provided = _call(
        stack, "erp", "order.status_changed", {"order_id": "A-1003", "status": "provided"}
    )
    assert provided["status"] == "blocked"  # behind the merge that makes the order
    _steps_delivered(
        stack, merged["message_id"], 9
    )  # the new order's CRM order, a chain per merged
    _steps_delivered(stack, provided["message_id"], 4)  # the storefront, then the CRM steps
    [new] = [o for o in _storefront(stack, "orders", "20000") if o["order_id"] == "A-1003"]
    assert new["merged_from"] == ["A-1001", "A-1002"] and new["status"] == "provided"
