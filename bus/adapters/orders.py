"""The bus's own view of an order, shared by the adapters that write or read orders.

Every CRM shows an order in its own terms (a Bitrix24 deal's stage, a Creatio order's status); the
adapters translate into this one form, so the bus can tell whether what a system shows is what it
last wrote there (an echo) whichever system it is.

Every step of an ``order.submit`` reads the order it is handed as a
:class:`schemas.steps.RoutedOrder` (:func:`routed_order`): a payload that is not one (a line
without its unit or quantity) is refused for good, naming the field, rather than read in part.

A CRM order is written from the ERP's receipt (:class:`schemas.steps.OrderReceipt`), which the
route's ERP step hands over: the units the ERP took each line in and the prices it applied, so
the CRM shows the same goods at the same prices as the ERP (:func:`crm_lines`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from bus.adapters.base import Delivery, EntityState
from bus.errors import PermanentError
from schemas.steps import OrderReceipt, RoutedOrder

log = logging.getLogger(__name__)

#: How a CRM order's comment names the bus message that created it (``Bus message <id>``).
MESSAGE_MARKER = "Bus message "


def order_entity(order_id: str) -> str:
    """The entity name of a storefront order in the echo journal."""
    return f"order:{order_id}"


def order_lines(lines: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Order lines in canonical form: ``{item, quantity, unit, price}``, numbers as floats.

    ``unit`` is the unit quantity and price are in (``None``: the system did not say).
    """
    canonical = [
        {
            "item": str(line["item"]),
            "quantity": round(float(line["quantity"]), 4),
            "unit": str(line["unit"]) if line.get("unit") else None,
            "price": round(float(line.get("price") or 0), 4),
        }
        for line in lines
    ]
    return sorted(
        canonical,
        key=lambda line: (line["item"], line["quantity"], line["unit"] or "", line["price"]),
    )


def order_state(order_id: str, status: str, lines: Iterable[dict[str, Any]]) -> EntityState:
    """The fingerprint of an order's status and lines.

    Units are compared without case: a CRM may keep the ERP's ``BOX`` as its own ``Box``.
    """
    canonical = [{**line, "unit": (line["unit"] or "").casefold()} for line in order_lines(lines)]
    return EntityState.of(order_entity(order_id), {"status": status, "lines": canonical})


@dataclass(frozen=True)
class CrmLine:
    """One row of a CRM order: an item, its quantity and price in ``unit``, the line amount.

    ``unit`` is ``None`` only for an order without the ERP's receipt (see :func:`crm_lines`).
    """

    item: str
    quantity: float
    unit: str | None
    price: float
    amount: float

    def as_line(self) -> dict[str, Any]:
        """The row as an order line (what the CRM will show when it is read back)."""
        return {
            "item": self.item,
            "quantity": self.quantity,
            "unit": self.unit,
            "price": self.price,
        }


def invalid_fields(invalid: ValidationError) -> str:
    """Each wrong field of a model, by its path, and what is wrong: ``lines.0.unit: Field
    required``."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'the value'}: {error['msg']}"
        for error in invalid.errors(include_url=False)
    )


def routed_order(delivery: Delivery) -> RoutedOrder:
    """The order of an ``order.submit`` step, as order routing journaled it.

    Raises:
        PermanentError: the payload is not a routed order, each wrong field named (it cannot
            be delivered as it is; repeating the step cannot help).
    """
    try:
        return RoutedOrder.model_validate(delivery.payload)
    except ValidationError as invalid:
        raise PermanentError(
            f"the order of message {delivery.message_id} is not one the bus can deliver:"
            f" {invalid_fields(invalid)}"
        ) from None


def erp_receipt(delivery: Delivery) -> OrderReceipt | None:
    """The ERP's receipt for the order, which an earlier step of the route produced.

    Raises:
        PermanentError: a receipt is there but is no receipt, each wrong field named (the
            step before is broken; repeating this one cannot help).
    """
    try:
        return OrderReceipt.from_fact(delivery.fact(OrderReceipt.KEY))
    except ValidationError as invalid:
        raise PermanentError(
            f"the ERP's receipt for the order is unreadable: {invalid_fields(invalid)}"
        ) from None


def erp_number(delivery: Delivery) -> str | None:
    """The ERP's order number: the receipt's (``None`` for a quote), or the number a result
    stored before receipts were typed carries."""
    receipt = erp_receipt(delivery)
    if receipt is not None:
        return receipt.number
    stored = delivery.fact("erp_order_no")
    return str(stored) if stored else None


def crm_lines(delivery: Delivery, *, warn: bool = True) -> list[CrmLine]:
    """The rows a CRM order of ``delivery`` gets, in the order's own order.

    From the ERP's receipt: the ERP's unit, unit price and line amount of every line. An order
    without one (a step result stored before receipts were typed, or a route that prices
    nowhere) gets the lines as ordered, without prices, and a warning in the log: the ERP's
    prices are not known to the bus then, and a guess would be worse than nothing.
    """
    receipt = erp_receipt(delivery)
    if receipt is not None:
        return [
            CrmLine(line.item, line.quantity, line.unit, line.price, line.amount)
            for line in receipt.lines
        ]
    if warn:
        log.warning(
            "%s: no ERP receipt before the CRM order; its rows go without prices",
            delivery.message_id,
        )
    return [
        CrmLine(line.item, line.quantity, line.unit or None, 0.0, 0.0)
        for line in routed_order(delivery).lines
    ]


def crm_state(delivery: Delivery) -> EntityState:
    """The state a new CRM order shows: its rows at the first stage (the bus's own state)."""
    lines = [line.as_line() for line in crm_lines(delivery, warn=False)]
    return order_state(routed_order(delivery).order_id, "new", lines)


_MESSAGE_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def placed_online(external_reference: Any) -> bool:
    """Whether an ERP order's external reference is a bus message id (the storefront placed it).

    The same field also carries customers' own order numbers on orders entered by hand.
    """
    return isinstance(external_reference, str) and bool(_MESSAGE_ID.match(external_reference))


def how_delivered(order: RoutedOrder) -> str:
    """One sentence on how an order's goods reach the customer (pick-up under a contract, or
    delivery to an address), for the people who handle it in the CRM and by mail."""
    delivery = order.delivery
    when = f" on {delivery.date.isoformat()}" if delivery.date else ""
    if delivery.pickup:
        under = f" under contract {order.contract.number}" if order.contract else ""
        return f"Pick-up{when}{under}."
    where = f" to {delivery.address}" if delivery.address else ""
    return f"Delivery{when}{where}."


def order_comment(order: RoutedOrder, message_id: str) -> str:
    """The comment a CRM order carries: the customer's own, how the goods go, and the bus
    message that created it (``MESSAGE_MARKER``), one per line."""
    parts = [order.comment, how_delivered(order), MESSAGE_MARKER + message_id]
    return "\n".join(part for part in parts if part)
