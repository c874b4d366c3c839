"""The ERP decides a request once, after it registered it: end to end with each ERP.

A decision about a request the ERP has not registered (its step not delivered: the ERP has no
number of it) is refused naming ``request_id`` and journals nothing; the ERP sends it again later.
The first decision accepted is the decision: the same again is the same message, whatever its
idempotency key; another is refused (``-32010`` naming ``request_id`` and the decision), also when
both arrive together; the storefront hears one decision. Only the ERP decides.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.settings import DEV_KEYS
from tests.e2e.conftest import running, wait_until
from tests.e2e.test_ordering_keys import PATHS
from tests.e2e.test_provisioning import _steps_delivered
from tests.e2e.test_systems import TIMINGS, _call
from tests.e2e.test_unknown_orders import EVERY_ERP
from tests.support.processes import Stack

CUSTOMER = "20000"


@pytest.fixture(params=EVERY_ERP, ids="-".join)
def stack(request: pytest.FixtureRequest, log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    erp, crm = request.param
    env = {"BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}", **TIMINGS}
    yield from running(Stack(env, log_dir, erp=erp, crm=crm, simulators=(erp, "storefront")))


def _post(stack: Stack, caller: str, body: Any) -> Any:
    """One raw JSON-RPC request (a call or a batch) as ``caller``; the parsed answer."""
    headers = {"Authorization": f"Bearer {DEV_KEYS[caller]}"}
    return httpx.post(f"{stack.api_url}/rpc", json=body, headers=headers, timeout=30).json()


def _decide(stack: Stack, caller: str = "erp", **params: Any) -> dict[str, Any]:
    """``request.decided`` as ``caller``: the whole answer (a result or an error)."""
    answer: dict[str, Any] = _post(
        stack, caller, {"jsonrpc": "2.0", "id": 1, "method": "request.decided", "params": params}
    )
    return answer


def _ask(stack: Stack) -> str:
    asked = _call(
        stack, "storefront", "address.request", {"customer": CUSTOMER, "address": "7 Pier Road"}
    )
    return str(asked["message_id"])


def _message(stack: Stack, message_id: str) -> dict[str, Any]:
    return dict(_call(stack, "ops", "message.get", {"message_id": message_id}))


def _told(stack: Stack) -> list[dict[str, Any]]:
    """The storefront's ``request.update`` calls."""
    url = f"{stack.urls['storefront']}/_control/storefront/calls"
    calls: list[dict[str, Any]] = httpx.get(url, params={"method": "request.update"}).json()[
        "calls"
    ]
    return calls


def test_a_decision_before_the_erp_registered_the_request_is_refused(stack: Stack) -> None:
    faults = f"{stack.urls[stack.erp]}/_control/faults"
    fault = {"mode": "status", "status": 503, "match": PATHS[stack.erp]["request"], "times": 1000}
    httpx.post(faults, json=fault).raise_for_status()
    request_id = _ask(stack)
    wait_until(
        lambda: _message(stack, request_id)["attempts"] != [], stack, 20, "the ERP's first refusal"
    )

    refused = _decide(stack, request_id=request_id, decision="approved")["error"]
    assert refused["code"] == -32602, refused
    [field] = refused["data"]["fields"]
    assert (field["field"], field["type"]) == ("request_id", "not_registered")
    assert request_id in field["message"] and "again" in field["message"]
    assert refused["data"]["request_id"] == request_id
    assert _message(stack, request_id)["children"] == []  # nothing journaled

    httpx.delete(faults).raise_for_status()
    _steps_delivered(stack, request_id, steps=1)
    decided = _decide(stack, request_id=request_id, decision="approved")["result"]  # sent again
    _steps_delivered(stack, decided["message_id"], steps=1)
    [told] = _told(stack)
    assert told["params"]["request_id"] == request_id and told["params"]["erp_request_no"]


def test_a_request_is_decided_once(stack: Stack) -> None:
    request_id = _ask(stack)
    _steps_delivered(stack, request_id, steps=1)

    first = _decide(stack, request_id=request_id, decision="approved", idempotency_key="d-1")
    decision_id = first["result"]["message_id"]
    # The same decision, with another key or none: the same message.
    for key in ({"idempotency_key": "d-2"}, {}):
        again = _decide(stack, request_id=request_id, decision="approved", **key)
        assert again["result"]["message_id"] == decision_id, again
    # Another decision: refused, naming the request and the decision it already is.
    other = _decide(stack, request_id=request_id, decision="declined", reason="changed its mind")
    error = other["error"]
    assert error["code"] == -32010, error
    assert (error["data"]["field"], error["data"]["request_id"]) == ("request_id", request_id)
    assert error["data"]["message_id"] == decision_id
    # Only the ERP decides.
    assert _decide(stack, "ops", request_id=request_id, decision="declined")["error"]["code"] == (
        -32003
    )

    _steps_delivered(stack, decision_id, steps=1)
    assert [c["message_id"] for c in _message(stack, request_id)["children"]] == [decision_id]
    [told] = _told(stack)
    assert (told["params"]["request_id"], told["params"]["decision"]) == (request_id, "approved")


def test_two_different_decisions_together_are_one_decision(stack: Stack) -> None:
    request_id = _ask(stack)
    _steps_delivered(stack, request_id, steps=1)
    batch = [
        {
            "jsonrpc": "2.0",
            "id": decision,
            "method": "request.decided",
            "params": {"request_id": request_id, "decision": decision},
        }
        for decision in ("approved", "declined")
    ]
    answers = {answer["id"]: answer for answer in _post(stack, "erp", batch)}
    [won] = [answer for answer in answers.values() if "result" in answer]
    [lost] = [answer for answer in answers.values() if "error" in answer]
    assert lost["error"]["code"] == -32010 and lost["error"]["data"]["field"] == "request_id"
    assert lost["error"]["data"]["message_id"] == won["result"]["message_id"]

    _steps_delivered(stack, won["result"]["message_id"], steps=1)
    assert len(_message(stack, request_id)["children"]) == 1
    [told] = _told(stack)
    assert told["params"]["decision"] == won["id"]
