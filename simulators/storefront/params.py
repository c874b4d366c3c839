"""The params of every storefront method, as pydantic models (closed and strictly typed).

Every method takes ``message_id``: the bus's id of the message being delivered. A repeated call
of the same method with the same ``message_id`` returns the first result without a second effect.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=250)]
Key = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
MessageId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
]
Quantity = Annotated[float, Field(gt=0, le=1_000_000)]
Money = Annotated[float, Field(ge=0)]


class Params(BaseModel):
    """Closed, strict params: unknown fields and wrong types are refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class MethodParams(Params):
    """What every method takes: the bus's message id, the key of idempotent delivery."""

    message_id: MessageId


class Licence(Params):
    """An alcohol licence: its number and the delivery address it covers."""

    number: Key
    address: Text


class Contract(Params):
    """A contract of the customer for one product type (water, alcohol, accessories...)."""

    product_type: Key
    number: Key


class Address(Params):
    """A delivery address with its ERP code."""

    code: Key
    address: Text


class Manager(Params):
    """The customer's account manager."""

    name: Text
    email: Email


class Settings(Params):
    """Personal settings the manager chose in the CRM."""

    greeting: Annotated[str, StringConstraints(max_length=1000)] | None = None
    menu: list[Text] | None = None


class Contact(Params):
    """A person of the customer."""

    name: Text
    email: Email
    phone: Key | None = None


class UserCreate(MethodParams):
    """``user.create``: a storefront user for an ERP customer, with its data and settings."""

    customer: Key
    email: Email
    name: Text
    inn: Key | None = None
    kpp: Key | None = None
    segment: Key | None = None
    licence: Licence | None = None
    contracts: list[Contract] = Field(default_factory=list)
    addresses: list[Address] = Field(default_factory=list)
    price_group: Key | None = None
    warehouse: Key | None = None
    manager: Manager | None = None
    settings: Settings | None = None
    contacts: list[Contact] = Field(default_factory=list)


class UserUpdate(UserCreate):
    """``user.update``: new data for the customer's existing user.

    The fields of ``user.create``; each one given replaces the stored value (an explicit null
    clears it), one left out stays as it is.
    """


class UserDeactivate(MethodParams):
    """``user.deactivate``: the customer may no longer sign in."""

    customer: Key


class Line(Params):
    """An order line: an item, its quantity and, optionally, its unit and its price.

    ``quantity`` and ``price`` are in ``unit`` (two boxes at the price of a box); without one, in
    the item's own unit as the catalog shows it.
    """

    item: Key
    quantity: Quantity
    unit: Key | None = None
    price: Money | None = None


class OrderUpdate(MethodParams):
    """``order.update``: change an order (or create it when the storefront does not know it).

    Only the fields given change (an explicit null clears one); ``customer`` is used when the
    order is created.
    """

    order_id: Key
    customer: Key | None = None
    status: Key | None = None
    lines: Annotated[list[Line], Field(max_length=1000)] | None = None
    erp_number: Key | None = None
    crm_reference: Key | None = None
    source: Literal["crm", "erp"] | None = None
    changed_at: Annotated[dt.datetime, Field(strict=False)] | None = None


class HistoricOrder(Params):
    """One past order of the customer, online or offline."""

    order_id: Key
    date: Annotated[dt.date, Field(strict=False)]
    channel: Literal["online", "offline"]
    status: Key
    total: Money
    lines: Annotated[list[Line], Field(max_length=1000)]


class OrderHistoryImport(MethodParams):
    """``order.history.import``: the customer's past orders (re-imported ids are replaced)."""

    customer: Key
    orders: Annotated[list[HistoricOrder], Field(max_length=10_000)]


