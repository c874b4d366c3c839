"""The bus's own view of an order, shared by the adapters that write or read orders.

Every CRM shows an order in its own terms (a Bitrix24 deal's stage, a Creatio order's status); the
adapters translate into this one form, so the bus can tell whether what a system shows is what it
last wrote there (an echo) whichever system it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from bus.adapters.base import EntityState

#: How a CRM order's comment names the bus message that created it (``Bus message <id>``).
MESSAGE_MARKER = "Bus message "


def order_entity(order_id: str) -> str:
    """The entity name of a storefront order in the echo journal."""
    return f"order:{order_id}"


def order_lines(lines: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Order lines in canonical form: ``{item, quantity, price}`` with numbers as floats."""
    canonical = [
        {
            "item": str(line["item"]),
            "quantity": round(float(line["quantity"]), 4),
            "price": round(float(line.get("price") or 0), 4),
        }
        for line in lines
    ]
    return sorted(canonical, key=lambda line: (line["item"], line["quantity"], line["price"]))


def order_state(order_id: str, status: str, lines: Iterable[dict[str, Any]]) -> EntityState:
    """The fingerprint of an order's status and lines."""
    return EntityState.of(order_entity(order_id), {"status": status, "lines": order_lines(lines)})


_MESSAGE_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def placed_online(external_reference: Any) -> bool:
    """Whether an ERP order's external reference is a bus message id (the storefront placed it).

    The same field also carries customers' own order numbers on orders entered by hand.
    """
    return isinstance(external_reference, str) and bool(_MESSAGE_ID.match(external_reference))


def how_delivered(order: dict[str, Any]) -> str:
    """One sentence on how an order's goods reach the customer (pick-up under a contract, or
    delivery to an address), for the people who handle it in the CRM and by mail."""
    delivery = order.get("delivery") or {}
    when = f" on {delivery['date']}" if delivery.get("date") else ""
    if delivery.get("pickup"):
        contract = (order.get("contract") or {}).get("number")
        under = f" under contract {contract}" if contract else ""
        return f"Pick-up{when}{under}."
    where = f" to {delivery['address']}" if delivery.get("address") else ""
    return f"Delivery{when}{where}."


def order_comment(order: dict[str, Any], message_id: str) -> str:
    """The comment a CRM order carries: the customer's own, how the goods go, and the bus
    message that created it (``MESSAGE_MARKER``), one per line."""
    parts = [order.get("comment"), how_delivered(order), MESSAGE_MARKER + message_id]
    return "\n".join(part for part in parts if part)
