"""Asking the bus about a message it journaled."""

from __future__ import annotations

from typing import Any

from bus.db import reading
from bus.errors import MessageNotFound
from bus.journal.deadlines import Deadlines
from bus.journal.ids import utcnow
from bus.journal.queries import get_message
from bus.rpc import Call, MethodSpec
from bus.sealing import hidden
from bus.services import Services
from schemas import MessageGet

#: Callers that may read every message, not only their own.
_SEES_ALL = frozenset({"ops"})


def methods(services: Services) -> list[MethodSpec]:
    """The message methods, bound to ``services``."""

    deadlines = Deadlines.of(services.settings)

    async def get(call: Call, params: MessageGet) -> dict[str, Any]:
        async with reading(services.engine) as conn:
            message = await get_message(conn, params.message_id, bodies=False)
        if message is None or (call.client not in _SEES_ALL and message["source"] != call.client):
            raise MessageNotFound({"message_id": params.message_id})
        return {**describe(message), **deadlines.view(message, utcnow())}

    return [MethodSpec.serving("message.get", get)]


def describe(message: dict[str, Any]) -> dict[str, Any]:
    """The public view of a journaled message (no payload hash, no internal lease fields)."""
    return {
        "message_id": message["id"],
        "method": message["method"],
        "status": message["status"],
        "target": message["target"],
        "accepted_at": message["accepted_at"].isoformat(),
        "updated_at": message["updated_at"].isoformat(),
        "next_attempt_at": _iso(message["next_attempt_at"]),
        "last_error": message["last_error"],
        "result": hidden(message["result"]),  # a sealed secret is the journal's alone
        "attempts": [
            {
                "number": attempt["number"],
                "started_at": attempt["started_at"].isoformat(),
                "duration_ms": round(attempt["duration_ms"], 1),
                "outcome": attempt["outcome"],
                "http_status": attempt["http_status"],
                "error": attempt["error"],
            }
            for attempt in message["attempts_log"]
        ],
        "parent_id": message["parent_id"],
        # the later steps of the route (the CRM order after the ERP order, …), the orders of a
        # split cart, the ERP's decision about a request
        "children": [
            {
                "message_id": child["id"],
                "method": child["method"],
                "status": child["status"],
                "target": child["target"],
                "operation": child["operation"],
            }
            for child in message.get("children", [])
        ],
        "blocked_by": _blocker(message.get("blocked_by")),
    }


def _blocker(blocker: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if blocker is None else {"message_id": blocker["id"], "status": blocker["status"]}


def _iso(value: Any) -> str | None:
    return None if value is None else str(value.isoformat())
