"""The JSON-RPC 2.0 protocol: parse a body, check each request, dispatch, build the answers.

A batch runs its requests one after another, in order, so calls about one customer in one batch
see each other's effects. Notifications (no ``id``) run but get no answer; a body of
notifications only gets none at all.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from schemas.jsonrpc import echoable_id, envelope_problem
from simulators.storefront.errors import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    PARSE_ERROR,
    RpcError,
    error_response,
    invalid_request,
)

_log = logging.getLogger(__name__)

#: Runs one method with its raw params; raises :class:`RpcError`.
Dispatch = Callable[[str, Any], Any]


def answer(body: bytes, dispatch: Dispatch) -> Any:
    """The response to a whole body: an object, a list (for a batch), or ``None``."""
    try:
        document = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        return error_response(RpcError(PARSE_ERROR, "Parse error", str(exc)), None)
    if not isinstance(document, list):
        return _one(document, dispatch)
    if not document:
        error = RpcError(INVALID_REQUEST, "Invalid Request", "a batch must not be empty")
        return error_response(error, None)
    answers = [_one(item, dispatch) for item in document]
    return [item for item in answers if item is not None] or None


def _one(item: Any, dispatch: Dispatch) -> dict[str, Any] | None:
    problem = _envelope_problem(item)
    if problem is not None:
        return error_response(problem, echoable_id(item))
    try:
        result = dispatch(item["method"], item.get("params"))
    except RpcError as error:
        outcome = error_response(error, item.get("id"))
    except Exception:
        _log.exception("storefront method %s failed", item["method"])
        outcome = error_response(RpcError(INTERNAL_ERROR, "Internal error"), item.get("id"))
    else:
        outcome = {"jsonrpc": "2.0", "result": result, "id": item.get("id")}
    return outcome if "id" in item else None


def _envelope_problem(item: Any) -> RpcError | None:
    """Why ``item`` is not a JSON-RPC 2.0 request, naming the member at fault."""
    problem = envelope_problem(item)
    return None if problem is None else invalid_request(*problem)


def _reject_constant(name: str) -> Any:
    # json.loads accepts NaN and Infinity, which are not JSON.
    raise ValueError(f"{name} is not valid JSON")
