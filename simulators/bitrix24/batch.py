"""``batch``: up to 50 commands in one request, with ``$result[key][path…]`` references."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from simulators.bitrix24.envelope import Outcome, time_block
from simulators.bitrix24.errors import B24Error
from simulators.bitrix24.params import Params, normalise, parse_query_string

#: The most commands one batch runs.
MAX_COMMANDS = 50
_REFERENCE = re.compile(r"\$result\[([^\]]+)\]((?:\[[^\]]*\])*)")
_SEGMENT = re.compile(r"\[([^\]]*)\]")

Call = Callable[[str, Params], Outcome]


def _halts(params: Params) -> bool:
    return str(params.get("halt", "0")).strip().lower() in ("1", "true", "y")


def _commands(params: Params) -> list[tuple[str, str]]:
    cmd = params.get("cmd") or {}
    if isinstance(cmd, list):
        cmd = {str(n): item for n, item in enumerate(cmd)}
    if not isinstance(cmd, dict):
        raise B24Error(400, "", "Parameter 'cmd' must be array.")
    return [(str(key), str(value)) for key, value in cmd.items()]


def _lookup(results: dict[str, Any], key: str, path: str) -> Any:
    value: Any = results.get(key)
    for segment in _SEGMENT.findall(path):
        if isinstance(value, dict):
            value = value.get(segment)
        elif isinstance(value, list) and segment.isdigit() and int(segment) < len(value):
            value = value[int(segment)]
        else:
            return None
    return value


def _substitute(value: Any, results: dict[str, Any]) -> Any:
    """Replace references in every string of a command's parameters."""
    if isinstance(value, dict):
        return {key: _substitute(item, results) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, results) for item in value]
    if not isinstance(value, str) or "$result[" not in value:
        return value
    whole = _REFERENCE.fullmatch(value)
    if whole:
        # A lone reference keeps the referenced value's type (a list for filter[@ID], say).
        return _lookup(results, whole.group(1), whole.group(2))
    return _REFERENCE.sub(lambda m: str(_lookup(results, m.group(1), m.group(2)) or ""), value)


def _empty_as_list(mapping: dict[str, Any]) -> dict[str, Any] | list[Any]:
    # PHP serialises an empty array as [], and clients expect exactly that.
    return mapping if mapping else []


def run_batch(call: Call, params: Params) -> Outcome:
    """Run the commands in order; errors go to ``result_error`` (``halt=1`` stops at the first)."""
    halt = _halts(params)
    results: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    totals: dict[str, Any] = {}
    nexts: dict[str, Any] = {}
    times: dict[str, Any] = {}
    for position, (key, command) in enumerate(_commands(params)):
        if position >= MAX_COMMANDS:
            errors[key] = _error_body(
                "ERROR_BATCH_LENGTH_EXCEEDED", f"Max batch length exceeded {MAX_COMMANDS}"
            )
            continue
        started = time.time()
        try:
            outcome = _run_one(call, command, results)
        except B24Error as error:
            errors[key] = error.body()
            if halt:
                break
            continue
        results[key] = outcome.result
        times[key] = time_block(started, time.time())
        if outcome.total is not None:
            totals[key] = outcome.total
        if outcome.next is not None:
            nexts[key] = outcome.next
    return Outcome(
        {
            "result": _empty_as_list(results),
            "result_error": _empty_as_list(errors),
            "result_total": _empty_as_list(totals),
            "result_next": _empty_as_list(nexts),
            "result_time": _empty_as_list(times),
        }
    )


def _run_one(call: Call, command: str, results: dict[str, Any]) -> Outcome:
    method, _, query = command.partition("?")
    method = method.strip().lower().removesuffix(".json")
    if method == "batch":
        raise B24Error(
            400, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage"
        )
    params = normalise(_substitute(parse_query_string(query), results))
    return call(method, params)


def _error_body(code: str, description: str) -> dict[str, str]:
    return {"error": code, "error_description": description}
