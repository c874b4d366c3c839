"""Finding messages by what operators know: an order id, a customer code, an ERP number; and a
message's neighbours in its ordering key.

Where each business key is kept:

- an order id: the ordering key of the order's steps (``order:<id>``, a split's orders
  ``order:<id>/<contract>``) and the ``order_id`` of a payload (the ERP's and the CRM's events
  about the order);
- a customer code: ``customer`` of an order's or a request's payload, ``erp_key`` of an account's
  (whose steps are keyed ``customer:<code>``);
- an ERP number: the result of the step that made the ERP's order (``erp_order_no``, the
  receipt's ``erp_receipt.number``) and the references later steps carry
  (``order_references.erp_number``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bus.journal.tables import messages

#: Messages a search lists at most, newest first.
SEARCH_LIMIT = 100

#: The columns a listing shows.
_LISTED = (
    messages.c.id,
    messages.c.status,
    messages.c.method,
    messages.c.target,
    messages.c.operation,
    messages.c.ordering_key,
    messages.c.attempts_total,
    messages.c.accepted_at,
    messages.c.last_error,
)


class BusinessKey(StrEnum):
    """What an operator searches by."""

    ORDER = "order"
    CUSTOMER = "customer"
    ERP_NUMBER = "erp"
    #: every one of the above
    ANY = "any"


async def search(
    conn: AsyncConnection, kind: BusinessKey, value: str, *, limit: int = SEARCH_LIMIT
) -> list[dict[str, Any]]:
    """Messages that carry ``value`` as the business key ``kind``, newest first."""
    kinds = list(_CONDITIONS) if kind is BusinessKey.ANY else [kind]
    condition = or_(*(_CONDITIONS[k](value) for k in kinds))
    query = select(*_LISTED).where(condition).order_by(messages.c.id.desc()).limit(limit)
    return [dict(row) for row in (await conn.execute(query)).mappings()]


def _order(order_id: str) -> ColumnElement[bool]:
    return or_(
        messages.c.ordering_key == f"order:{order_id}",
        messages.c.ordering_key.startswith(f"order:{order_id}/", autoescape=True),
        messages.c.payload["order_id"].as_string() == order_id,
    )


def _customer(code: str) -> ColumnElement[bool]:
    return or_(
        messages.c.ordering_key == f"customer:{code}",
        messages.c.payload["customer"].as_string() == code,
        messages.c.payload["erp_key"].as_string() == code,
    )


def _erp_number(number: str) -> ColumnElement[bool]:
    result = messages.c.result
    return or_(
        result["erp_order_no"].as_string() == number,
        result[("erp_receipt", "number")].as_string() == number,
        result[("order_references", "erp_number")].as_string() == number,
    )


_CONDITIONS = {
    BusinessKey.ORDER: _order,
    BusinessKey.CUSTOMER: _customer,
    BusinessKey.ERP_NUMBER: _erp_number,
}


async def neighbours(
    conn: AsyncConnection, ordering_key: str | None, ordering_seq: int | None
) -> tuple[str | None, str | None]:
    """The ids of the messages just before and just after this one in its ordering key."""
    if ordering_key is None or ordering_seq is None:
        return None, None
    same_key = messages.c.ordering_key == ordering_key
    before = await conn.scalar(
        select(messages.c.id)
        .where(same_key, messages.c.ordering_seq < ordering_seq)
        .order_by(messages.c.ordering_seq.desc())
        .limit(1)
    )
    after = await conn.scalar(
        select(messages.c.id)
        .where(same_key, messages.c.ordering_seq > ordering_seq)
        .order_by(messages.c.ordering_seq)
        .limit(1)
    )
    return before, after
