"""The orders the bus knows: journaled by the storefront's ``order.submit`` or made by the ERP's
accepted ``order.merge``.

Both journal the order under the ordering key ``order:<order_id>`` (a split cart's orders under
their own ``order:<order_id>/<contract>``, which is their order id), and so does every later
message about the order. The order's own message is the one of those two methods; the lookup goes
by the key's index, never by a scan of payloads.

The order's steps' results say where it is in the other systems (:func:`order_references`): the
ERP's number from its ``sales_order.create``, the CRM's deal or order from its ``order.create``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bus.db import reading
from bus.journal.tables import Status, messages
from schemas.order_sync import OrderReferences

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
            # an operator's edit of the order shares its place (the newer id): it is the order now
            .order_by(messages.c.ordering_seq, messages.c.id.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    return KnownOrder(order_id, row.id, row.method, row.status)


async def order_customers(conn: AsyncConnection, order_ids: Sequence[str]) -> dict[str, str]:
    """The customer of each of ``order_ids`` the bus knows: the ``customer`` of the message that
    made it known (its ``order.submit``, or the ``order.merge`` that made it). An order the bus
    never journaled is not in the answer."""
    keys = {order_ordering_key(order_id): order_id for order_id in order_ids}
    rows = await conn.execute(
        select(messages.c.ordering_key, messages.c.payload)
        .where(messages.c.ordering_key.in_(keys), messages.c.method.in_(ORDER_MAKERS))
        .order_by(messages.c.ordering_seq)
    )
    customers: dict[str, str] = {}
    for row in rows:
        customer = row.payload.get("customer") if isinstance(row.payload, dict) else None
        if customer is not None:
            customers.setdefault(keys[row.ordering_key], str(customer))
    return customers


#: The operations whose delivered result names the order in its system: the ERP's number, the
#: CRM's deal or order.
ERP_ORDER = "sales_order.create"
CRM_ORDER = "order.create"


async def order_references(
    conn: AsyncConnection, order_id: str, *, erp: str, crm: str
) -> OrderReferences | None:
    """Where ``order_id`` is in the deployment's ``erp`` and ``crm``, from its delivered steps;
    ``None`` for an order the bus does not know."""
    made = await known_order(conn, order_id)
    if made is None:
        return None
    c = messages.c
    rows = await conn.execute(
        select(c.target, c.operation, c.result)
        .where(
            c.ordering_key == order_ordering_key(order_id),
            c.method.in_(ORDER_MAKERS),
            c.status == Status.DELIVERED.value,
            c.target.in_((erp, crm)),
            c.operation.in_((ERP_ORDER, CRM_ORDER)),
        )
        .order_by(c.ordering_seq)
    )
    found: dict[str, str] = {}
    for row in rows:
        reference = _reference(row.result)
        if reference is None:
            continue  # skipped (the step before it was cancelled): nothing made there
        if row.target == erp and row.operation == ERP_ORDER:
            found.setdefault("erp_number", reference)
            found.setdefault("erp_key", str(row.result.get("ref_key") or reference))
        if row.target == crm and row.operation == CRM_ORDER:
            found.setdefault("crm_reference", reference)
    return OrderReferences(order_id=order_id, made_by=made.message_id, **found)


def _reference(result: Any) -> str | None:
    """The system's own reference a delivered step's result names, if it did anything."""
    if not isinstance(result, dict) or result.get("skipped"):
        return None
    reference = result.get("reference")
    return str(reference) if reference else None


class JournalOrderBook:
    """Where the journal's orders are in the deployment's ERP and CRM, for delivery steps.

    Parameters:
        erp, crm: the deployment's systems (``navision``, ``bitrix24``).
    """

    def __init__(self, engine: AsyncEngine, *, erp: str, crm: str) -> None:
        self._engine = engine
        self._erp = erp
        self._crm = crm

    async def references(self, order_id: str) -> OrderReferences | None:
        """See :func:`order_references`."""
        async with reading(self._engine) as conn:
            return await order_references(conn, order_id, erp=self._erp, crm=self._crm)
