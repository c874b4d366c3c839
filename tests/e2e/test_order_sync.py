"""An order's ERP and CRM kept in step, end to end with every ERP and CRM as real processes.

By default (``[ownership]``) the ERP owns an order's status once it was created: its status
changes reach the storefront and the CRM (a Bitrix24 deal's stage, a Creatio order's status),
and the CRM's change event that the bus's own update causes is its echo, not carried back to the
storefront (where it would turn ``shipped`` into the stage's ``in_progress``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.settings import DEV_KEYS
from simulators.creatio.store import seed_id
from tests.e2e.conftest import EVERY_PAIR, running, wait_until
from tests.e2e.test_provisioning import _steps_delivered
from tests.e2e.test_systems import (
    TIMINGS,
    _bitrix24_deal,
    _both_steps_delivered,
    _call,
    _creatio_order,
    _deal_events_settled,
    _storefront_updates,
    _submit,
)
from tests.support.processes import Stack

#: The steps of an ERP's status change: the storefront, the journal's references of the order,
#: the CRM's order read, the CRM's status.
STATUS_STEPS = 4
#: The CRM's change events, by CRM.
EVENTS = {"bitrix24": "bitrix24.deal_changed", "creatio": "creatio.order_changed"}


def _stack(log_dir: Path, tmp_path: Path, erp: str, crm: str, **env: str) -> Iterator[Stack]:
    settings = {"BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}", **TIMINGS}
    stack = Stack(
        {**settings, **env}, log_dir, erp=erp, crm=crm, simulators=(erp, crm, "storefront")
    )
    for started in running(stack):
        if crm == "creatio":  # Creatio's order-changed process calls the bus on every save
            hook = {"url": f"{started.api_url}/rpc", "key": DEV_KEYS["crm"]}
            httpx.post(f"{started.urls['creatio']}/_control/creatio/hook", json=hook)
        yield started


@pytest.fixture(params=EVERY_PAIR, ids="-".join)
def stack(request: pytest.FixtureRequest, log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    yield from _stack(log_dir, tmp_path, *request.param)


def _crm_status(stack: Stack, order_id: str) -> str | None:
    """The order's status as its CRM shows it: the deal's STAGE_ID, the Creatio order's
    OrderStatus Id."""
    url = stack.urls[stack.crm]
    if stack.crm == "creatio":
        order, _ = _creatio_order(url, order_id)
        return str(order["StatusId"])
    deal, _ = _bitrix24_deal(url, order_id)
    rest = f"{url}/rest/1/bus-webhook-code"
    got = httpx.post(f"{rest}/crm.deal.get.json", json={"id": deal["ID"]}).json()["result"]
    return str(got["STAGE_ID"])


#: What "shipped" becomes in each CRM by default.
SHIPPED = {"bitrix24": "FINAL_INVOICE", "creatio": seed_id("OrderStatus:Completed")}


def _settled_events(stack: Stack) -> int:
    """How many CRM change events are journaled, once every one of them is finished."""
    method = EVENTS[stack.crm]
    counts: dict[str, int] = {}

    def settled() -> bool:
        listed = stack.run_cli("messages", "list", "--method", method, "--json")
        counts["n"] = len(json.loads(listed.stdout or "[]"))
        return _deal_events_settled(stack, counts["n"], method)

    wait_until(settled, stack, 30, "the CRM's change events")
    return counts["n"]


def test_the_erps_status_reaches_the_crm_and_its_echo_stays_there(stack: Stack) -> None:
    message_id, order = _submit(stack)
    _both_steps_delivered(stack, message_id)
    before = _settled_events(stack)  # the creation's own events (the bus's echo)
    assert _crm_status(stack, order["order_id"]) != SHIPPED[stack.crm]

    change = {"order_id": order["order_id"], "status": "shipped", "idempotency_key": "ship-1"}
    shipped = _call(stack, "erp", "order.status_changed", change)
    message = _steps_delivered(stack, shipped["message_id"], steps=STATUS_STEPS)
    assert [c["operation"] for c in message["children"]] == [
        "order.locate",
        "order.snapshot",
        "order.status",
    ]
    assert _crm_status(stack, order["order_id"]) == SHIPPED[stack.crm]

    # The CRM reported the bus's own update (an event, a process call): read, not forwarded.
    wait_until(lambda: _settled_events(stack) > before, stack, 30, "the update's event")
    _settled_events(stack)
    [update] = _storefront_updates(stack.urls["storefront"], order["order_id"])
    assert (update["params"]["status"], update["params"]["source"]) == ("shipped", "erp")

    # The ERP sends it again (its retry): the same message, nothing applied twice.
    again = _call(stack, "erp", "order.status_changed", change)
    assert again["message_id"] == shipped["message_id"]


def test_a_status_word_the_crm_has_no_status_for_leaves_the_crm_as_it_is(stack: Stack) -> None:
    message_id, order = _submit(stack)
    _both_steps_delivered(stack, message_id)
    before = _crm_status(stack, order["order_id"])
    packed = _call(
        stack, "erp", "order.status_changed", {"order_id": order["order_id"], "status": "packed"}
    )
    message = _steps_delivered(stack, packed["message_id"], steps=STATUS_STEPS)
    last: dict[str, Any] = _call(
        stack, "ops", "message.get", {"message_id": message["children"][-1]["message_id"]}
    )
    assert "'packed'" in last["result"]["note"]
    assert _crm_status(stack, order["order_id"]) == before
    [update] = _storefront_updates(stack.urls["storefront"], order["order_id"])
    assert update["params"]["status"] == "packed"


def test_an_order_without_a_crm_order_hears_the_erp_on_the_storefront_only(stack: Stack) -> None:
    """A merged order the bus knows from the ERP's merge has no CRM order: the CRM steps are
    skipped, saying so."""
    merged = _call(
        stack,
        "erp",
        "order.merge",
        {
            "customer": "20000",
            "orders": ["A-1001", "A-1002"],
            "outcome": "accepted",
            "new_order": {
                "order_id": "A-2003",
                "status": "created_in_reserve",
                "lines": [{"item": "1000", "quantity": 24}],
            },
        },
    )
    provided = _call(
        stack, "erp", "order.status_changed", {"order_id": "A-2003", "status": "provided"}
    )
    _steps_delivered(stack, merged["message_id"], steps=1)
    message = _steps_delivered(stack, provided["message_id"], steps=STATUS_STEPS)
    crm_step = _call(
        stack, "ops", "message.get", {"message_id": message["children"][-1]["message_id"]}
    )
    assert "has no CRM deal or order" in crm_step["result"]["skipped"]
