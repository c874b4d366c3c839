"""The cart from the customer's Excel order form."""

from __future__ import annotations

from typing import Any

from bus.rpc import Call, MethodSpec
from bus.services import Services
from schemas.cart import CartImportExcel


def methods(services: Services) -> list[MethodSpec]:
    """The cart methods, bound to ``services``."""

    async def import_excel(call: Call, params: CartImportExcel) -> dict[str, Any]:
        profile = await services.router.profile(params.customer)
        return await services.cart.import_excel(params.customer, params.workbook, profile)

    return [MethodSpec.serving("cart.import_excel", import_excel)]
