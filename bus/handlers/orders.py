"""Orders: from the storefront (a cart to deliver) and from the ERP (how an order is getting on)."""

from __future__ import annotations

from bus.handlers.commands import command_method
from bus.rpc import MethodSpec
from bus.services import Services


def methods(services: Services) -> list[MethodSpec]:
    """The order methods, bound to ``services``."""
    return [
        command_method(services, "order.submit"),
        command_method(services, "order.status_changed"),
    ]
