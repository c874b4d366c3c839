"""Orders: from the storefront (a cart to deliver) and from the ERP (how an order is getting on).

**An order's identity is its storefront order id** (DESIGN.md §4, "a storefront order id is the
natural key of an order"). ``order.submit`` journals every order under a key derived from its
``order_id`` (:func:`order_key`), whatever idempotency key the caller sent, so the journal, which
compares what was sent with what it holds under the key, decides:

- the same order with the same content is the same message, however it is sent again (no key,
  the old key, a new one, several at once): one ERP order, one CRM order, one mail, and the answer
  the first call got;
- the same order id with other content is refused (``-32010``, naming ``order_id`` and the message
  the order is): a submitted order is changed where it lives (the ERP, the CRM; their changes flow
  back), never by a second submit that would become a second order.

The caller's ``idempotency_key`` is still accepted, so callers written for keys keep working, but
the order id decides. Keys are per caller, so another storefront's order of the same id is its own.

Before it is journaled, the order is checked (:mod:`bus.order_checks`: the customer and each
line against the directory and the ERP's item table) and the order rules are applied
(:mod:`bus.order_rules`). An order already journaled with the same content is answered as it was
even when the checks would refuse it now (its item blocked since): it was accepted, and its
steps carry it on.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bus.db import reading
from bus.errors import IdempotencyConflict, InvalidParams
from bus.handlers.commands import command_method
from bus.journal.accept import Command, sent_digest
from bus.journal.queries import get_message, repeat_of
from bus.order_routing import OrderPlan
from bus.order_rules import Checked, apply_rules
from bus.rpc import Call, MethodSpec
from bus.services import Services
from schemas import OrderSubmit
from schemas.steps import CustomerProfile

#: The operation of a split cart's own message: the bus splits it at accept, and records the
#: route and the orders it became as the message's result.
_SPLIT = "order.split"


def order_key(order_id: str) -> str:
    """The idempotency key an order is journaled under: its storefront order id.

    The journal keys a message's later steps ``<key>#<n>`` (a split's orders
    ``<key>#<contract>#<n>``), so a ``#`` in the order id is escaped (and ``%``, the escape):
    order ``A#2`` must not meet the key of order ``A``'s second step.
    """
    return "order:" + order_id.replace("%", "%25").replace("#", "%23")


def methods(services: Services) -> list[MethodSpec]:
    """The order methods, bound to ``services``."""
    rules = services.settings.order_rules

    async def submit(call: Call, params: OrderSubmit) -> dict[str, Any]:
        # What was sent, without the key: the journal recognises a repeat by it, whatever key.
        sent = params.model_dump(mode="json", exclude={"idempotency_key"})
        profile = await services.router.profile(params.customer)
        try:
            checked = await check(sent, profile, dt.datetime.now(dt.UTC))
        except InvalidParams:
            earlier = await journaled(call, sent)
            if earlier is None:
                raise
            return await repeated(earlier, sent, profile)
        plan = services.router.plan(checked.order, profile)
        outcome = await services.committer.accept(_command(call, plan, sent))
        if isinstance(outcome, IdempotencyConflict):
            raise _other_content(params.order_id, outcome)
        if not outcome.created:
            return await repeated(outcome.message_id, sent, profile)
        return _answer(outcome.message_id, outcome.status.value, plan.summary(), checked)

    async def check(
        sent: dict[str, Any], profile: CustomerProfile | None, now: dt.datetime
    ) -> Checked:
        """The order checked and ruled at ``now``, as it would be journaled."""
        # The checks set each line's product type, and nothing else in place: not in ``sent``.
        order = {**sent, "lines": [dict(line) for line in sent["lines"]]}
        facts = await services.checks.check(order, profile)
        return await apply_rules(order, rules, services.prices, now, facts=facts, profile=profile)

    async def journaled(call: Call, sent: dict[str, Any]) -> str | None:
        """The message this very order already is, if it was journaled before."""
        digest = sent_digest("order.submit", sent)
        async with reading(services.engine) as conn:
            return await repeat_of(conn, call.client, order_key(sent["order_id"]), digest)

    async def repeated(
        message_id: str, sent: dict[str, Any], profile: CustomerProfile | None
    ) -> dict[str, Any]:
        """The answer to an order sent again: the first call's, with the message's status now.

        The checks and rules are applied as at the first acceptance, so ``adjusted`` names the
        delivery date that was journaled, even when this call comes after the cut-off; when they
        would refuse the order now, the answer says only what is journaled. A split's route and
        orders are its message's recorded result, exactly as answered first; an order delivered
        as one is planned the same way again (the route's name is not journaled).
        """
        async with reading(services.engine) as conn:
            first = await get_message(conn, message_id)
        if first is None:  # the journal answered with it a moment ago: cannot happen
            raise LookupError(f"message {message_id} vanished from the journal")
        try:
            checked = await check(sent, profile, first["accepted_at"])
        except InvalidParams:
            checked = Checked(sent)
        if first["operation"] == _SPLIT and isinstance(first["result"], dict):
            return _answer(first["id"], first["status"], first["result"], checked)
        try:
            summary = services.router.plan(checked.order, profile).summary()
        except InvalidParams:  # the customer's segment changed since: the route is journaled
            summary = {"route": "as journaled"}
        return _answer(first["id"], first["status"], summary, checked)

    return [
        MethodSpec.serving("order.submit", submit),
        command_method(services, "order.status_changed"),
    ]


def _answer(
    message_id: str, status: str, summary: dict[str, Any], checked: Checked
) -> dict[str, Any]:
    """``{message_id, status, route, orders?, adjusted?, unchecked?}``."""
    answer: dict[str, Any] = {"message_id": message_id, "status": status, **summary}
    if checked.adjusted:
        answer["adjusted"] = checked.adjusted
    if checked.unchecked:
        answer["unchecked"] = checked.unchecked
    return answer


def _other_content(order_id: str, conflict: IdempotencyConflict) -> IdempotencyConflict:
    """The journal's conflict, said in the order's terms: which field, which order, which
    message it already is."""
    message_id = (conflict.data or {}).get("message_id")
    return IdempotencyConflict(
        {
            "field": "order_id",
            "order_id": order_id,
            "message_id": message_id,
            "reason": f"order {order_id} was submitted before with other content (message"
            f" {message_id}); a submitted order is changed in the ERP or the CRM, not submitted"
            " again",
        }
    )


def _command(call: Call, plan: OrderPlan, sent: dict[str, Any]) -> Command:
    """The journal command of a planned order: a chain of steps, or a split into branches.

    A split's own message records the split at accept; its branches are its children.
    """
    then: tuple[tuple[str, str], ...] = ()
    if plan.branches:
        target, operation = "bus", _SPLIT
    else:
        (target, operation), *rest = plan.steps
        then = tuple(rest)
    return Command(
        method="order.submit",
        source=call.client,
        target=target,
        operation=operation,
        payload=plan.payload,
        # The order's identity, not the caller's key (see the module docstring).
        idempotency_key=order_key(sent["order_id"]),
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
