"""Journaling a routed command: shared by every handler that accepts one."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from bus.errors import IdempotencyConflict
from bus.journal.accept import Command
from bus.routing import ROUTES, system_for
from bus.rpc import Call
from bus.services import Services


async def accept_command(services: Services, call: Call, params: BaseModel) -> dict[str, Any]:
    """Route ``params`` of ``call.method``, journal it and answer ``{message_id, status}``.

    Raises:
        IdempotencyConflict: the idempotency key was used before with another payload.
    """
    route = ROUTES[call.method]
    payload = params.model_dump(mode="json", exclude={"idempotency_key"})
    command = Command(
        method=call.method,
        source=call.client,
        target=system_for(route.role, services.settings),
        operation=route.operation,
        payload=payload,
        idempotency_key=getattr(params, "idempotency_key", None),
        ordering_key=route.key_for(payload),
        correlation_id=call.correlation_id,
    )
    outcome = await services.committer.accept(command)
    if isinstance(outcome, IdempotencyConflict):
        raise outcome
    return {"message_id": outcome.message_id, "status": outcome.status.value}
