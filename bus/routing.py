"""Declarative routes: which command goes to which systems, as which operations, in which order.

A route is a chain of steps. Each step names a *role* (``erp``, ``crm``, ``storefront``, ``mail``);
the deployment's settings say which system plays it (``erp = "navision"``), so the same routes serve
every ERP/CRM pair. Every step is journaled at accept, in one transaction, as its own message: the
first is the message the caller gets back, the later ones are its children. They share an ordering
key, so a step starts only after the step before it was delivered, and it sees that step's result
(the ERP's order number, the deal that was read).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Step:
    """One delivery of a route: the role of the system that receives it, and the operation."""

    role: str
    operation: str


@dataclass(frozen=True)
class Route:
    """Where one command method goes.

    Parameters:
        steps: delivered one after the other; each later step sees the result of the one before.
        ordering_key: a ``str.format`` template over the params; messages that render the same key
            are delivered one at a time, in acceptance order. ``None``: no ordering beyond the
            route's own steps.
        reply: see the attribute.
    """

    steps: tuple[Step, ...]
    ordering_key: str | None = None
    #: the method by which the target answers later, correlated by this message's id: until
    #: that reply arrives the request is not done (and past its deadline it is stuck)
    reply: str | None = None

    def key_for(self, params: dict[str, Any]) -> str | None:
        """Render this route's ordering key for ``params``."""
        return None if self.ordering_key is None else self.ordering_key.format(**params)


#: A request of a customer that the ERP registers now and decides on later.
_CUSTOMER_REQUEST = Route(
    steps=(Step("erp", "account.request"),),
    ordering_key="customer:{customer}",
    reply="request.decided",
)

#: The command routes of the bus.
ROUTES: dict[str, Route] = {
    # order.submit is routed by customer segment: see bus.order_routing and
    # settings.order_routes.
    # The ERP reports an order's progress: the storefront shows it, after everything earlier
    # about the same order.
    "order.status_changed": Route(
        steps=(Step("storefront", "order.update"),), ordering_key="order:{order_id}"
    ),
    # Provisioning: the ERP's data about the customer, the storefront user, the customer's order
    # history (6 months), the mail with the set-password link, the outcome back to the CRM.
    # Every message of a customer waits for the one before.
    "account.create": Route(
        steps=(
            Step("erp", "customer.read"),
            # What order routing needs of the customer, kept in the bus's directory.
            Step("directory", "customer.remember"),
            Step("storefront", "user.create"),
            Step("erp", "orders.history"),
            Step("storefront", "order.history.import"),
            Step("mail", "mail.set_password_link"),
            # The CRM hears the outcome: a note on the Creatio account, a comment on the
            # Bitrix24 company's timeline.
            Step("crm", "account.report"),
        ),
        ordering_key="customer:{erp_key}",
    ),
    "account.deactivate": Route(
        steps=(Step("storefront", "user.deactivate"),), ordering_key="customer:{erp_key}"
    ),
    # Documents: the ERP issues them, the storefront receives the PDF. Keyed by customer, so a
    # document never reaches a storefront account before it exists.
    "invoice.request": Route(
        steps=(Step("erp", "invoice.create"), Step("storefront", "document.deliver")),
        ordering_key="customer:{customer}",
    ),
    "reconciliation.request": Route(
        steps=(Step("erp", "reconciliation.create"), Step("storefront", "document.deliver")),
        ordering_key="customer:{customer}",
    ),
    # A customer's requests: the ERP registers them, decides later and says so with
    # request.decided, which reaches the storefront after the request.
    "address.request": _CUSTOMER_REQUEST,
    "employee.request": _CUSTOMER_REQUEST,
    "request.decided": Route(
        steps=(Step("storefront", "request.update"),), ordering_key="customer:{customer}"
    ),
    # The ERP's verdict on merging orders: the storefront removes them and shows the new one,
    # or leaves them as they were.
    "order.merge": Route(
        steps=(Step("storefront", "order.merge"),), ordering_key="customer:{customer}"
    ),
    # Creatio's business process reports a saved order: read it, then bring the storefront's
    # order up to date (skipped when it shows what the bus itself last wrote or forwarded).
    "creatio.order_changed": Route(
        steps=(Step("crm", "order.read"), Step("storefront", "order.update")),
        ordering_key="creatio-order:{order_id}",
    ),
    # An outbound Bitrix24 event about a deal: read the deal, then bring the storefront's order
    # up to date (skipped when the deal shows what the bus itself last wrote or forwarded).
    "bitrix24.deal_changed": Route(
        steps=(Step("crm", "deal.read"), Step("storefront", "order.update")),
        ordering_key="bitrix24-deal:{deal_id}",
    ),
}
