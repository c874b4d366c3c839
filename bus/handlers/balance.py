"""A customer's money position, in real time."""

from __future__ import annotations

from typing import Any

from bus.rpc import Call, MethodSpec
from bus.services import Services
from schemas.balance import BalanceGet


def methods(services: Services) -> list[MethodSpec]:
    """The balance method, bound to ``services``."""

    async def get(call: Call, params: BalanceGet) -> dict[str, Any]:
        return await services.balance.get(params.customer)

    return [MethodSpec.serving("balance.get", get)]
