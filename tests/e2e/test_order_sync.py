"""An order's ERP and CRM kept in step, end to end with every ERP and CRM as real processes.

By default (``[ownership]``) the ERP owns an order's status once it was created: its status
changes reach the storefront and the CRM (a Bitrix24 deal's stage, a Creatio order's status),
and the CRM's change event that the bus's own update causes is its echo, not carried back to the
storefront (where it would turn ``shipped`` into the stage's ``in_progress``). An accepted merge
reaches the CRM: the merged orders' CRM orders are closed, the new order's is made. An order the CRM
cancels (a deal lost, a Creatio order cancelled) is cancelled in the ERP: NAV's sales order is
deleted, 1C's customer order marked for deletion. The order's lines as the CRM shows them become
the ERP order's (NAV's sales lines, 1C's ``Товары``), which the ERP prices; a change of the CRM's
that leaves the lines as they were writes nothing to the ERP.
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
from tests.e2e.conftest import EVERY_PAIR, running, stack_dir, wait_until
from tests.e2e.test_provisioning import _steps_delivered
from tests.e2e.test_systems import (
    TIMINGS,
    _bitrix24_deal,
    _both_steps_delivered,
    _call,
    _creatio_order,
    _creatio_patch,
    _deal_events_settled,
    _storefront_updates,
    _submit,
)
from tests.support.processes import Stack

# Each test waits for two or more CRM events to settle, each seen through the CLI's listings, on a
# machine the other test processes share.
pytestmark = pytest.mark.timeout(300)

#: The steps of an ERP's status change: the storefront, the journal's references of the order,
#: the CRM's order read, the CRM's status.
STATUS_STEPS = 4
#: The steps of a CRM's change event after its read: the storefront, the ERP's cancellation.
EVENT_STEPS = ["order.update", "order.locate_cancelled", "order.cancel"]
#: The steps that carry the CRM's lines to the ERP order (``[ownership] crm_lines_to_erp``).
LINES_STEPS = ["order.locate_edited", "order.lines"]
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


@pytest.fixture(scope="module", params=EVERY_PAIR, ids="-".join)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One deployment per pair for the module's tests: each submits orders of its own and counts
    the CRM's events from what was there before it; only one of them submits the storefront's
    seeded orders A-1001 and A-1002."""
    base = stack_dir(tmp_path_factory, "-".join(request.param))
    yield from _stack(base / "logs", base, *request.param)


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
#: What "merged" and "provided" become in each CRM by default.
MERGED_IN = {"bitrix24": "LOSE", "creatio": seed_id("OrderStatus:Canceled")}
PROVIDED_IN = {"bitrix24": "EXECUTING", "creatio": seed_id("OrderStatus:InProgress")}


def _settled_events(stack: Stack) -> int:
    """How many CRM change events are journaled, once every one of them is finished."""
    method = EVENTS[stack.crm]
    counts: dict[str, int] = {}

    def settled() -> bool:
        listed = stack.run_cli("messages", "list", "--method", method, "--limit", "10000", "--json")
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


def test_a_merge_of_orders_the_bus_never_had_makes_the_new_orders_crm_order(
    crm_lines_stay: Stack,
) -> None:
    """The storefront's seeded orders were never the bus's (on this deployment): their chains
    skip, saying so; the new order's CRM order is made, and the ERP's status of it reaches it."""
    stack = crm_lines_stay
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
    message = _steps_delivered(stack, merged["message_id"], steps=3 + 2 * 3)
    located = [
        _call(stack, "ops", "message.get", {"message_id": c["message_id"]})
        for c in message["children"]
        if c["operation"] == "order.locate"
    ]
    assert sorted(m["result"]["skip_next"] for m in located) == [
        "the bus knows no order A-1001",
        "the bus knows no order A-1002",
    ]
    _steps_delivered(stack, provided["message_id"], steps=STATUS_STEPS)
    assert _crm_status(stack, "A-2003") == PROVIDED_IN[stack.crm]


