"""Personal prices in real time."""

from __future__ import annotations

from typing import Any

from bus.rpc import Call, MethodSpec
from bus.services import Services
from schemas.prices import PricesGet


def methods(services: Services) -> list[MethodSpec]:
    """The price methods, bound to ``services``."""

    async def get(call: Call, params: PricesGet) -> dict[str, Any]:
        lines = [(line.item, line.quantity) for line in params.items]
        return await services.prices.get(params.customer, lines)

    return [MethodSpec.serving("prices.get", get)]
