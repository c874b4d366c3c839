"""Requests the ERP decides on, and the ERP's decisions about a customer's orders.

From the storefront: ``address.request`` (a new delivery address) and ``employee.request`` (an
employee of the customer gets an account); the ERP registers each and decides later, calling
``request.decided`` with the bus's message id of the request. From the ERP: ``order.merge``, its
verdict on merging several of a customer's orders.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, EmailStr, Field, StringConstraints, model_validator

from schemas.base import IdempotencyKey, LineText, NameText, OrderText, Params
from schemas.documents import Customer
from schemas.orders import ItemNo

Text = LineText
OrderId = OrderText


class AddressRequest(Params):
    """Params of ``address.request``: the customer asks to deliver to a new address."""

    customer: Customer
    address: Text
    name: Annotated[str, StringConstraints(max_length=100)] | None = None
    comment: Text | None = None
    idempotency_key: IdempotencyKey | None = None


class EmployeeRequest(Params):
    """Params of ``employee.request``: an employee of the customer is to get an account."""

    customer: Customer
    name: NameText
    email: EmailStr
    phone: Annotated[str, StringConstraints(max_length=30)] | None = None
    role: Annotated[str, StringConstraints(max_length=50)] | None = None
    idempotency_key: IdempotencyKey | None = None


class RequestDecided(Params):
    """Params of ``request.decided``: the ERP approved or declined a request.

    ``request_id`` is the message id the bus answered the request with; the decision is
    delivered to the storefront after the request, and waits for no other message.
    """

    request_id: Annotated[str, StringConstraints(min_length=26, max_length=26)]
    decision: Literal["approved", "declined"]
    reason: Text | None = None
    idempotency_key: IdempotencyKey | None = None


class MergedLine(Params):
    """A line of the merged order, at the price the ERP gave it."""

    item: ItemNo
    quantity: Annotated[float, Field(gt=0, le=1_000_000)]
    price: Annotated[float, Field(ge=0)] | None = None


class MergedOrder(Params):
    """The order the ERP made of the merged ones."""

    order_id: OrderId
    erp_number: Annotated[str, StringConstraints(max_length=35)] | None = None
    status: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    lines: Annotated[list[MergedLine], Field(min_length=1, max_length=500)]


class OrderMerge(Params):
    """Params of ``order.merge``: the ERP merged several of a customer's orders into a new one
    (``accepted``), or refused to (``rejected``: the orders stay as they were)."""

    # The rule of _new_order_when_accepted, published with the schema so both say the same.
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"outcome": {"const": "accepted"}}},
            "then": {"required": ["new_order"], "properties": {"new_order": {"type": "object"}}},
            "else": {"properties": {"new_order": {"type": "null"}}},
        }
    )

    customer: Customer
    orders: Annotated[list[OrderId], Field(min_length=2, max_length=20)]
    outcome: Literal["accepted", "rejected"]
    new_order: MergedOrder | None = None
    reason: Text | None = None
    idempotency_key: IdempotencyKey | None = None

    @model_validator(mode="after")
    def _new_order_when_accepted(self) -> OrderMerge:
        if (self.outcome == "accepted") != (self.new_order is not None):
            raise ValueError("new_order is required when the merge is accepted, and only then")
        return self
