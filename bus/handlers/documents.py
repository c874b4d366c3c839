"""Documents the customer asks for: invoices and reconciliation acts.

The ERP issues each (1C through its HTTP service, NAV through the SOAP codeunit
``navision.documents_codeunit``); the storefront receives the PDF after it.
"""

from __future__ import annotations

from bus.handlers.commands import command_method
from bus.rpc import MethodSpec
from bus.services import Services


def methods(services: Services) -> list[MethodSpec]:
    """The document methods."""
    return [
        command_method(services, "invoice.request"),
        command_method(services, "reconciliation.request"),
    ]
