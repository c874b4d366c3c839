"""Changes the CRM reports by calling the bus: Creatio's order-changed business process.

(Bitrix24 posts its events to ``/hooks/bitrix24`` instead: see :mod:`bus.handlers.hooks`.)
Served only where Creatio is the CRM, so other deployments do not offer a method that could not
be delivered.
"""

from __future__ import annotations

from bus.handlers.commands import command_method
from bus.rpc import MethodSpec
from bus.services import Services


def methods(services: Services) -> list[MethodSpec]:
    """``creatio.order_changed`` when this deployment's CRM is Creatio."""
    if services.settings.crm != "creatio":
        return []
    return [command_method(services, "creatio.order_changed")]
