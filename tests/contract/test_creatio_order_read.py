"""Creatio's ``order.read`` against the simulator: an order the bus created reads back in the
bus's order form (its own echo until someone changes it), any other order is skipped, a missing
one is refused for good. The order-changed process calls the bus for the bus's own create too.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiohttp import web

from bus.adapters import Delivery, Receipt
from bus.adapters.creatio import CreatioAdapter, entity_id
from bus.adapters.http import cookieless_jar
from bus.adapters.orders import order_lines
from bus.errors import PermanentError
from simulators import SIMULATORS
from simulators.creatio import ORDER_STATUSES, seed_id
from simulators.creatio.hooks import HOOKS_KEY
from tests.contract.pairs import PAIRS, new_id, new_order

pytestmark = pytest.mark.timeout(60)

_LOGIN = "/ServiceModel/AuthService.svc/Login"


@dataclass
class Creatio:
    """The simulator, the bus's adapter on it, and a manager's own OData session."""

    app: web.Application
    base: str
    adapter: CreatioAdapter
    control: httpx.AsyncClient
    headers: dict[str, str]

    async def create(self) -> tuple[Delivery, str]:
        """An order created by the bus; the delivery and the order's ``Id``."""
        delivery = Delivery(new_id(), "order.create", new_order())
        return delivery, (await self.adapter.deliver(delivery)).reference

    async def read(self, order_id: str) -> Receipt:
        return await self.adapter.deliver(Delivery(new_id(), "order.read", {"order_id": order_id}))

    async def odata(self, method: str, path: str, body: Any = None) -> httpx.Response:
        """A manager's edit through OData, past the adapter."""
        url = f"{self.base}/0/odata/{path}"
        response = await self.control.request(method, url, json=body, headers=self.headers)
        return response.raise_for_status()


@pytest.fixture
async def creatio(aiohttp_server: Any) -> AsyncIterator[Creatio]:
    app: web.Application = SIMULATORS["creatio"]()
    server = await aiohttp_server(app)
    base = str(server.make_url("")).rstrip("/")
    [pair] = [p for p in PAIRS if p.name == "creatio"]
    _, make_adapter = pair.build(base, app)
    async with (
        httpx.AsyncClient(cookies=cookieless_jar()) as shared,
        httpx.AsyncClient(timeout=10) as control,
    ):
        login = await control.post(
            base + _LOGIN, json={"UserName": "Supervisor", "UserPassword": "Supervisor"}
        )
        headers = {
            "BPMCSRF": login.cookies["BPMCSRF"],
            "Cookie": "; ".join(f"{k}={v}" for k, v in login.cookies.items()),
            "Accept": "application/json",
        }
        control.cookies.clear()  # the session goes in the headers, as the adapter sends it
        adapter = make_adapter(shared)
        assert isinstance(adapter, CreatioAdapter)
        yield Creatio(app, base, adapter, control, headers)
        await adapter.aclose()


async def test_an_order_the_bus_created_reads_as_the_bus_wrote_it(
    creatio: Creatio, aiohttp_server: Any
) -> None:
    heard: list[dict[str, Any]] = []

    async def bus(request: web.Request) -> web.Response:
        heard.append(await request.json())
        return web.json_response({"jsonrpc": "2.0", "id": "x", "result": {"message_id": "M"}})

    target = web.Application()
    target.router.add_post("/rpc", bus)
    hook = {"url": str((await aiohttp_server(target)).make_url("/rpc")), "key": "k"}
    (
        await creatio.control.post(creatio.base + "/_control/creatio/hook", json=hook)
    ).raise_for_status()

    created, order_id = await creatio.create()
    await creatio.app[HOOKS_KEY].drain()
    # The rows the create's $batch added saved the order: the process calls the bus.
    [call] = heard
    assert call["method"] == "creatio.order_changed"
    assert call["params"]["order_id"] == order_id == entity_id(created.message_id)

    read = await creatio.read(call["params"]["order_id"])
    assert read.reference == order_id and read.skip_next is None
    assert read.details == {
        "order": {
            "order_id": created.payload["order_id"],
            "status": "new",
            "lines": order_lines(created.payload["lines"]),
            "crm_reference": order_id,
            "source": "crm",
        },
        "crm_status": None,
    }
    # What the bus remembered before the create: the read is recognised as its echo.
    assert read.state == creatio.adapter.intended_state(created)


async def test_a_managers_status_and_quantity_edits_show_in_the_read(creatio: Creatio) -> None:
    created, order_id = await creatio.create()
    await creatio.odata("PATCH", f"Order({order_id})", {"StatusId": ORDER_STATUSES["Completed"]})
    first_row = entity_id(created.message_id, 1)
    await creatio.odata("PATCH", f"OrderProduct({first_row})", {"Quantity": 31})

    read = await creatio.read(order_id)
    order = read.details["order"]
    assert order["status"] == "shipped" and read.details["crm_status"] == "Completed"
    assert [(line["item"], line["quantity"]) for line in order["lines"]] == [
        ("1000", 31.0),
        ("1002", 2.0),
    ]
    assert read.state is not None and read.state != creatio.adapter.intended_state(created)
    assert read.state.entity == f"order:{created.payload['order_id']}"

    await creatio.odata("PATCH", f"Order({order_id})", {"StatusId": ORDER_STATUSES["Canceled"]})
    assert (await creatio.read(order_id)).details["order"]["status"] == "cancelled"
    await creatio.odata("PATCH", f"Order({order_id})", {"StatusId": ORDER_STATUSES["InProgress"]})
    assert (await creatio.read(order_id)).details["order"]["status"] == "in_progress"


async def test_an_order_the_bus_did_not_create_is_skipped(creatio: Creatio) -> None:
    account = seed_id("Account:10000")
    made_by_hand = {"Number": "SO-BY-HAND", "AccountId": account}
    # Naming some message in the comment is not enough: the Id must be that message's order.
    copied = {**made_by_hand, "Comment": f"Delivery.\nBus message {new_id()}"}
    for body in (made_by_hand, copied):
        order = (await creatio.odata("POST", "Order", body)).json()
        row = {"OrderId": order["Id"], "Name": "1000", "Quantity": 1, "Price": 10}
        await creatio.odata("POST", "OrderProduct", row)

        read = await creatio.read(order["Id"])
        assert read.reference == order["Id"]
        assert read.skip_next and "not created by the bus" in read.skip_next
        assert read.state is None and "order" not in read.details


async def test_a_deleted_or_unknown_order_is_refused_for_good(creatio: Creatio) -> None:
    created, order_id = await creatio.create()
    for number in range(1, len(created.payload["lines"]) + 1):
        await creatio.odata("DELETE", f"OrderProduct({entity_id(created.message_id, number)})")
    await creatio.odata("DELETE", f"Order({order_id})")
    for missing in (order_id, str(uuid.uuid4()), "not-a-guid"):
        with pytest.raises(PermanentError) as refused:
            await creatio.read(missing)
        assert refused.value.detail


async def test_a_read_logs_in_again_after_the_session_expired(creatio: Creatio) -> None:
    created, order_id = await creatio.create()
    expire = await creatio.control.post(creatio.base + "/_control/creatio/expire_sessions")
    expire.raise_for_status()
    read = await creatio.read(order_id)
    assert read.state == creatio.adapter.intended_state(created)
