"""Orders: from the storefront (a cart to deliver) and from the ERP (how an order is getting on)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bus.handlers.commands import command_method, journal_command
from bus.journal.accept import Command
from bus.order_routing import OrderPlan
from bus.order_rules import apply_rules
from bus.rpc import Call, MethodSpec
from bus.services import Services
from schemas import OrderSubmit


def methods(services: Services) -> list[MethodSpec]:
    """The order methods, bound to ``services``."""

    async def submit(call: Call, params: OrderSubmit) -> dict[str, Any]:
        sent = params.model_dump(mode="json", exclude={"idempotency_key"})
        now = dt.datetime.now(dt.UTC)
        checked = await apply_rules(sent, services.settings.order_rules, services.prices, now)
        plan = await services.router.plan(checked.order)
        command = _command(call, plan, sent, params.idempotency_key)
        answer = await journal_command(services, command)
        answer.update(plan.summary())
        if checked.adjusted:
            answer["adjusted"] = checked.adjusted
        if checked.unchecked:
            answer["unchecked"] = checked.unchecked
        return answer

    return [
        MethodSpec.serving("order.submit", submit),
        command_method(services, "order.status_changed"),
    ]


def _command(
    call: Call, plan: OrderPlan, sent: dict[str, Any], idempotency_key: str | None
) -> Command:
    """The journal command of a planned order: a chain of steps, or a split into branches.

    A split's own message records the split at accept; its branches are its children.
    """
    then: tuple[tuple[str, str], ...] = ()
    if plan.branches:
        target, operation = "bus", "order.split"
    else:
        (target, operation), *rest = plan.steps
        then = tuple(rest)
    return Command(
        method="order.submit",
        source=call.client,
        target=target,
        operation=operation,
        payload=plan.payload,
        idempotency_key=idempotency_key,
        # Per order, as order.status_changed is keyed (bus.routing): the ERP's changes of an order
        # reach the storefront after the order's own steps, and no other order waits for it. A
        # split's orders are keyed order:<order_id>/<contract> by the journal, which is each
        # one's own order_id, so their changes follow them the same way.
        ordering_key=f"order:{plan.payload['order_id']}",
        correlation_id=call.correlation_id,
        then=then,
        branches=plan.branches,
        done=plan.summary() if plan.branches else None,
        sent=sent,
    )
