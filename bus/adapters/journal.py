"""The bus's own journal as a step of a route: where an order is in the ERP and the CRM.

``order.locate`` comes first in the steps that carry a change of an order from one system to the
other (``[ownership]``): the message names the order by its storefront ``order_id``, and only
the journal knows which ERP order and which CRM deal or order the order's own steps made
(:class:`schemas.order_sync.OrderReferences`, handed to the steps after it). It runs in the
order's ordering key, so the order's steps have finished when it reads them. An order without a
CRM deal or order (its CRM step was cancelled, or its route has none) skips the steps after it,
saying so: there is nothing there to change.

``order.locate_cancelled`` does the same for the ERP's step after a CRM change event: the order
(as the CRM's order was read) is found, and unless the CRM cancelled it and it has an ERP order,
the ERP's step is skipped, saying why; nothing asks the ERP about any other change.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from bus.adapters.base import Delivery, EntityState, Receipt
from bus.errors import PermanentError
from schemas.order_sync import OrderReferences

SYSTEM = "journal"
#: Where the order is, for the CRM steps after it (skipped without a CRM order).
LOCATE = "order.locate"
#: Where the order the CRM cancelled is, for the ERP step after it (skipped for any other
#: change of the order, and without an ERP order).
LOCATE_CANCELLED = "order.locate_cancelled"
#: The operations of the journal.
OPERATIONS = frozenset({LOCATE, LOCATE_CANCELLED})


class OrderBook(Protocol):
    """Where the journal's orders are in the deployment's ERP and CRM."""

    async def references(self, order_id: str) -> OrderReferences | None:
        """The order's references; ``None`` for an order the bus does not know."""
        ...


class JournalAdapter:
    """Reads the journal for the steps after it; never calls another system."""

    #: See :class:`bus.adapters.base.Adapter`.
    operations: ClassVar[frozenset[str]] = OPERATIONS

    def __init__(self, book: OrderBook) -> None:
        self._book = book

    def intended_state(self, delivery: Delivery) -> EntityState | None:
        """A read writes nothing: no echo to recognise."""
        return None

    async def deliver(self, delivery: Delivery) -> Receipt:
        """Find the order's references (see the module docstring)."""
        if delivery.operation not in OPERATIONS:
            raise PermanentError(f"{SYSTEM} has no operation {delivery.operation!r}")
        order_id = _order_id(delivery)
        found = await self._book.references(order_id)
        if found is None:
            # An order the ERP merged that was never the bus's (nor is it the CRM's): nothing
            # of it to change.
            return Receipt(order_id, skip_next=f"the bus knows no order {order_id}")
        if delivery.operation == LOCATE_CANCELLED:
            return _cancelled(delivery, found)
        if found.crm_reference is None:
            return Receipt(
                order_id,
                details=found.as_fact(),
                skip_next=f"order {order_id} has no CRM deal or order to change",
            )
        return Receipt(found.crm_reference, details=found.as_fact())

    async def lookup(self, delivery: Delivery) -> Receipt | None:
        """Reading again is harmless: nothing to look up."""
        return None

    async def aclose(self) -> None:
        """The journal's engine belongs to the worker: nothing to release."""


def _order_id(delivery: Delivery) -> str:
    """The storefront's order id: as the CRM's order was read (a CRM event names only the CRM's
    own id), else as the message names it (the ERP's status change)."""
    read = delivery.fact("order")
    if isinstance(read, dict) and read.get("order_id"):
        return str(read["order_id"])
    return str(delivery.payload["order_id"])


def _cancelled(delivery: Delivery, found: OrderReferences) -> Receipt:
    """The ERP order of an order the CRM cancelled; any other change skips the ERP's step."""
    read = delivery.fact("order")
    status = read.get("status") if isinstance(read, dict) else None
    reference = found.erp_number or found.order_id
    if status != "cancelled":
        return Receipt(
            reference,
            details=found.as_fact(),
            skip_next=f"order {found.order_id} is {status} in the CRM: nothing for the ERP",
        )
    if found.erp_number is None:
        return Receipt(
            reference,
            details=found.as_fact(),
            skip_next=f"order {found.order_id} has no ERP order to cancel",
        )
    return Receipt(reference, details=found.as_fact())
