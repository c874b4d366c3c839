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
the ERP's step is skipped, saying why; nothing asks the ERP about any other change. It skips
that step only (``skip_one``): the steps after it carry the CRM's edit of the order's lines.

``order.locate_edited`` does the same for the ERP's ``order.lines`` after it: the order's lines
as the CRM shows them become the ERP order's, unless the CRM cancelled the order or it has no
ERP order (the ERP's step is then skipped, saying why).
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
#: Where the order whose lines the CRM may have edited is, for the ERP step after it (skipped
#: for an order the CRM cancelled, and without an ERP order).
LOCATE_EDITED = "order.locate_edited"
#: The operations of the journal.
OPERATIONS = frozenset({LOCATE, LOCATE_CANCELLED, LOCATE_EDITED})


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
        if delivery.operation == LOCATE_EDITED:
            return _edited(delivery, found)
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
    status = _crm_status(delivery)
    if status != "cancelled":
        why = f"order {found.order_id} is {status} in the CRM: nothing for the ERP"
        return _skipping(found, why)
    if found.erp_number is None:
        return _skipping(found, f"order {found.order_id} has no ERP order to cancel")
    return Receipt(found.erp_number, details=found.as_fact())


def _edited(delivery: Delivery, found: OrderReferences) -> Receipt:
    """The ERP order whose lines become the CRM's; a cancelled order skips the ERP's step."""
    if _crm_status(delivery) == "cancelled":
        why = f"order {found.order_id} is cancelled in the CRM: its lines stay as they are"
        return _skipping(found, why)
    if found.erp_number is None:
        return _skipping(found, f"order {found.order_id} has no ERP order to change")
    return Receipt(found.erp_number, details=found.as_fact())


def _crm_status(delivery: Delivery) -> str | None:
    """The order's status as the CRM's order was read."""
    read = delivery.fact("order")
    status = read.get("status") if isinstance(read, dict) else None
    return None if status is None else str(status)


def _skipping(found: OrderReferences, why: str) -> Receipt:
    """The references, skipping the ERP step after this one only (the route's later steps
    carry another flow of the order)."""
    return Receipt(found.erp_number or found.order_id, details=found.as_fact(), skip_one=why)