def _erp_order(stack: Stack, order_id: str) -> dict[str, Any] | None:
    """The ERP's sales order of the storefront's ``order_id`` (NAV by ``Your_Reference``, 1C by
    its comment), or ``None`` when there is none."""
    url = stack.urls[stack.erp]
    if stack.erp == "navision":
        found = httpx.get(
            f"{url}/DynamicsNAV110/ODataV4/Company('CRONUS')/SalesOrder",
            params={"$filter": f"Your_Reference eq '{order_id}'"},
            auth=("bus", "bus-secret"),
        )
    else:
        found = httpx.get(
            f"{url}/b2b/odata/standard.odata/Document_ЗаказКлиента",
            params={
                "$format": "json",
                "$filter": f"substringof('Заказ {order_id} с сайта', Комментарий)",
            },
            auth=("bus", "bus-secret"),
        )
    orders: list[dict[str, Any]] = found.raise_for_status().json()["value"]
    assert len(orders) <= 1, orders
    return orders[0] if orders else None


def _cancelled_in_erp(stack: Stack, order_id: str) -> bool:
    """NAV: the sales order is gone; 1C: marked for deletion, and so unposted."""
    order = _erp_order(stack, order_id)
    if stack.erp == "navision":
        return order is None
    return order is not None and order["DeletionMark"] is True and order["Posted"] is False


def _crm_edit(stack: Stack, order_id: str, cancel: bool) -> None:
    """A manager's save in the CRM: the deal lost (or moved on), the order cancelled (or in
    progress)."""
    url = stack.urls[stack.crm]
    if stack.crm == "creatio":
        order, _ = _creatio_order(url, order_id)
        status = seed_id("OrderStatus:Canceled" if cancel else "OrderStatus:InProgress")
        _creatio_patch(url, f"Order({order['Id']})", {"StatusId": status})
        return
    deal, _ = _bitrix24_deal(url, order_id)
    edit = {"id": int(deal["ID"]), "fields": {"STAGE_ID": "LOSE" if cancel else "EXECUTING"}}
    httpx.post(f"{url}/_control/bitrix24/edit_deal", json=edit).raise_for_status()


def _step(stack: Stack, event: dict[str, Any], operation: str) -> dict[str, Any]:
    """The step of a CRM change event with ``operation``, as message.get shows it."""
    [child] = [c for c in event["children"] if c["operation"] == operation]
    step: dict[str, Any] = _call(stack, "ops", "message.get", {"message_id": child["message_id"]})
    return step


def _last_event(stack: Stack) -> dict[str, Any]:
    """The CRM's latest change event, with its steps, once every event is finished."""
    _settled_events(stack)
    listed = stack.run_cli(
        "messages", "list", "--method", EVENTS[stack.crm], "--limit", "10000", "--json"
    )
    # Newest first; a route's later steps are listed too, with its method: the first step's.
    newest = next(m for m in json.loads(listed.stdout) if m["parent_id"] is None)
    event: dict[str, Any] = _call(stack, "ops", "message.get", {"message_id": newest["id"]})
    return event


def test_an_order_the_crm_cancels_is_cancelled_in_the_erp(stack: Stack) -> None:
    message_id, order = _submit(stack)
    _both_steps_delivered(stack, message_id)
    before = _settled_events(stack)

    # A manager's other change reaches the storefront, and the ERP is not asked.
    _crm_edit(stack, order["order_id"], cancel=False)
    wait_until(lambda: _settled_events(stack) > before, stack, 30, "the edit's event")
    edited = _last_event(stack)
    assert [c["operation"] for c in edited["children"]] == [*EVENT_STEPS, *LINES_STEPS]
    erp_step = _step(stack, edited, "order.cancel")
    assert "nothing for the ERP" in erp_step["result"]["skipped"]
    assert not _cancelled_in_erp(stack, order["order_id"])
    assert _erp_order(stack, order["order_id"]) is not None

    # The deal is lost, the order cancelled: the ERP's order is cancelled too, once.
    seen = _settled_events(stack)
    _crm_edit(stack, order["order_id"], cancel=True)
    wait_until(lambda: _settled_events(stack) > seen, stack, 30, "the cancellation's event")
    wait_until(lambda: _cancelled_in_erp(stack, order["order_id"]), stack, 30, "the ERP's cancel")
    lost = _last_event(stack)
    erp_step = _step(stack, lost, "order.cancel")
    assert erp_step["status"] == "delivered"
    assert erp_step["result"]["erp_cancelled"] in ("sales order deleted", "marked for deletion")
    # A cancelled order's lines stay as the ERP has them: the lines step is skipped, saying so.
    assert "cancelled in the CRM" in _step(stack, lost, "order.lines")["result"]["skipped"]
    updates = _storefront_updates(stack.urls["storefront"], order["order_id"])
    assert updates[-1]["params"]["status"] == "cancelled"


