"""Journaling a routed command: shared by every handler that accepts one."""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import BaseModel

from bus.errors import IdempotencyConflict
from bus.journal.accept import Command
from bus.routing import ROUTES
from bus.rpc import Call, MethodSpec
from bus.services import Services


async def accept_command(
    services: Services,
    call: Call,
    params: BaseModel,
    adjusted: dict[str, Any] | None = None,
    parent_id: str | None = None,
) -> dict[str, Any]:
    """Route ``params`` of ``call.method``, journal it and answer ``{message_id, status}``.

    Parameters:
        adjusted: the payload to journal when the bus changed what was sent (a repeated call is
            still recognised by what was sent).
        parent_id: the message this one answers (a decision about a request).

    Raises:
        IdempotencyConflict: the idempotency key was used before with another payload.
    """
    sent = params.model_dump(mode="json", exclude={"idempotency_key"})
    command = routed_command(
        services,
        call.method,
        source=call.client,
        payload=sent if adjusted is None else adjusted,
        idempotency_key=getattr(params, "idempotency_key", None),
        correlation_id=call.correlation_id,
    )
    if adjusted is not None:
        command = dataclasses.replace(command, sent=sent)
    if parent_id is not None:
        command = dataclasses.replace(command, parent_id=parent_id)
    return await journal_command(services, command)


async def journal_command(services: Services, command: Command) -> dict[str, Any]:
    """Journal ``command`` and answer ``{message_id, status}``.

    Raises:
        IdempotencyConflict: the idempotency key was used before with another payload.
    """
    outcome = await services.committer.accept(command)
    if isinstance(outcome, IdempotencyConflict):
        raise outcome
    return {"message_id": outcome.message_id, "status": outcome.status.value}


def routed_command(
    services: Services,
    method: str,
    *,
    source: str,
    payload: dict[str, Any],
    idempotency_key: str | None,
    correlation_id: str | None = None,
) -> Command:
    """The journal command for ``method``: its route's steps, resolved to this deployment."""
    route = ROUTES[method]
    settings = services.settings
    first, *rest = ((settings.system(step.role), step.operation) for step in route.steps)
    return Command(
        method=method,
        source=source,
        target=first[0],
        operation=first[1],
        payload=payload,
        idempotency_key=idempotency_key,
        ordering_key=route.key_for(payload),
        correlation_id=correlation_id,
        then=tuple(rest),
    )


def command_method(services: Services, name: str) -> MethodSpec:
    """The method ``name`` served by journaling its params along its route."""

    async def accept(call: Call, params: BaseModel) -> dict[str, Any]:
        return await accept_command(services, call, params)

    return MethodSpec.serving(name, accept)