class DocumentDeliver(MethodParams):
    """``document.deliver``: a document the customer asked for, as a base64 file."""

    customer: Key
    kind: Literal["invoice", "reconciliation_act"]
    request_id: Key
    number: Key
    filename: Text
    content_base64: Annotated[str, StringConstraints(min_length=1)]

    @field_validator("content_base64")
    @classmethod
    def _is_base64(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("is not valid base64") from None
        return value


class MergedOrder(Params):
    """The order the ERP made of the merged ones."""

    order_id: Key
    erp_number: Key | None = None
    status: Key
    lines: Annotated[list[Line], Field(max_length=1000)]


class OrderMerge(MethodParams):
    """``order.merge``: the ERP merged several of the customer's orders into ``new_order``
    (``accepted``), or refused to (``rejected``: the orders stay as they are).

    ``new_order`` is required when the merge is accepted and must be absent when it is rejected.
    """

    customer: Key
    orders: Annotated[list[Key], Field(min_length=2, max_length=20)]
    outcome: Literal["accepted", "rejected"]
    new_order: MergedOrder | None = Field(default=None, validate_default=True)
    reason: Text | None = None

    @field_validator("orders")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("names an order more than once")
        return value

    @field_validator("new_order")
    @classmethod
    def _given_when_accepted(
        cls, value: MergedOrder | None, info: ValidationInfo
    ) -> MergedOrder | None:
        outcome = info.data.get("outcome")
        if outcome == "accepted" and value is None:
            raise ValueError("is required when the merge is accepted")
        if outcome == "rejected" and value is not None:
            raise ValueError("must be absent when the merge is rejected")
        return value


#: The text fields ``details`` must have when a request of each kind is approved.
APPROVED_DETAILS: dict[str, tuple[str, ...]] = {
    "delivery_address": ("address",),
    "employee": ("name", "email"),
}


class RequestUpdate(MethodParams):
    """``request.update``: the ERP decided a customer's request (a new delivery address, or an
    account for an employee); a later update of the same ``request_id`` replaces the earlier.

    ``details`` is what the customer asked for; an approved request needs ``address`` (a
    delivery address) or ``name`` and ``email`` (an employee) in it, as text.
    """

    request_id: Key
    customer: Key
    kind: Literal["delivery_address", "employee"]
    decision: Literal["approved", "declined"]
    reason: Text | None = None
    details: Annotated[dict[str, Any], Field(max_length=50)]
    erp_request_no: Key | None = None

    @field_validator("details")
    @classmethod
    def _complete_when_approved(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        # A kind or decision that failed validation is missing from info.data: nothing to check.
        kind: str = info.data.get("kind", "")
        if info.data.get("decision") != "approved" or kind not in APPROVED_DETAILS:
            return value
        missing = [
            name
            for name in APPROVED_DETAILS[kind]
            if not isinstance(value.get(name), str) or not value[name].strip()
        ]
        if missing:
            raise ValueError(f"an approved {kind} request needs {', '.join(missing)} as text")
        return value


class MessageStatus(MethodParams):
    """``message.status``: one of the storefront's messages changed its status.

    ``about`` is the message the storefront was given when it called the bus; ``step`` the
    message whose status changed (the same, or a later step of its route: the CRM order after
    the ERP's); ``status`` its new status: ``delivered`` (with the ERP's ``erp_number`` once the
    route made one), ``skipped`` (done without an effect, ``reason`` why), ``failed`` or
    ``unknown_outcome`` (waiting for an operator, ``reason`` what the target or the bus said), or
    what an operator's ``action`` (replay, release, cancel, edit) left it in, ``reason`` the
    operator's; an edited message is ``edited`` and ``edited_as`` names the message that takes
    its place.
    """

    about: MessageId
    step: MessageId
    method: Key
    target: Key
    operation: Key
    status: Literal[
        "delivered",
        "skipped",
        "failed",
        "unknown_outcome",
        "accepted",
        "blocked",
        "cancelled",
        "edited",
    ]
    reason: Annotated[str, StringConstraints(max_length=4000)] = ""
    order_id: Key | None = None
    erp_number: Key | None = None
    action: Literal["replay", "release", "cancel", "edit"] | None = None
    edited_as: MessageId | None = None
