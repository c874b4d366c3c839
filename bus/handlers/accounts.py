"""Customer accounts, provisioned by the CRM."""

from __future__ import annotations

from typing import Any

from bus.handlers.commands import accept_command
from bus.rpc import Call, MethodSpec
from bus.services import Services
from schemas.accounts import AccountCreate, AccountDeactivate


def methods(services: Services) -> list[MethodSpec]:
    """The account methods, bound to ``services``."""

    async def create(call: Call, params: AccountCreate) -> dict[str, Any]:
        return await accept_command(services, call, params)

    async def deactivate(call: Call, params: AccountDeactivate) -> dict[str, Any]:
        return await accept_command(services, call, params)

    return [
        MethodSpec.serving("account.create", create),
        MethodSpec.serving("account.deactivate", deactivate),
    ]