def test_an_erps_merge_reaches_the_crm_and_the_new_order_follows_the_erp(stack: Stack) -> None:
    """The merged orders' CRM orders are closed (their events are the bus's echo: the
    storefront hears nothing of them, the ERP keeps its orders), the new order's is made with
    the ERP's prices, and the ERP's later status of it reaches it."""
    for order_id in ("A-1001", "A-1002"):  # the storefront's orders of customer 20000
        message_id, _ = _submit(stack, order_id=order_id, customer="20000")
        _both_steps_delivered(stack, message_id)
    before = _settled_events(stack)
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
    # The storefront's merge, the ERP's quote, the new CRM order; 3 steps per merged order.
    message = _steps_delivered(stack, merged["message_id"], steps=3 + 2 * 3)
    assert sorted(c["operation"] for c in message["children"]) == sorted(
        ["order.quote", "order.create", *["order.locate", "order.snapshot", "order.status"] * 2]
    )
    for order_id in ("A-1001", "A-1002"):
        assert _crm_status(stack, order_id) == MERGED_IN[stack.crm]
    url = stack.urls[stack.crm]
    if stack.crm == "creatio":
        created, rows = _creatio_order(url, "A-1003")
        assert "A-1001, A-1002" in created["Comment"]
        assert [(r["Name"], r["Quantity"], r["Price"] > 0) for r in rows] == [("1000", 24, True)]
    else:
        deal, rows = _bitrix24_deal(url, "A-1003")
        assert [(r["PRODUCT_NAME"], float(r["QUANTITY"]), float(r["PRICE"]) > 0) for r in rows] == [
            ("1000", 24.0, True)
        ]

    wait_until(lambda: _settled_events(stack) > before, stack, 30, "the CRM's events")
    _settled_events(stack)
    storefront = stack.urls["storefront"]
    assert _storefront_updates(storefront, "A-1001") == []  # no phantom of a merged order
    assert _storefront_updates(storefront, "A-1002") == []
    for order_id in ("A-1001", "A-1002"):  # the bus's own close is no cancellation for the ERP
        assert not _cancelled_in_erp(stack, order_id)

    provided = _call(
        stack, "erp", "order.status_changed", {"order_id": "A-1003", "status": "provided"}
    )
    _steps_delivered(stack, provided["message_id"], steps=STATUS_STEPS)
    assert _crm_status(stack, "A-1003") == PROVIDED_IN[stack.crm]


def _erp_quantities(stack: Stack, order_id: str) -> dict[str, float]:
    """The ERP order's quantity of each item: NAV's sales lines, 1C's ``Товары`` rows."""
    url = stack.urls[stack.erp]
    if stack.erp == "navision":
        found = httpx.get(
            f"{url}/DynamicsNAV110/ODataV4/Company('CRONUS')/SalesOrder",
            params={
                "$filter": f"Your_Reference eq '{order_id}'",
                "$expand": "SalesOrderSalesLines",
            },
            auth=("bus", "bus-secret"),
        )
        [order] = found.raise_for_status().json()["value"]
        return {line["No"]: line["Quantity"] for line in order["SalesOrderSalesLines"]}
    order = _erp_order(stack, order_id)
    assert order is not None
    items = httpx.get(
        f"{url}/b2b/odata/standard.odata/Catalog_Номенклатура",
        params={"$format": "json", "$select": "Ref_Key,Code"},
        auth=("bus", "bus-secret"),
    )
    codes = {item["Ref_Key"]: item["Code"] for item in items.raise_for_status().json()["value"]}
    return {codes[row["Номенклатура_Key"]]: row["Количество"] for row in order["Товары"]}


def _erp_writes(stack: Stack) -> list[tuple[str, str]]:
    """The requests the ERP received since its record was last cleared that were not reads."""
    received = httpx.get(f"{stack.urls[stack.erp]}/_control/received").raise_for_status()
    return [(r["method"], r["path"]) for r in received.json()["requests"] if r["method"] != "GET"]


def _forget_erp_requests(stack: Stack) -> None:
    httpx.delete(f"{stack.urls[stack.erp]}/_control/received").raise_for_status()


