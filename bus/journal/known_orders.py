"""The orders the bus knows: journaled by the storefront's ``order.submit`` or made by the ERP's
accepted ``order.merge``.

Both journal the order under the ordering key ``order:<order_id>`` (a split cart's orders under
their own ``order:<order_id>/<contract>``, which is their order id), and so does every later
message about the order. The order's own message is the one of those two methods; the lookup goes
by the key's index, never by a scan of payloads.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bus.journal.tables import messages

#: The methods that bring an order into being, as far as the bus is concerned.
ORDER_MAKERS = ("order.submit", "order.merge")


@dataclass(frozen=True)
class KnownOrder:
    """The message that made an order known to the bus.

    Parameters:
        message_id: the first message of the order's key made by ``method``.
        method: ``order.submit`` (the storefront's) or ``order.merge`` (the ERP's new order).
        status: that message's status now.
    """

    order_id: str
    message_id: str
    method: str
    status: str


def order_ordering_key(order_id: str) -> str:
    """The ordering key every message about ``order_id`` is journaled under."""
    return f"order:{order_id}"


async def known_order(conn: AsyncConnection, order_id: str) -> KnownOrder | None:
    """The message that made ``order_id`` known to the bus, or ``None`` when none did."""
    row = (
        await conn.execute(
            select(messages.c.id, messages.c.method, messages.c.status)
            .where(
                messages.c.ordering_key == order_ordering_key(order_id),
                messages.c.method.in_(ORDER_MAKERS),
            )
            .order_by(messages.c.ordering_seq)
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    return KnownOrder(order_id, row.id, row.method, row.status)
