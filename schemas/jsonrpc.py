"""The JSON-RPC 2.0 request envelope: what makes a request object valid, as one check.

Shared by the bus's edge and the storefront simulator (which receives the bus's calls), so both
judge a request the same way and name the same member when it is wrong.
"""

from __future__ import annotations

from typing import Any

#: The members a JSON-RPC 2.0 request object may have.
ENVELOPE_MEMBERS = frozenset({"jsonrpc", "method", "params", "id"})


def envelope_problem(item: Any) -> tuple[str, str] | None:
    """Why ``item`` is not a valid request object, as ``(member, message)``; ``None`` if it is."""
    if not isinstance(item, dict):
        return "request", "a request must be a JSON object"
    checks: list[tuple[bool, str, str]] = [
        (item.get("jsonrpc") != "2.0", "jsonrpc", 'must be exactly "2.0"'),
        (not isinstance(item.get("method"), str), "method", "must be a string"),
        (
            "params" in item and not isinstance(item["params"], dict | list),
            "params",
            "must be an object or an array",
        ),
        ("id" in item and not valid_id(item["id"]), "id", "must be a string, a number or null"),
    ]
    for failed, member, message in checks:
        if failed:
            return member, message
    unknown = sorted(set(item) - ENVELOPE_MEMBERS)
    if unknown:
        return unknown[0], "is not a member of a JSON-RPC 2.0 request"
    return None


def valid_id(value: Any) -> bool:
    """Whether ``value`` may be a request id (a string, a number or null; not a boolean)."""
    return value is None or (isinstance(value, str | int | float) and not isinstance(value, bool))


def echoable_id(item: Any) -> Any:
    """The id to answer an invalid request with: its own if valid, else null."""
    if isinstance(item, dict) and valid_id(item.get("id")):
        return item.get("id")
    return None
