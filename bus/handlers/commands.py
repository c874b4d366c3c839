"""Journaling a routed command: shared by every handler that accepts one."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from pydantic import BaseModel

from bus.db import reading
from bus.errors import IdempotencyConflict, InvalidParams
from bus.journal.accept import Branch, Command
from bus.journal.known_orders import known_order
from bus.routing import ROUTES, Step
from bus.rpc import Call, MethodSpec
from bus.services import Services

log = logging.getLogger(__name__)


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
        InvalidParams: the call is about an order the bus does not know (the route's
            ``known_order``).
    """
    sent = params.model_dump(mode="json", exclude={"idempotency_key"})
    await _require_known_order(services, call, sent)
    journaled = ROUTES[call.method].journaled
    if adjusted is None and journaled is not None:
        adjusted = journaled(sent)
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


async def _require_known_order(services: Services, call: Call, sent: dict[str, Any]) -> None:
    """Refuse a call about an order the bus never journaled, naming the param.

    Forwarded, it would make the storefront create the order it does not have (a phantom). A
    refusal rather than a journaled orphan: the caller hears it at once and may send it again
    once the order is known (its merge accepted), and no failed message holds the order's key
    in front of the merge that would make it.
    """
    field = ROUTES[call.method].known_order
    if field is None:
        return
    order_id = str(sent[field])
    async with reading(services.engine) as conn:
        found = await known_order(conn, order_id)
    if found is not None:
        return
    reason = (
        f"the bus knows no order {order_id}: it was neither submitted by the storefront nor made"
        " by an accepted order.merge; send the merge that made it first, then this again"
    )
    log.warning("%s from %s refused: %s", call.method, call.client, reason)
    raise InvalidParams(
        {
            "fields": [{"field": field, "type": "unknown_order", "message": reason}],
            "order_id": order_id,
        }
    )


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
    """The journal command for ``method``: its route's steps, resolved to this deployment (its
    systems, and the steps of the flows its ``[ownership]`` carries)."""
    route = ROUTES[method]
    first, *rest = _resolved(services, route.steps, payload)
    branches: tuple[Branch, ...] = ()
    if route.fan_out is not None:
        chains = (
            (name, branch, _resolved(services, route.fan_out.steps, branch))
            for name, branch in route.fan_out.branches(payload)
        )
        branches = tuple(Branch(name, branch, steps) for name, branch, steps in chains if steps)
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
        branches=branches,
        awaits=route.reply,
    )


def _resolved(
    services: Services, steps: tuple[Step, ...], payload: dict[str, Any]
) -> tuple[tuple[str, str], ...]:
    """``(system, operation)`` of the steps this deployment takes for ``payload``: its systems,
    the flows its ``[ownership]`` carries, the steps that apply to the payload."""
    settings = services.settings
    return tuple(
        (settings.system(step.role), step.operation)
        for step in steps
        if settings.ownership.enabled(step.when) and step.applies(payload)
    )


def command_method(services: Services, name: str) -> MethodSpec:
    """The method ``name`` served by journaling its params along its route."""

    async def accept(call: Call, params: BaseModel) -> dict[str, Any]:
        return await accept_command(services, call, params)

    return MethodSpec.serving(name, accept)
