"""What the bus answers: one pydantic model per method's result, for the OpenRPC document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class Result(BaseModel):
    """The base of every result model (documentation of what the bus sends; open to additions)."""

    model_config = ConfigDict(extra="allow")


class Adjustment(Result):
    """A field the bus changed by its rules, from what to what, and why."""

    field: str
    to: Any
    reason: str


class Accepted(Result):
    """A command was journaled: its message, to follow with ``message.get``.

    ``adjusted`` lists what the bus's rules changed (a delivery date moved past the cut-off);
    ``unchecked`` what could not be checked now (a minimum, while the ERP cannot price).
    """

    message_id: str
    status: str
    adjusted: list[Adjustment] | None = None
    unchecked: list[str] | None = None


class SplitOrder(Result):
    """One order of a cart split by contract: a child of the submitted order."""

    order_id: str
    contract: dict[str, Any]
    lines: int


class OrderAccepted(Accepted):
    """An order was journaled: the ``route`` its customer's segment chose and, when the cart was
    split by contract, the ``orders`` it became (the message's children, delivered side by side).
    """

    route: str
    orders: list[SplitOrder] | None = None


class AttemptView(Result):
    """One delivery attempt of a message."""

    number: int
    started_at: str
    duration_ms: float
    outcome: str
    http_status: int | None
    error: str | None


class StepView(Result):
    """A child of a message: a later step of its route (the CRM order after the ERP order), an
    order of a split cart, or the ERP's decision about a request (``request.decided``)."""

    message_id: str
    method: str
    status: str
    target: str
    operation: str


class BlockerView(Result):
    """The message a ``blocked`` one waits for: the oldest unfinished message before it with the
    same ordering key. An operator who replays or cancels it moves the key forward."""

    message_id: str
    status: str


class MessageView(Result):
    """A journaled message as its caller sees it.

    A request with a deadline (a document, a request the ERP decides on) shows it; ``stuck`` is
    true when it is past the deadline and neither done (delivered and, if the ERP answers later,
    answered) nor failed.
    """

    message_id: str
    method: str
    status: str
    target: str
    accepted_at: str
    updated_at: str
    next_attempt_at: str | None
    last_error: str | None
    result: dict[str, Any] | None
    attempts: list[AttemptView]
    parent_id: str | None
    children: list[StepView]
    blocked_by: BlockerView | None = None
    deadline: str | None = None
    stuck: bool = False


#: Why the ERP would take no order from a customer: NAV's ``Blocked`` (any of Ship, Invoice,
#: All), 1C's ``DeletionMark`` on the counterparty.
CustomerRefusal = Literal["customer_blocked", "customer_deleted"]
#: Why the ERP would take no order of an item: NAV's ``Blocked`` on the item, 1C's
#: ``DeletionMark`` on it, or the customer's refusal.
Refusal = Literal["item_blocked", "item_deleted", "customer_blocked", "customer_deleted"]


class PriceView(Result):
    """The best applicable unit price of one item for a quantity (``None``: no price known).

    ``kind`` is where the ERP took the price from, in its own words: NAV's ``Sales_Type``
    (``Customer``, ``Customer Price Group``, ``All Customers``, ``Campaign``; ``null`` for the
    item card's price), 1C's ``ВидЦены`` (``Индивидуальная``, the price group's kind,
    ``Базовая``, ``Акция``). ``promo`` is true for a promotion (a NAV campaign, 1C's ``Акция``).
    ``orderable`` is false, with the ``reason``, when the ERP would not take an order of the
    item (the item's own reason first, then the customer's); the price is given all the same.
    """

    item: str
    quantity: float
    price: float | None
    kind: str | None
    promo: bool
    orderable: bool = True
    reason: Refusal | None = None


class Prices(Result):
    """A customer's prices; ``stale`` when the ERP did not answer and last known prices are shown.

    ``as_of`` is when the ERP gave these prices (ISO 8601, UTC). ``orderable`` is false, with the
    ``reason`` (``customer_blocked``, ``customer_deleted``), when the ERP would take no order
    from the customer at all; every price then says so too.
    """

    customer: str
    currency: str
    stale: bool
    as_of: str
    prices: list[PriceView]
    orderable: bool = True
    reason: CustomerRefusal | None = None


class BalanceView(Result):
    """A customer's money position; a figure the ERP does not give is ``null``.

    ``receivables`` is what the customer owes on open documents and ``overdue`` the part of it
    past its due date; ``payments_in_progress`` is what it paid that is not yet set against a
    document (NAV: payments posted but not applied; 1C: payments not yet allocated), and
    ``balance`` = ``receivables`` - ``payments_in_progress``. In the ERP's currency (NAV: LCY).
    """

    customer: str
    currency: str
    stale: bool
    as_of: str
    balance: float | None
    credit_limit: float | None
    receivables: float | None
    overdue: float | None
    payments_in_progress: float | None


class CartLine(Result):
    """A row of the workbook taken into the cart, with its personal price."""

    row: int
    item: str
    description: str
    quantity: float
    unit: str
    price: float | None
    amount: float | None


class RejectedRow(Result):
    """A row of the workbook that was not taken, and why."""

    row: int
    reason: str
    item: str | None
    detail: str
    #: for ``out_of_stock``: what can be had, in the row's unit and whole packs
    available: float | None = None


class Cart(Result):
    """The cart read from a workbook: priced lines, their total, the rows not taken."""

    customer: str
    sheet: str
    currency: str
    stale: bool
    lines: list[CartLine]
    total: float
    rejected: list[RejectedRow]


class OpenRpcDocument(Result):
    """The OpenRPC 1.2.6 document of the methods the caller may call."""

    openrpc: str
    info: dict[str, Any]
    methods: list[dict[str, Any]]
    components: dict[str, Any]
