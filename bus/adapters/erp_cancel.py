"""What every ERP adapter's ``order.cancel`` starts from: the order the CRM cancelled.

``order.cancel`` is the last step of a CRM change event's route when ``[ownership]
crm_cancel_to_erp`` is on: the CRM's order was read (``deal.read``, ``order.read``: the
storefront's form of it, ``fact("order")``), the storefront told, and the journal found the
order's ERP order (``journal:order.locate_cancelled``, :class:`schemas.order_sync.OrderReferences`),
which skips this step for any change but a cancellation. Each ERP cancels in its own way (NAV
deletes the sales order, which NAV archives as its setup says; 1C marks the customer order for
deletion, which unposts it); an order already gone or marked is cancelled already, so a repeat
after a lost answer changes nothing.
"""

from __future__ import annotations

from pydantic import ValidationError

from bus.adapters.base import Delivery, Receipt
from bus.errors import PermanentError
from schemas.order_sync import OrderReferences

#: The operation of every ERP adapter.
OPERATION = "order.cancel"


def erp_order(delivery: Delivery, system: str) -> OrderReferences:
    """The ERP order to cancel, as the journal found it (the step before).

    Raises:
        PermanentError: the step before found no ERP order (the route is broken).
    """
    try:
        found = OrderReferences.from_fact(delivery.fact(OrderReferences.KEY))
    except ValidationError as invalid:
        raise PermanentError(f"the order's references are unreadable: {invalid}") from None
    if found is None or found.erp_number is None:
        raise PermanentError(f"{system}: order.cancel without the ERP order found before it")
    return found


def cancelled(found: OrderReferences, how: str) -> Receipt:
    """The receipt of a cancelled ERP order; ``how`` says what became of it."""
    return Receipt(
        found.erp_number or found.order_id,
        details={"erp_cancelled": how, "erp_order_no": found.erp_number},
    )
