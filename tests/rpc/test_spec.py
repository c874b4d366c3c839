"""The JSON-RPC 2.0 specification at ``POST /rpc``, against a real bus process over HTTP."""

from __future__ import annotations

import pytest

from tests.rpc.conftest import Rpc, call, order


def test_a_single_call_answers_at_once_with_the_message(rpc: Rpc) -> None:
    response = rpc.post(call("order.submit", order(1), id=7))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] == 7 and "error" not in body
    # No ERP runs here: the order is taken, and the answer says what could not be checked.
    assert set(body["result"]) == {"message_id", "status", "route", "adjusted", "unchecked"}
    assert body["result"]["status"] == "accepted"
    # no delivery date was asked for: the bus names the earliest one its rules allow
    [adjusted] = body["result"]["adjusted"]
    assert adjusted["field"] == "delivery.date" and adjusted["from"] is None


@pytest.mark.parametrize("request_id", ["abc-1", 0, -5, 12345678901234, 1.5, None, "", "ü"])
def test_the_id_is_echoed_exactly(rpc: Rpc, request_id: object) -> None:
    body = rpc.post(call("message.get", {"message_id": "0" * 26}, id=request_id)).json()
    assert body["id"] == request_id and type(body["id"]) is type(request_id)


def test_a_notification_gets_no_response_but_is_journaled(rpc: Rpc) -> None:
    notification = {
        "jsonrpc": "2.0",
        "method": "order.submit",
        "params": order(2, idempotency_key="notif-2"),
    }
    response = rpc.post(notification)
    assert response.status_code == 204 and response.content == b""
    again = rpc.post(call("order.submit", order(2, idempotency_key="notif-2"))).json()
    assert again["result"]["status"] in {"accepted", "in_flight", "retry_wait", "delivered"}


def test_a_batch_answers_each_call_and_isolates_invalid_items(rpc: Rpc) -> None:
    batch = [
        call("order.submit", order(3), id="a"),
        {"jsonrpc": "2.0", "method": 5, "id": "b"},
        {"jsonrpc": "2.0", "method": "order.submit", "params": order(4)},  # notification
        1,
        call("no.such.method", {}, id="c"),
        call("order.submit", order(5, lines=[]), id="d"),
    ]
    response = rpc.post(batch)
    assert response.status_code == 200
    by_id = {item["id"]: item for item in response.json() if item["id"] is not None}
    assert len(response.json()) == 5  # one per non-notification, including the bare 1
    assert by_id["a"]["result"]["status"] == "accepted"
    assert by_id["b"]["error"]["code"] == -32600
    assert by_id["c"]["error"]["code"] == -32601
    assert by_id["d"]["error"]["code"] == -32602
    [bare] = [item for item in response.json() if item["id"] is None]
    assert bare["error"]["code"] == -32600


def test_a_batch_of_notifications_gets_no_content(rpc: Rpc) -> None:
    batch = [{"jsonrpc": "2.0", "method": "order.submit", "params": order(n)} for n in (6, 7)]
    response = rpc.post(batch)
    assert response.status_code == 204 and response.content == b""


def test_an_empty_batch_is_one_invalid_request(rpc: Rpc) -> None:
    body = rpc.post([]).json()
    assert body["error"]["code"] == -32600 and body["id"] is None


@pytest.mark.parametrize(
    "raw", [b'{"jsonrpc": "2.0", "method"', b"not json", b"[1, 2", b"NaN", b"[" * 50_000]
)
def test_unparseable_bodies_are_a_parse_error(rpc: Rpc, raw: bytes) -> None:
    response = rpc.post(raw=raw)
    assert response.status_code == 200
    assert response.json()["error"]["code"] == -32700 and response.json()["id"] is None


@pytest.mark.parametrize(
    "body",
    [
        1,
        "text",
        {"method": "order.submit", "id": 1},
        {"jsonrpc": "1.0", "method": "m", "id": 1},
        {"jsonrpc": "2.0", "method": "order.submit", "params": "x", "id": 1},
        {"jsonrpc": "2.0", "method": "order.submit", "id": True},
        {"jsonrpc": "2.0", "method": "order.submit", "id": {"x": 1}},
        {"jsonrpc": "2.0", "method": "order.submit", "id": 1, "extra": 1},
    ],
)
def test_invalid_request_objects_are_refused(rpc: Rpc, body: object) -> None:
    answer = rpc.post(body).json()
    assert answer["error"]["code"] == -32600
    assert "field" in answer["error"]["data"]


def test_an_unknown_method_is_method_not_found(rpc: Rpc) -> None:
    answer = rpc.post(call("order.explode", {})).json()
    assert answer["error"]["code"] == -32601 and answer["id"] == 1


def test_rpc_discover_lists_the_methods_the_caller_may_call(rpc: Rpc) -> None:
    crm = rpc.post({"jsonrpc": "2.0", "id": 1, "method": "rpc.discover"}, key="crm").json()
    ops = rpc.post({"jsonrpc": "2.0", "id": 2, "method": "rpc.discover"}, key="ops").json()
    assert crm["result"]["openrpc"] == "1.2.6"
    assert [m["name"] for m in crm["result"]["methods"]] == [
        "account.create",
        "account.deactivate",
        "message.get",
        "rpc.discover",
    ]
    # ops reads and speaks for no system (tests/rpc/test_authorization.py has every key)
    assert [m["name"] for m in ops["result"]["methods"]] == [
        "balance.get",
        "message.get",
        "prices.get",
        "rpc.discover",
    ]
