"""The storefront simulator serves the bus's JSON-RPC 2.0 calls idempotently by message id."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from simulators.storefront import create_app

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[[web.Application], Awaitable[Client]]

AUTH = {"Authorization": "Bearer dev-storefront-inbound"}
NEW_USER: dict[str, Any] = {
    "customer": "10000",
    "email": "orders@adatum.example",
    "name": "Adatum Corp",
    "inn": "7712345678",
    "segment": "contracts",
    "contracts": [
        {"product_type": "water", "number": "C-1"},
        {"product_type": "alcohol", "number": "C-2"},
    ],
    "addresses": [{"code": "MAIN", "address": "192 Market Square, Atlanta"}],
    "price_group": "RETAIL",
    "manager": {"name": "Anna Volkova", "email": "a.volkova@wholesale.example"},
    "settings": {"greeting": "Hello, Adatum!", "menu": ["catalog", "orders"]},
    "contacts": [{"name": "Ann Adams", "email": "ann@adatum.example"}],
}


@pytest.fixture
async def sf(aiohttp_client: ClientFactory) -> Client:
    return await aiohttp_client(create_app())


async def post(client: Client, body: Any) -> Any:
    response = await client.post("/rpc", json=body, headers=AUTH)
    assert response.status == 200, await response.text()
    return await response.json()


async def call(client: Client, method: str, params: Any, request_id: Any = 1) -> Any:
    """The whole JSON-RPC response object of one call."""
    body = {"jsonrpc": "2.0", "method": method, "params": params, "id": request_id}
    answer = await post(client, body)
    assert answer["id"] == request_id
    return answer


async def result(client: Client, method: str, **params: Any) -> Any:
    answer = await call(client, method, params)
    assert "error" not in answer, answer
    return answer["result"]


async def error(client: Client, method: str, params: Any) -> Any:
    answer = await call(client, method, params)
    assert "result" not in answer, answer
    return answer["error"]


async def control(client: Client, what: str, **query: str) -> Any:
    response = await client.get(f"/_control/storefront/{what}", params=query)
    assert response.status == 200
    return (await response.json())[what]


def bad_fields(err: dict[str, Any]) -> set[str]:
    assert err["code"] == -32602 and err["message"] == "Invalid params"
    return {field["field"] for field in err["data"]["fields"]}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "x"}])
async def test_missing_or_wrong_token_is_401_with_jsonrpc_error(
    sf: Client, headers: dict[str, str]
) -> None:
    body = {"jsonrpc": "2.0", "method": "user.deactivate", "params": {}, "id": 1}
    response = await sf.post("/rpc", json=body, headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    answer = await response.json()
    assert answer["jsonrpc"] == "2.0" and answer["id"] is None
    assert answer["error"]["code"] == -32001


async def test_body_that_is_not_json_is_a_parse_error(sf: Client) -> None:
    response = await sf.post("/rpc", data=b"{not json", headers=AUTH)
    answer = await response.json()
    assert response.status == 200
    assert (answer["error"]["code"], answer["id"]) == (-32700, None)


async def test_broken_envelopes_are_invalid_requests_naming_the_member(sf: Client) -> None:
    missing_version = await post(sf, {"method": "user.create", "params": {}, "id": 7})
    assert missing_version["id"] == 7
    assert missing_version["error"]["code"] == -32600
    assert missing_version["error"]["data"]["field"] == "jsonrpc"
    extra = await post(sf, {"jsonrpc": "2.0", "method": "x", "id": 1, "extra": 1})
    assert extra["error"]["data"]["field"] == "extra"
    empty_batch = await post(sf, [])
    assert empty_batch["error"]["code"] == -32600


@pytest.mark.parametrize("method", ["order.status", "user.delete", "rpc.discover"])
async def test_unknown_methods_are_not_found(sf: Client, method: str) -> None:
    err = await error(sf, method, {"message_id": "m-1"})
    assert err["code"] == -32601
    assert err["data"] == {"method": method}


async def test_invalid_params_name_the_bad_fields(sf: Client) -> None:
    assert bad_fields(await error(sf, "user.create", {"customer": "1"})) == {
        "message_id",
        "email",
        "name",
    }
    wrong = {**NEW_USER, "message_id": "m-1", "email": "not-mail", "colour": "red"}
    assert bad_fields(await error(sf, "user.create", wrong)) == {"email", "colour"}
    assert bad_fields(await error(sf, "user.deactivate", ["m-1", "10000"])) == {"params"}
    line = {"order_id": "A-1", "message_id": "m-2", "lines": [{"item": "1000", "quantity": 0}]}
    assert bad_fields(await error(sf, "order.update", line)) == {"lines.0.quantity"}
    assert bad_fields(
        await error(sf, "order.update", {"order_id": "A-1", "message_id": "m-3", "source": "x"})
    ) == {"source"}


async def test_user_create_makes_an_active_user_with_its_settings(sf: Client) -> None:
    created = await result(sf, "user.create", message_id="m-1", **NEW_USER)
    assert created["user_id"] == "u-0003"
    assert (created["created"], created["reactivated"]) == (True, False)
    assert created["set_password_url"].startswith(
        "https://b2b.example/auth/set-password?user=u-0003&token="
    )
    [user] = await control(sf, "users", customer="10000")
    assert user["active"] is True and user["user_id"] == "u-0003"
    assert user["settings"] == {"greeting": "Hello, Adatum!", "menu": ["catalog", "orders"]}
    assert [c["product_type"] for c in user["contracts"]] == ["water", "alcohol"]
    assert user["set_password_url"] == created["set_password_url"]


async def test_user_create_for_an_active_user_is_user_exists(sf: Client) -> None:
    params = {**NEW_USER, "customer": "20000", "message_id": "m-1"}
    err = await error(sf, "user.create", params)
    assert err == {"code": -32050, "message": "user exists", "data": {"customer": "20000"}}


async def test_user_create_reactivates_and_updates_a_deactivated_user(sf: Client) -> None:
    [before] = await control(sf, "users", customer="50000")
    assert before["active"] is False
    params = {**NEW_USER, "customer": "50000", "name": "Relecloud Hotels Group"}
    again = await result(sf, "user.create", message_id="m-1", **params)
    assert again["user_id"] == before["user_id"] == "u-0002"
    assert (again["created"], again["reactivated"]) == (False, True)
    assert again["set_password_url"] != before["set_password_url"]
    [after] = await control(sf, "users", customer="50000")
    assert after["active"] is True and after["name"] == "Relecloud Hotels Group"


async def test_user_update_changes_the_given_fields_of_an_active_user(sf: Client) -> None:
    created = await result(sf, "user.create", message_id="m-1", **NEW_USER)
    changes = {"settings": {"greeting": "С возвращением!", "menu": ["orders"]}, "manager": None}
    updated = await result(sf, "user.update", message_id="m-2", **{**NEW_USER, **changes})
    assert updated == {"user_id": "u-0003", "active": True, "updated": ["manager", "settings"]}
    [user] = await control(sf, "users", customer="10000")
    assert user["settings"] == changes["settings"] and user["manager"] is None
    assert user["inn"] == NEW_USER["inn"]  # given again, unchanged
    # The same user keeps its password: no new set-password link.
    assert user["active"] and user["set_password_url"] == created["set_password_url"]


async def test_user_update_leaves_out_fields_it_is_not_given(sf: Client) -> None:
    params = {"customer": "20000", "email": "orders@trey.example", "name": "Trey Research"}
    updated = await result(sf, "user.update", message_id="m-1", **params)
    assert updated["updated"] == ["name"]
    [user] = await control(sf, "users", customer="20000")
    assert user["name"] == "Trey Research" and user["price_group"] == "HORECA"


async def test_user_update_keeps_a_deactivated_user_deactivated(sf: Client) -> None:
    params = {"customer": "50000", "email": "orders@relecloud.example", "name": "Relecloud"}
    updated = await result(sf, "user.update", message_id="m-1", **params)
    assert updated == {"user_id": "u-0002", "active": False, "updated": ["name"]}


async def test_user_update_of_an_unknown_customer_is_unknown_customer(sf: Client) -> None:
    err = await error(sf, "user.update", {**NEW_USER, "message_id": "m-1"})
    assert err == {"code": -32044, "message": "unknown customer", "data": {"customer": "10000"}}


async def test_repeated_message_id_returns_the_first_result_without_a_second_effect(
    sf: Client,
) -> None:
    first = await result(sf, "user.create", message_id="m-1", **NEW_USER)
    # A second create would be "user exists": the repeat is answered from the first call.
    assert await result(sf, "user.create", message_id="m-1", **NEW_USER) == first
    assert len(await control(sf, "users", customer="10000")) == 1
    calls = await control(sf, "calls", message_id="m-1")
    assert [(c["method"], c["repeat"]) for c in calls] == [
        ("user.create", False),
        ("user.create", True),
    ]
    assert calls[1]["result"] == first and calls[0]["params"]["customer"] == "10000"
    # A new message for the same customer is a new effect.
    assert (await error(sf, "user.create", {**NEW_USER, "message_id": "m-2"}))["code"] == -32050


async def test_idempotency_is_per_method(sf: Client) -> None:
    await result(sf, "user.create", message_id="m-1", **NEW_USER)
    imported = await result(
        sf, "order.history.import", message_id="m-1", customer="10000", orders=[]
    )
    assert imported == {"imported": 0}
    assert [c["repeat"] for c in await control(sf, "calls")] == [False, False]


async def test_a_failed_call_is_not_kept_so_its_replay_runs_again(sf: Client) -> None:
    unknown = await error(sf, "user.deactivate", {"message_id": "m-9", "customer": "10000"})
    assert unknown == {"code": -32044, "message": "unknown customer", "data": {"customer": "10000"}}
    await result(sf, "user.create", message_id="m-1", **NEW_USER)
    replayed = await result(sf, "user.deactivate", message_id="m-9", customer="10000")
    assert replayed == {"user_id": "u-0003", "active": False}
    [user] = await control(sf, "users", customer="10000")
    assert user["active"] is False
    calls = await control(sf, "calls", message_id="m-9")
    assert calls[0]["error"]["code"] == -32044 and calls[1]["result"] == replayed


async def test_order_update_adds_versions_and_creates_unknown_orders(sf: Client) -> None:
    changed = await result(
        sf,
        "order.update",
        message_id="m-1",
        order_id="A-1001",
        status="shipped",
        source="crm",
        changed_at="2024-11-22T10:05:12+03:00",
    )
    assert changed == {"order_id": "A-1001", "version": 2}
    assert await result(sf, "order.update", message_id="m-1", order_id="A-1001") == changed
    [order] = [o for o in await control(sf, "orders") if o["order_id"] == "A-1001"]
    assert order["version"] == 2 and order["status"] == "shipped" and order["source"] == "crm"
    assert order["erp_number"] == "SO-101001" and len(order["lines"]) == 2  # kept from v1
    assert order["changed_at"] == "2024-11-22T10:05:12+03:00"
    assert [(v["version"], v["status"], v["message_id"]) for v in order["history"]] == [
        (1, "accepted", None),
        (2, "shipped", "m-1"),
    ]
    offline = await result(
        sf,
        "order.update",
        message_id="m-2",
        order_id="OFF-7",
        customer="20000",
        status="provided",
        lines=[
            {"item": "1100", "quantity": 48},
            {"item": "1002", "quantity": 2, "unit": "BOX", "price": 67.2},
        ],
        erp_number="SO-7",
    )
    assert offline == {"order_id": "OFF-7", "version": 1}
    [created] = [o for o in await control(sf, "orders") if o["order_id"] == "OFF-7"]
    assert created["customer"] == "20000" and created["lines"] == [
        {"item": "1100", "quantity": 48.0, "unit": None, "price": None},
        {"item": "1002", "quantity": 2.0, "unit": "BOX", "price": 67.2},
    ]


async def test_order_history_import(sf: Client) -> None:
    orders = [
        {
            "order_id": "H-1",
            "date": "2024-06-01",
            "channel": "offline",
            "status": "completed",
            "total": 120.5,
            "lines": [{"item": "1000", "quantity": 6, "price": 14.9}],
        },
        {
            "order_id": "H-2",
            "date": "2024-07-15",
            "channel": "online",
            "status": "completed",
            "total": 0,
            "lines": [],
        },
    ]
    imported = await result(
        sf, "order.history.import", message_id="m-1", customer="20000", orders=orders
    )
    assert imported == {"imported": 2}
    [user] = await control(sf, "users", customer="20000")
    assert [(o["order_id"], o["channel"]) for o in user["order_history"]] == [
        ("H-1", "offline"),
        ("H-2", "online"),
    ]
    bad = {"message_id": "m-2", "customer": "20000", "orders": [{**orders[0], "channel": "fax"}]}
    assert bad_fields(await error(sf, "order.history.import", bad)) == {"orders.0.channel"}
    unknown = {"message_id": "m-3", "customer": "99999", "orders": orders}
    assert (await error(sf, "order.history.import", unknown))["code"] == -32044


async def test_document_deliver_files_the_document(sf: Client) -> None:
    pdf = b"%PDF-1.4 invoice"
    params = {
        "message_id": "m-1",
        "customer": "20000",
        "kind": "invoice",
        "request_id": "R-1",
        "number": "INV-0001",
        "filename": "INV-0001.pdf",
        "content_base64": base64.b64encode(pdf).decode(),
    }
    assert await result(sf, "document.deliver", **params) == {"document_id": "d-0001"}
    [document] = await control(sf, "documents", customer="20000")
    assert document["size"] == len(pdf)
    assert document["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert (document["kind"], document["request_id"], document["number"]) == (
        "invoice",
        "R-1",
        "INV-0001",
    )
    broken = {**params, "message_id": "m-2", "content_base64": "not base64!"}
    assert bad_fields(await error(sf, "document.deliver", broken)) == {"content_base64"}
    wrong_kind = {**params, "message_id": "m-3", "kind": "receipt"}
    assert bad_fields(await error(sf, "document.deliver", wrong_kind)) == {"kind"}
    stranger = {**params, "message_id": "m-4", "customer": "99999"}
    assert (await error(sf, "document.deliver", stranger))["code"] == -32044


async def test_batch_answers_in_order_and_skips_notifications(sf: Client) -> None:
    answers = await post(
        sf,
        [
            {
                "jsonrpc": "2.0",
                "method": "user.create",
                "params": {**NEW_USER, "message_id": "m-1"},
                "id": "a",
            },
            {  # a notification: it runs, but gets no answer
                "jsonrpc": "2.0",
                "method": "order.update",
                "params": {"message_id": "m-2", "order_id": "A-1002", "status": "provided"},
            },
            {"jsonrpc": "2.0", "method": "nope", "id": "b"},
            42,
            {
                "jsonrpc": "2.0",
                "method": "user.deactivate",
                "params": {"message_id": "m-3", "customer": "10000"},
                "id": "c",
            },
        ],
    )
    assert [a["id"] for a in answers] == ["a", "b", None, "c"]
    assert answers[0]["result"]["user_id"] == "u-0003"
    assert answers[1]["error"]["code"] == -32601
    assert answers[2]["error"]["code"] == -32600
    assert answers[3]["result"] == {"user_id": "u-0003", "active": False}
    [order] = [o for o in await control(sf, "orders") if o["order_id"] == "A-1002"]
    assert order["status"] == "provided"


async def test_notifications_only_get_204(sf: Client) -> None:
    body = {"jsonrpc": "2.0", "method": "user.deactivate", "params": {"message_id": "m-1"}}
    response = await sf.post("/rpc", json=[body, body], headers=AUTH)
    assert response.status == 204


async def test_reset_restores_the_seed(sf: Client) -> None:
    await result(sf, "user.create", message_id="m-1", **NEW_USER)
    await result(sf, "order.update", message_id="m-2", order_id="NEW-1", status="new")
    assert (await sf.post("/_control/reset")).status == 200
    users = await control(sf, "users")
    assert [(u["user_id"], u["customer"], u["active"]) for u in users] == [
        ("u-0001", "20000", True),
        ("u-0002", "50000", False),
    ]
    assert [o["order_id"] for o in await control(sf, "orders")] == ["A-1001", "A-1002"]
    assert await control(sf, "calls") == [] and await control(sf, "documents") == []
    # The message id is forgotten too: the same call has its effect again.
    assert (await result(sf, "user.create", message_id="m-1", **NEW_USER))["user_id"] == "u-0003"


async def test_injected_faults_answer_in_a_jsonrpc_envelope(sf: Client) -> None:
    await sf.post("/_control/faults", json=[{"mode": "error", "status": 503, "times": 1}])
    response = await sf.post("/rpc", json={}, headers=AUTH)
    assert response.status == 503
    body = await response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] is None
    assert body["error"]["code"] == -32000 and body["error"]["data"] == {"http_status": 503}
    await sf.post("/_control/faults", json={"mode": "rate_limit", "retry_after": 3, "times": 1})
    limited = await sf.post("/rpc", json={}, headers=AUTH)
    assert limited.status == 429 and limited.headers["Retry-After"] == "3"
    assert (await limited.json())["error"]["code"] == -32029
    # Faults are used up; the call now works.
    assert await result(sf, "user.deactivate", message_id="m-1", customer="20000")


async def _order(client: Client, order_id: str) -> dict[str, Any] | None:
    found = [o for o in await control(client, "orders") if o["order_id"] == order_id]
    return found[0] if found else None


MERGED_ORDER: dict[str, Any] = {
    "order_id": "A-2001",
    "erp_number": "SO-102001",
    "status": "accepted",
    "lines": [{"item": "1000", "quantity": 12, "price": 13.9}, {"item": "1004", "quantity": 6}],
}


async def test_accepted_merge_replaces_the_orders_by_the_new_one(sf: Client) -> None:
    merged = await result(
        sf,
        "order.merge",
        message_id="m-1",
        customer="20000",
        orders=["A-1001", "A-1002"],
        outcome="accepted",
        new_order=MERGED_ORDER,
    )
    assert merged == {"merged": True, "order_id": "A-2001", "removed": ["A-1001", "A-1002"]}
    orders = await control(sf, "orders", customer="20000")
    assert [o["order_id"] for o in orders] == ["A-2001"]
    [order] = orders
    assert (order["version"], order["status"], order["erp_number"]) == (1, "accepted", "SO-102001")
    assert order["merged_from"] == ["A-1001", "A-1002"] and order["merge_rejected"] is None
    assert order["lines"][1] == {"item": "1004", "quantity": 6.0, "unit": None, "price": None}
    assert order["history"][0]["message_id"] == "m-1"


async def test_merge_into_one_of_the_merged_ids_starts_it_again_at_version_1(sf: Client) -> None:
    new_order = {**MERGED_ORDER, "order_id": "A-1001"}
    params = {"customer": "20000", "orders": ["A-1001", "A-1002"], "outcome": "accepted"}
    merged = await result(sf, "order.merge", message_id="m-1", new_order=new_order, **params)
    assert merged["order_id"] == "A-1001"
    order = await _order(sf, "A-1001")
    assert order is not None and order["version"] == 1
    assert order["merged_from"] == ["A-1001", "A-1002"] and await _order(sf, "A-1002") is None


async def test_rejected_merge_keeps_the_orders_and_records_the_reason(sf: Client) -> None:
    before = await control(sf, "orders", customer="20000")
    rejected = await result(
        sf,
        "order.merge",
        message_id="m-1",
        customer="20000",
        orders=["A-1001", "A-1002"],
        outcome="rejected",
        reason="A-1002 is already shipped",
    )
    assert rejected == {"merged": False, "order_id": None, "removed": []}
    after = await control(sf, "orders", customer="20000")
    assert [o["merge_rejected"] for o in after] == ["A-1002 is already shipped"] * 2
    unchanged = ("order_id", "version", "status", "lines", "history")
    assert [{k: o[k] for k in unchanged} for o in after] == [
        {k: o[k] for k in unchanged} for o in before
    ]


async def test_repeated_merge_message_is_answered_as_the_first_time(sf: Client) -> None:
    params = {
        "message_id": "m-1",
        "customer": "20000",
        "orders": ["A-1001", "A-1002"],
        "outcome": "accepted",
        "new_order": MERGED_ORDER,
    }
    first = await result(sf, "order.merge", **params)
    # The merged orders are gone, so only the stored answer makes the repeat succeed.
    assert await result(sf, "order.merge", **params) == first
    assert [o["order_id"] for o in await control(sf, "orders")] == ["A-2001"]
    calls = await control(sf, "calls", method="order.merge")
    assert [c["repeat"] for c in calls] == [False, True]
    # A new message about the same orders is refused: they are no longer the customer's.
    again = await error(sf, "order.merge", {**params, "message_id": "m-2"})
    assert bad_fields(again) == {"orders.0", "orders.1"}


async def test_merge_refuses_orders_that_are_not_the_customers(sf: Client) -> None:
    await result(
        sf, "order.update", message_id="m-0", order_id="B-1", customer="50000", status="new"
    )
    params = {"customer": "20000", "outcome": "rejected"}
    err = await error(
        sf, "order.merge", {"message_id": "m-1", "orders": ["A-1001", "B-1"], **params}
    )
    assert bad_fields(err) == {"orders.1"}
    assert err["data"]["fields"][0]["type"] == "unknown_order"
    assert "'B-1'" in err["data"]["fields"][0]["message"]
    missing = await error(
        sf, "order.merge", {"message_id": "m-2", "orders": ["X", "A-1002"], **params}
    )
    assert bad_fields(missing) == {"orders.0"}
    stranger = {"message_id": "m-3", "orders": ["A-1001", "A-1002"], **params, "customer": "99999"}
    assert (await error(sf, "order.merge", stranger))["code"] == -32044
    assert all(o["merge_rejected"] is None for o in await control(sf, "orders"))


async def test_merge_params_are_checked(sf: Client) -> None:
    base = {"message_id": "m-1", "customer": "20000", "orders": ["A-1001", "A-1002"]}
    assert bad_fields(await error(sf, "order.merge", {**base, "outcome": "accepted"})) == {
        "new_order"
    }
    with_order = {**base, "outcome": "rejected", "new_order": MERGED_ORDER}
    assert bad_fields(await error(sf, "order.merge", with_order)) == {"new_order"}
    single = {**base, "orders": ["A-1001"], "outcome": "rejected"}
    assert bad_fields(await error(sf, "order.merge", single)) == {"orders"}
    twice = {**base, "orders": ["A-1001", "A-1001"], "outcome": "rejected"}
    assert bad_fields(await error(sf, "order.merge", twice)) == {"orders"}
    await result(sf, "order.update", message_id="m-0", order_id="A-2001", customer="20000")
    taken = {**base, "outcome": "accepted", "new_order": MERGED_ORDER}
    assert bad_fields(await error(sf, "order.merge", taken)) == {"new_order.order_id"}
    assert len(await control(sf, "orders", customer="20000")) == 3


ADDRESS_REQUEST: dict[str, Any] = {
    "request_id": "01JD0000000000000000000001",
    "customer": "20000",
    "kind": "delivery_address",
    "details": {"address": "7 Harbour Road, Boston", "name": "Harbour bar"},
}
EMPLOYEE_REQUEST: dict[str, Any] = {
    "request_id": "01JD0000000000000000000002",
    "customer": "20000",
    "kind": "employee",
    "details": {"name": "Kim Lee", "email": "kim@trey.example", "role": "buyer"},
}


async def test_approved_address_request_adds_the_delivery_address(sf: Client) -> None:
    decided = await result(
        sf,
        "request.update",
        message_id="m-1",
        decision="approved",
        erp_request_no="ADR-17",
        **ADDRESS_REQUEST,
    )
    assert decided == {"request_id": ADDRESS_REQUEST["request_id"], "decision": "approved"}
    [user] = await control(sf, "users", customer="20000")
    assert user["addresses"] == [
        {"code": "MAIN", "address": "153 Thomas Drive, Chicago"},
        {"code": "ADR-17", "address": "7 Harbour Road, Boston"},
    ]
    [request] = await control(sf, "requests", customer="20000")
    assert (request["decision"], request["erp_request_no"], request["message_id"]) == (
        "approved",
        "ADR-17",
        "m-1",
    )


async def test_declined_employee_request_adds_nothing_but_is_recorded(sf: Client) -> None:
    decided = await result(
        sf,
        "request.update",
        message_id="m-1",
        decision="declined",
        reason="no such person on staff",
        **EMPLOYEE_REQUEST,
    )
    assert decided == {"request_id": EMPLOYEE_REQUEST["request_id"], "decision": "declined"}
    [user] = await control(sf, "users", customer="20000")
    assert user["employees"] == []
    [request] = await control(sf, "requests")
    assert request["kind"] == "employee" and request["decision"] == "declined"
    assert request["reason"] == "no such person on staff"
    assert request["details"] == EMPLOYEE_REQUEST["details"]


async def test_a_later_update_of_a_request_replaces_the_earlier(sf: Client) -> None:
    await result(sf, "request.update", message_id="m-1", decision="declined", **EMPLOYEE_REQUEST)
    await result(sf, "request.update", message_id="m-2", decision="approved", **EMPLOYEE_REQUEST)
    [request] = await control(sf, "requests", customer="20000")
    assert (request["decision"], request["message_id"]) == ("approved", "m-2")
    [user] = await control(sf, "users", customer="20000")
    assert user["employees"] == [EMPLOYEE_REQUEST["details"]]
    # The same decision again (a new message) adds the employee only once.
    await result(sf, "request.update", message_id="m-3", decision="approved", **EMPLOYEE_REQUEST)
    [user] = await control(sf, "users", customer="20000")
    assert len(user["employees"]) == 1


async def test_requests_control_lists_by_customer(sf: Client) -> None:
    await result(sf, "request.update", message_id="m-1", decision="approved", **ADDRESS_REQUEST)
    other = {**EMPLOYEE_REQUEST, "customer": "50000"}
    await result(sf, "request.update", message_id="m-2", decision="declined", **other)
    assert [r["customer"] for r in await control(sf, "requests")] == ["20000", "50000"]
    [mine] = await control(sf, "requests", customer="50000")
    assert mine["request_id"] == EMPLOYEE_REQUEST["request_id"]
    assert await control(sf, "requests", customer="10000") == []
    [user] = await control(sf, "users", customer="50000")
    assert user["employees"] == []


async def test_request_update_params_are_checked(sf: Client) -> None:
    no_address = {**ADDRESS_REQUEST, "details": {"name": "x"}, "message_id": "m-1"}
    assert bad_fields(
        await error(sf, "request.update", {**no_address, "decision": "approved"})
    ) == {"details"}
    # A declined request needs no complete details.
    await result(sf, "request.update", **{**no_address, "decision": "declined"})
    no_email = {**EMPLOYEE_REQUEST, "details": {"name": "Kim"}, "decision": "approved"}
    assert bad_fields(await error(sf, "request.update", {**no_email, "message_id": "m-2"})) == {
        "details"
    }
    wrong = {**ADDRESS_REQUEST, "message_id": "m-3", "kind": "phone", "decision": "maybe"}
    assert bad_fields(await error(sf, "request.update", wrong)) == {"kind", "decision"}
    stranger = {**ADDRESS_REQUEST, "message_id": "m-4", "decision": "approved", "customer": "1"}
    assert (await error(sf, "request.update", stranger))["code"] == -32044


async def test_reset_forgets_merges_and_requests(sf: Client) -> None:
    await result(
        sf,
        "order.merge",
        message_id="m-1",
        customer="20000",
        orders=["A-1001", "A-1002"],
        outcome="accepted",
        new_order=MERGED_ORDER,
    )
    await result(sf, "request.update", message_id="m-2", decision="approved", **ADDRESS_REQUEST)
    await result(sf, "request.update", message_id="m-3", decision="approved", **EMPLOYEE_REQUEST)
    assert (await sf.post("/_control/reset")).status == 200
    assert [o["order_id"] for o in await control(sf, "orders")] == ["A-1001", "A-1002"]
    assert await control(sf, "requests") == []
    [user] = await control(sf, "users", customer="20000")
    assert len(user["addresses"]) == 1 and user["employees"] == []
