"""Orders from the storefront."""

from __future__ import annotations

from typing import Any

from bus.handlers.commands import accept_command
from bus.rpc import Call, MethodSpec
from bus.services import Services
from schemas import OrderSubmit
from schemas.orders import OrderStatusChanged


def methods(services: Services) -> list[MethodSpec]:
    """The order methods, bound to ``services``."""

    async def submit(call: Call, params: OrderSubmit) -> dict[str, Any]:
        return await accept_command(services, call, params)

    async def status_changed(call: Call, params: OrderStatusChanged) -> dict[str, Any]:
        return await accept_command(services, call, params)

    return [
        MethodSpec.serving("order.submit", submit),
        MethodSpec.serving("order.status_changed", status_changed),
    ]