def _crm_edit_quantity(stack: Stack, order_id: str, item: str, quantity: float) -> None:
    """A manager's edit of one line's quantity in the CRM: a Bitrix24 deal's product rows saved
    (which fires the deal's update), a Creatio order's row saved (which runs the order's
    process)."""
    url = stack.urls[stack.crm]
    if stack.crm == "creatio":
        _, rows = _creatio_order(url, order_id)
        [row] = [r for r in rows if r["Name"] == item]
        _creatio_patch(url, f"OrderProduct({row['Id']})", {"Quantity": quantity})
        return
    deal, rows = _bitrix24_deal(url, order_id)
    kept = ("PRODUCT_NAME", "PRICE", "QUANTITY", "MEASURE_CODE", "MEASURE_NAME")
    edited = [
        {
            **{key: row[key] for key in kept if row.get(key) is not None},
            "QUANTITY": quantity if row["PRODUCT_NAME"] == item else row["QUANTITY"],
        }
        for row in rows
    ]
    rest = f"{url}/rest/1/bus-webhook-code"
    saved = httpx.post(
        f"{rest}/crm.deal.productrows.set.json", json={"id": deal["ID"], "rows": edited}
    )
    assert saved.raise_for_status().json()["result"] is True


def test_a_line_the_crm_edits_reaches_the_erp_order(stack: Stack) -> None:
    message_id, order = _submit(stack)
    _both_steps_delivered(stack, message_id)
    before = _settled_events(stack)  # the creation's own events (the bus's echo)
    assert _erp_quantities(stack, order["order_id"]) == {"1000": 12, "1002": 6}

    _crm_edit_quantity(stack, order["order_id"], "1000", 10)
    wait_until(lambda: _settled_events(stack) > before, stack, 30, "the edit's event")
    wait_until(
        lambda: _erp_quantities(stack, order["order_id"]) == {"1000": 10, "1002": 6},
        stack,
        30,
        "the ERP order's new quantity",
    )
    edited = _last_event(stack)
    assert [c["operation"] for c in edited["children"]] == [*EVENT_STEPS, *LINES_STEPS]
    lines_step = _step(stack, edited, "order.lines")
    assert lines_step["result"]["erp_lines"] == "changed"
    [update] = _storefront_updates(stack.urls["storefront"], order["order_id"])
    assert {(li["item"], li["quantity"]) for li in update["params"]["lines"]} == {
        ("1000", 10),
        ("1002", 6),
    }


def test_a_crm_change_that_leaves_the_lines_writes_nothing_to_the_erp(stack: Stack) -> None:
    message_id, order = _submit(stack)
    _both_steps_delivered(stack, message_id)
    before = _settled_events(stack)
    _forget_erp_requests(stack)

    _crm_edit(stack, order["order_id"], cancel=False)  # the stage or status moves on
    wait_until(lambda: _settled_events(stack) > before, stack, 30, "the edit's event")
    edited = _last_event(stack)
    assert _step(stack, edited, "order.lines")["result"]["erp_lines"] == "unchanged"
    assert _erp_writes(stack) == []
    assert _erp_quantities(stack, order["order_id"]) == {"1000": 12, "1002": 6}
    [update] = _storefront_updates(stack.urls["storefront"], order["order_id"])
    assert update["params"]["status"] == "in_progress"


@pytest.fixture(scope="module", params=EVERY_PAIR, ids="-".join)
def crm_lines_stay(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A deployment per pair whose CRM does not own the order's lines, and which has never
    had the storefront's seeded orders A-1001 and A-1002."""
    base = stack_dir(tmp_path_factory, "lines-stay-" + "-".join(request.param))
    env = {"BUS_OWNERSHIP__CRM_LINES_TO_ERP": "false"}
    yield from _stack(base / "logs", base, *request.param, **env)


def test_without_crm_lines_to_erp_the_crms_lines_stay_in_the_crm(crm_lines_stay: Stack) -> None:
    stack = crm_lines_stay
    message_id, order = _submit(stack)
    _both_steps_delivered(stack, message_id)
    before = _settled_events(stack)
    _forget_erp_requests(stack)

    _crm_edit_quantity(stack, order["order_id"], "1000", 10)
    wait_until(lambda: _settled_events(stack) > before, stack, 30, "the edit's event")
    edited = _last_event(stack)
    assert [c["operation"] for c in edited["children"]] == EVENT_STEPS
    [update] = _storefront_updates(stack.urls["storefront"], order["order_id"])
    assert ("1000", 10) in {(li["item"], li["quantity"]) for li in update["params"]["lines"]}
    assert _erp_quantities(stack, order["order_id"]) == {"1000": 12, "1002": 6}
    assert _erp_writes(stack) == []
