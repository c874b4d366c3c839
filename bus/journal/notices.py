"""Telling the storefront that one of its messages waits for an operator.

A message that fails for good (a permanent refusal, retries exhausted, or an unknown outcome with
no attempt left) would otherwise be silent: the storefront shows the order as sent, and only an
operator listing failures would notice. The worker journals a ``message.status`` notice for the
storefront in the transaction that finishes the failed message, so the notice is delivered like
any message (retried, never lost) and exists exactly when the failure does.
"""

from __future__ import annotations

from bus.journal.accept import Command
from bus.journal.delivery import Claim, Finish

#: The method (and the storefront operation) of a notice.
NOTICE_METHOD = "message.status"


def failure_notice(claimed: Claim, outcome: Finish) -> Command:
    """The notice of ``claimed`` ending in ``outcome`` (which waits for an operator).

    It names the message the storefront was given (the route's first step) and the step that
    failed, so the storefront can show which system refused what. Keyed by the failed attempt: a
    replayed message that fails again is told again.
    """
    payload = {
        "about": claimed.parent_id or claimed.message_id,
        "step": claimed.message_id,
        "method": claimed.method,
        "target": claimed.target,
        "operation": claimed.operation,
        "status": outcome.status.value,
        "reason": outcome.error or "",
    }
    order_id = claimed.payload.get("order_id")
    if isinstance(order_id, str):
        payload["order_id"] = order_id
    return Command(
        method=NOTICE_METHOD,
        source="bus",
        target="storefront",
        operation=NOTICE_METHOD,
        payload=payload,
        idempotency_key=f"notice:{claimed.message_id}:{claimed.attempt}",
        parent_id=claimed.message_id,
    )
