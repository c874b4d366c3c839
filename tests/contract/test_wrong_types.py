"""Answers of the right shape with wrong types, which no simulator sends: respx plays the system.

Whatever a system answers, an adapter raises one of the bus's delivery errors, never a
``KeyError`` or ``ValueError`` that would escape as an internal error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from bus.adapters import Adapter, Delivery
from bus.adapters.bitrix24 import Bitrix24Adapter
from bus.adapters.creatio import CreatioAdapter
from bus.adapters.navision import NavisionAdapter
from bus.adapters.onec import OnecAdapter
from bus.adapters.storefront import StorefrontAdapter
from bus.errors import DeliveryError
from bus.settings import (
    Bitrix24Settings,
    CreatioSettings,
    NavisionSettings,
    OnecSettings,
    StorefrontSettings,
)
from tests.contract.pairs import new_id, new_order

BASE = "http://systems.test"


def _nav(client: httpx.AsyncClient) -> Adapter:
    return NavisionAdapter(NavisionSettings(url=f"{BASE}/nav/ODataV4"), client)


def _onec(client: httpx.AsyncClient) -> Adapter:
    return OnecAdapter(OnecSettings(url=f"{BASE}/b2b"), client)


def _creatio(client: httpx.AsyncClient) -> Adapter:
    return CreatioAdapter(CreatioSettings(url=f"{BASE}/creatio"), client)


def _bitrix24(client: httpx.AsyncClient) -> Adapter:
    webhook = f"{BASE}/rest/1/code"
    return Bitrix24Adapter(Bitrix24Settings(webhook_url=webhook), client)  # type: ignore[arg-type]


def _storefront(client: httpx.AsyncClient) -> Adapter:
    return StorefrontAdapter(StorefrontSettings(url=f"{BASE}/rpc"), client)


def _login(router: respx.Router) -> None:
    """Creatio's login and account look-up answer well: the case is about what follows."""
    router.post(f"{BASE}/creatio/ServiceModel/AuthService.svc/Login").respond(
        200, json={"Code": 0}, headers={"Set-Cookie": "BPMCSRF=t; Path=/"}
    )
    router.get(url__startswith=f"{BASE}/creatio/0/odata/Account").respond(
        200, json={"value": [{"Id": "b2b0c7a4-0000-4000-8000-000000000001"}]}
    )


CASES: list[tuple[str, Callable[[httpx.AsyncClient], Adapter], str, Any, Any]] = [
    # (name, adapter, operation, how to answer, what the answer is)
    ("nav-number-not-a-string", _nav, "sales_order.create", "POST", {"No": 101001}),
    ("nav-value-not-a-list", _nav, "sales_order.create", "POST", [1, 2, 3]),
    ("onec-no-ref-key", _onec, "sales_order.create", "ANY", {"value": [{"Ref_Key": None}]}),
    ("creatio-responses-not-a-list", _creatio, "order.create", "ANY", {"responses": "ok"}),
    (
        "creatio-status-not-a-number",
        _creatio,
        "order.create",
        "ANY",
        {"value": [{"Id": "x"}], "responses": [{"status": "fine"}]},
    ),
    (
        "bitrix24-deal-id-not-a-number",
        _bitrix24,
        "order.create",
        "ANY",
        {"result": {"result": {"deal": "abc", "rows": True}, "result_error": []}},
    ),
    ("bitrix24-result-not-a-map", _bitrix24, "order.create", "ANY", {"result": "ok"}),
    (
        "storefront-result-not-an-object",
        _storefront,
        "order.update",
        "ANY",
        {"jsonrpc": "2.0", "id": 1, "result": [1]},
    ),
    (
        "storefront-error-not-an-object",
        _storefront,
        "order.update",
        "ANY",
        {"jsonrpc": "2.0", "id": 1, "error": "boom"},
    ),
]


@pytest.mark.parametrize(
    ("name", "make", "operation", "method", "answer"), CASES, ids=[case[0] for case in CASES]
)
async def test_an_answer_of_the_wrong_type_is_a_delivery_error(
    name: str,
    make: Callable[[httpx.AsyncClient], Adapter],
    operation: str,
    method: str,
    answer: Any,
) -> None:
    payload = new_order()
    if operation == "order.update":
        payload = {"order_id": payload["order_id"], "status": "new"}
    with respx.mock(assert_all_called=False) as router:
        _login(router)
        router.route().respond(200, json=answer)
        async with httpx.AsyncClient() as client:
            adapter = make(client)
            with pytest.raises(DeliveryError):
                await adapter.deliver(Delivery(new_id(), operation, payload))
