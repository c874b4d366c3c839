"""Every answer of the edge is strict JSON, even when a handler's result holds NaN or Infinity."""

from __future__ import annotations

import json
from typing import Any

from bus.rpc import json_answer


def strict(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in an answer: not JSON")

    return json.loads(text, parse_constant=refuse)


def test_an_answer_holding_nan_becomes_an_internal_error_for_its_id_alone() -> None:
    body = [
        {"jsonrpc": "2.0", "result": {"quantity": float("nan")}, "id": 1},
        {"jsonrpc": "2.0", "result": {"quantity": 2.5}, "id": "two"},
        {"jsonrpc": "2.0", "result": [float("inf")], "id": None},
    ]
    response = json_answer(body, "c-1")
    assert response.text is not None
    nan, fine, inf = strict(response.text)
    assert nan["id"] == 1 and nan["error"]["code"] == -32603
    assert nan["error"]["data"] == {"correlation_id": "c-1"}
    assert fine == body[1]
    assert inf["id"] is None and inf["error"]["code"] == -32603


def test_a_single_answer_holding_infinity_is_an_internal_error() -> None:
    response = json_answer({"jsonrpc": "2.0", "result": -float("inf"), "id": 9}, "c-2")
    assert response.text is not None
    answer = strict(response.text)
    assert answer["id"] == 9 and answer["error"]["message"] == "Internal error"
