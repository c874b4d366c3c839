"""Declarative routes: which JSON-RPC command goes to which system, as which operation.

A route names a *role* (``erp``, ``crm``, …); the deployment's settings say which system plays it
(``erp = "navision"``), so the same routes serve every ERP/CRM pair. The ordering key is a template
over the params: messages that render the same key are delivered one at a time, in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bus.settings import Settings


@dataclass(frozen=True)
class Route:
    """Where one command method goes.

    Parameters:
        role: the kind of system that receives it (``erp``).
        operation: the adapter operation that performs it.
        ordering_key: a ``str.format`` template over the params, or ``None`` for no ordering.
    """

    role: str
    operation: str
    ordering_key: str | None = None

    def key_for(self, params: dict[str, Any]) -> str | None:
        """Render this route's ordering key for ``params``."""
        return None if self.ordering_key is None else self.ordering_key.format(**params)


#: The command routes of the bus.
ROUTES: dict[str, Route] = {
    "order.submit": Route(
        role="erp", operation="sales_order.create", ordering_key="order:{order_id}"
    ),
}


def system_for(role: str, settings: Settings) -> str:
    """The system that plays ``role`` in this deployment."""
    systems = {"erp": settings.erp}
    return systems[role]
