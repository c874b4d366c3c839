"""Orders: from the storefront (a cart to deliver) and from the ERP (how an order is getting on)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bus.handlers.commands import accept_command, command_method
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
        answer = await accept_command(services, call, params, adjusted=checked.order)
        if checked.adjusted:
            answer["adjusted"] = checked.adjusted
        if checked.unchecked:
            answer["unchecked"] = checked.unchecked
        return answer

    return [
        MethodSpec.serving("order.submit", submit),
        command_method(services, "order.status_changed"),
    ]
