"""Documents the customer asks for: invoices and reconciliation acts.

Only ERPs that issue documents over an interface serve them: 1C through its HTTP service. NAV
publishes no such service here, so a NAV deployment does not offer these methods at all (they are
missing from ``rpc.discover``) rather than accept requests it cannot fulfil.
"""

from __future__ import annotations

from bus.handlers.commands import command_method
from bus.rpc import MethodSpec
from bus.services import Services

#: The ERPs whose adapters issue documents.
DOCUMENT_ERPS = frozenset({"onec"})


def methods(services: Services) -> list[MethodSpec]:
    """The document methods, when this deployment's ERP issues documents."""
    if services.settings.erp not in DOCUMENT_ERPS:
        return []
    return [
        command_method(services, "invoice.request"),
        command_method(services, "reconciliation.request"),
    ]
