"""``order.submit``: the storefront's cart becomes a sales order in the ERP."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field, StringConstraints

from schemas.base import CodeText, IdempotencyKey, OrderText, Params, StatusText, UnitText

ItemNo = CodeText
UnitCode = UnitText


class OrderLine(Params):
    """One cart line: an ERP item number, a quantity and, optionally, its unit of measure.

    ``product_type`` (``water``, ``alcohol``, ``accessories``: the storefront's catalog knows it)
    decides the contract a line is bought under when a customer's orders are split by contract.
    """

    item: ItemNo
    quantity: Annotated[float, Field(gt=0, le=1_000_000)]
    unit: UnitCode | None = None
    product_type: Annotated[str, StringConstraints(min_length=1, max_length=30)] | None = None


class Delivery(Params):
    """Where and when to deliver; all optional (the ERP's defaults apply)."""

    date: Annotated[dt.date | None, Field(strict=False)] = None
    address_code: Annotated[str, StringConstraints(max_length=10)] | None = None


class OrderSubmit(Params):
    """Params of ``order.submit``.

    ``order_id`` is the storefront's own order number, and the order's identity: the order sent
    again with the same content, with any ``idempotency_key`` or none, returns the same message
    and answer; the same ``order_id`` with other content is refused (-32010, naming ``order_id``
    and the order's message). Later messages about the same order are delivered after this one.
    ``idempotency_key`` is accepted, for callers that send one; the ``order_id`` decides.
    """

    order_id: OrderText
    customer: CodeText
    lines: Annotated[list[OrderLine], Field(min_length=1, max_length=500)]
    delivery: Delivery | None = None
    comment: Annotated[str, StringConstraints(max_length=250)] | None = None
    idempotency_key: IdempotencyKey | None = None


class OrderStatusChanged(Params):
    """Params of ``order.status_changed``: the ERP reports where an order is.

    ``status`` is the ERP's word for it (``created_in_reserve``, ``shipped``, ``provided``, …);
    the storefront shows it as sent.
    """

    order_id: OrderText
    status: StatusText
    erp_number: Annotated[str, StringConstraints(max_length=35)] | None = None
    changed_at: Annotated[dt.datetime | None, Field(strict=False)] = None
    idempotency_key: IdempotencyKey | None = None
