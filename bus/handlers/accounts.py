"""Customer accounts, provisioned by the CRM."""

from __future__ import annotations

from bus.handlers.commands import command_method
from bus.rpc import MethodSpec
from bus.services import Services


def methods(services: Services) -> list[MethodSpec]:
    """The account methods, bound to ``services``."""
    return [
        command_method(services, "account.create"),
        command_method(services, "account.deactivate"),
    ]
