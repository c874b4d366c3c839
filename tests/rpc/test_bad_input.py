"""Bad input gets a clear JSON-RPC error naming the field: never a crash, never an HTTP 500."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.rpc.conftest import Rpc, call, order, start_bus


def fields_of(answer: dict[str, Any]) -> set[str]:
    return {field["field"] for field in answer["error"]["data"]["fields"]}


@pytest.mark.parametrize(
    ("params", "wrong"),
    [
        (order(lines=[{"item": "1000", "quantity": "2"}]), {"lines.0.quantity"}),
        (order(lines=[{"item": "1000", "quantity": -1}]), {"lines.0.quantity"}),
        (order(lines=[{"item": "1000"}]), {"lines.0.quantity"}),
        (order(customer=10000), {"customer"}),
        (order(colour="red"), {"colour"}),
        (order(delivery={"date": "tomorrow"}), {"delivery.date"}),
        (order(order_id="x" * 36), {"order_id"}),
        ({"customer": "10000"}, {"order_id", "lines"}),
        (
            order(lines=[{"item": "", "quantity": 1}, {"item": "1", "quantity": 1, "qty": 2}]),
            {"lines.0.item", "lines.1.qty"},
        ),
    ],
)
def test_wrong_params_name_every_wrong_field(
    rpc: Rpc, params: dict[str, Any], wrong: set[str]
) -> None:
    answer = rpc.post(call("order.submit", params)).json()
    assert answer["error"]["code"] == -32602
    assert fields_of(answer) == wrong
    for field in answer["error"]["data"]["fields"]:
        assert field["message"] and field["type"]


def test_positional_params_are_refused_by_name(rpc: Rpc) -> None:
    answer = rpc.post(call("order.submit", ["A-1", "10000"])).json()
    assert answer["error"]["code"] == -32602 and fields_of(answer) == {"params"}


def test_a_missing_key_is_unauthenticated(rpc: Rpc) -> None:
    response = rpc.post(call("order.submit", order()), key=None)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == -32001


def test_an_unknown_key_is_unauthenticated(rpc: Rpc) -> None:
    response = rpc.post(call("order.submit", order()), key="not-a-real-key")
    assert response.status_code == 401 and response.json()["error"]["code"] == -32001


def test_a_client_cannot_call_another_clients_methods(rpc: Rpc) -> None:
    answer = rpc.post(call("order.submit", order()), key="crm").json()
    assert answer["error"]["code"] == -32003
    assert answer["error"]["data"] == {"method": "order.submit", "client": "crm"}


def test_a_caller_sees_only_its_own_messages(rpc: Rpc) -> None:
    message_id = rpc.post(call("order.submit", order(40))).json()["result"]["message_id"]
    assert (
        rpc.post(call("message.get", {"message_id": message_id}), key="crm").json()["error"]["code"]
        == -32011
    )
    assert (
        rpc.post(call("message.get", {"message_id": message_id}), key="ops").json()["result"][
            "message_id"
        ]
        == message_id
    )


def test_a_reused_idempotency_key_with_another_payload_is_a_conflict(rpc: Rpc) -> None:
    invoice = {"customer": "10000", "amount": 100, "idempotency_key": "idem-41"}
    first = rpc.post(call("invoice.request", invoice)).json()
    same = rpc.post(call("invoice.request", invoice)).json()
    other = rpc.post(call("invoice.request", {**invoice, "amount": 200})).json()
    assert same["result"]["message_id"] == first["result"]["message_id"]
    assert other["error"]["code"] == -32010
    assert other["error"]["data"] == {"message_id": first["result"]["message_id"]}


def test_an_order_is_its_order_id_whatever_key_comes_with_it(rpc: Rpc) -> None:
    first = rpc.post(call("order.submit", order(43, idempotency_key="idem-43"))).json()["result"]
    message_id = first["message_id"]
    for again in (order(43), order(43, idempotency_key="another-key")):
        assert rpc.post(call("order.submit", again)).json()["result"]["message_id"] == message_id
    # The key does not make an order: another order id under the same key is another order.
    other = rpc.post(call("order.submit", order(44, idempotency_key="idem-43"))).json()
    assert other["result"]["message_id"] != message_id
    changed = rpc.post(call("order.submit", order(43, comment="two more, please"))).json()
    assert changed["error"]["code"] == -32010
    data = changed["error"]["data"]
    assert (data["field"], data["order_id"], data["message_id"]) == ("order_id", "A-43", message_id)


def test_an_oversized_body_is_refused(rpc: Rpc) -> None:
    response = rpc.post(call("order.submit", order(comment="x" * 70_000)))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == -32006


def test_an_oversized_batch_is_refused(rpc: Rpc) -> None:
    response = rpc.post([call("order.submit", order(n), id=n) for n in range(11)])
    assert response.status_code == 413
    assert response.json()["error"]["data"] == {"max_batch": 10, "got": 11}


def test_the_body_is_read_as_json_whatever_its_declared_type(rpc: Rpc) -> None:
    curl_default = {"Content-Type": "application/x-www-form-urlencoded"}
    ok = rpc.post(raw=json.dumps(call("order.submit", order(50))).encode(), headers=curl_default)
    assert ok.json()["result"]["status"] == "accepted"
    xml = rpc.post(raw=b"<xml/>", headers={"Content-Type": "application/xml"})
    assert xml.status_code == 200 and xml.json()["error"]["code"] == -32700


def test_a_call_over_its_time_budget_times_out(tmp_path: Path) -> None:
    stack = start_bus(tmp_path, BUS_LIMITS__CALL_TIMEOUT="0.000001")
    try:
        with Rpc(stack.api_url) as rpc:
            answer = rpc.post(call("order.submit", order())).json()
        assert answer["error"]["code"] == -32008
    finally:
        stack.stop()


def test_an_internal_failure_is_sanitized_and_accepted_work_is_kept(tmp_path: Path) -> None:
    stack = start_bus(tmp_path)
    rpc = Rpc(stack.api_url)
    try:
        kept = rpc.post(call("order.submit", order(1))).json()["result"]["message_id"]
        with sqlite3.connect(tmp_path / "bus.db") as db:  # break the journal under the running bus
            db.execute("ALTER TABLE ordering_keys RENAME TO ordering_keys_gone")
        response = rpc.post(call("order.submit", order(2)))
        assert response.status_code == 200
        error = response.json()["error"]
        assert error["code"] == -32603 and error["message"] == "Internal error"
        assert set(error["data"]) == {"correlation_id"}
        assert "ordering_keys" not in response.text and "Traceback" not in response.text
        assert error["data"]["correlation_id"] in stack.processes[0].output()  # in the logs
        with sqlite3.connect(tmp_path / "bus.db") as db:
            db.execute("ALTER TABLE ordering_keys_gone RENAME TO ordering_keys")
        got = rpc.post(call("message.get", {"message_id": kept})).json()
        assert got["result"]["message_id"] == kept
    finally:
        rpc.http.close()
        stack.stop()


def test_a_decision_about_something_that_is_no_request_names_the_request_id(rpc: Rpc) -> None:
    placed = rpc.post(call("order.submit", order())).json()["result"]["message_id"]
    for request_id in (placed, "0" * 26):
        answer = rpc.post(
            call("request.decided", {"request_id": request_id, "decision": "approved"}), key="erp"
        ).json()
        assert answer["error"]["code"] == -32602
        assert fields_of(answer) == {"request_id"}
