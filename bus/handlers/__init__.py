"""JSON-RPC method handlers, one module per business area, each thin: validate, journal, reply."""

from __future__ import annotations

from bus.handlers import (
    accounts,
    balance,
    cart,
    crm_events,
    discovery,
    documents,
    messages,
    orders,
    prices,
    requests,
)
from bus.rpc import MethodSpec
from bus.services import Services


def all_methods(services: Services) -> list[MethodSpec]:
    """Every method the bus serves, bound to ``services``."""
    served = [
        *orders.methods(services),
        *accounts.methods(services),
        *messages.methods(services),
        *prices.methods(services),
        *balance.methods(services),
        *cart.methods(services),
        *documents.methods(services),
        *requests.methods(services),
        *crm_events.methods(services),
    ]
    return [*served, *discovery.methods(services, [spec.name for spec in served])]
