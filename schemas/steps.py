"""What one step of a route hands to the next: typed facts, not loose dict keys.

A step's result is stored in the journal as JSON and handed to the steps after it
(:meth:`bus.adapters.base.Delivery.fact`). The facts a later step depends on for money and goods
are models here: the step that produces one builds the model, the step that reads it parses the
stored JSON back into it, so a line without its unit or price is a validation error where it is
made, not a CRM row at price 0 or a box that became a bottle.

:class:`OrderReceipt` is what the ERP says about an order: the prices it applied, in the units it
took each line in, with its order number (``sales_order.create``), or without one when the ERP
only quoted the customer's prices for an order it does not hold (``order.quote``, the CRM-only
route). The CRM rows and the manager's mail are written from it.

:class:`RoutedOrder` is the order every step of an ``order.submit`` route receives: the order as
the storefront sent it, checked and ruled at accept, with the delivery its route decided, the
customer's manager (or why there is none) and, for an order split by contract, its contract and
parent. Every adapter reads it as this model, so a line without its unit is refused where the
order is read, not sent to the ERP as a line in the item's default unit.

:class:`CustomerFacts` is what the ERP's ``customer.read`` hands to the directory's
``customer.remember``; :class:`CustomerProfile` is what the directory keeps of a customer and order
routing, the order checks and the delivery dates read.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

Text = Annotated[str, StringConstraints(min_length=1, max_length=50)]
Money = Annotated[float, Field(ge=0)]
#: A code or an id another system gave (an order id of a split order is longer than the
#: storefront's own: ``<order_id>/<contract>``).
Code = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class StepFact(BaseModel):
    """A fact one step hands to the next, stored in the journal as JSON.

    Closed to unknown fields is the wrong choice here: a result stored by a newer bus may carry
    more, and an older worker must still read what it knows. Every field it needs is required.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)


class ReceiptLine(StepFact):
    """One order line as the ERP took it.

    ``quantity`` and ``price`` are both in ``unit`` (two boxes at the price of a box, not two
    bottles at the price of a box); ``amount`` is the ERP's own line amount (it rounds it), before
    VAT and discounts of the whole order.
    """

    item: Text
    quantity: Annotated[float, Field(gt=0)]
    unit: Text = Field(description="the ERP's code of the unit of measure of quantity and price")
    price: Money = Field(description="the price of one unit")
    amount: Money


class OrderReceipt(StepFact):
    """What the ERP priced: its order (with ``number``) or its quote for the customer's order.

    ``total`` is the sum of the line amounts, before VAT, in ``currency`` (the ERP's: NAV's local
    currency ``LCY``, 1C's ``RUB``). The lines are in the order's own order.
    """

    #: The key a step's result stores the receipt under.
    KEY: ClassVar[str] = "erp_receipt"

    system: Text
    number: Text | None = Field(description="the ERP's order number; None for a quote")
    currency: Text
    lines: Annotated[list[ReceiptLine], Field(min_length=1)]
    total: Money

    @classmethod
    def quote(cls, system: str, currency: str, lines: list[ReceiptLine]) -> OrderReceipt:
        """The ERP's prices for an order it does not hold: no number, the lines' amounts summed."""
        total = round(sum(line.amount for line in lines), 2)
        return cls(system=system, number=None, currency=currency, lines=lines, total=total)

    def as_fact(self) -> dict[str, Any]:
        """The receipt as a step's result carries it (JSON-ready)."""
        return {self.KEY: self.model_dump(mode="json")}

    @classmethod
    def from_fact(cls, value: Any) -> OrderReceipt | None:
        """The receipt from a stored result's ``KEY`` value; ``None`` when the step gave none.

        A result stored before receipts were typed has none: its ERP step recorded only the
        order number (``erp_order_no``), and the reader decides what that means.

        Raises:
            pydantic.ValidationError: a receipt is there but is not one (a line without its
                unit or price): never read as a partial receipt.
        """
        if value is None:
            return None
        return cls.model_validate(value)


class AsGiven(StepFact):
    """A fact that is written back with the fields it was given, and no others.

    An order's payload keeps the shape it has always been journaled in: a field a step did not
    set (a delivery without ``pickup``, an order without ``contract``) is absent, not ``null``,
    and a field given as ``null`` stays ``null``.

    Every fact nested in one is ``AsGiven`` too, so the rule is pydantic's own ``exclude_unset``,
    applied here by default (in pydantic's core: a serializer of ours would be a Python call per
    line of every order).
    """

    def model_dump(self, **options: Any) -> dict[str, Any]:
        """The fields as given (``exclude_unset`` unless said otherwise), as pydantic dumps."""
        return super().model_dump(**{"exclude_unset": True, **options})

    def model_dump_json(self, **options: Any) -> str:
        """:meth:`model_dump`'s fields as JSON."""
        return super().model_dump_json(**{"exclude_unset": True, **options})


class Licence(AsGiven):
    """The customer's alcohol licence: its number and the premises it names."""

    number: Code
    address: str | None = None


class Contract(AsGiven):
    """A contract the customer buys one product type under (``product_type`` as the ERP names
    it, ``None`` when it names none)."""

    number: Code
    product_type: Code | None = None
    description: str | None = None


class Manager(AsGiven):
    """The customer's personal manager, as the CRM named it (mailed when an order waits)."""

    name: str | None = None
    email: str | None = None


class RoutedLine(AsGiven):
    """One line of a routed order: an item and its quantity in ``unit``.

    ``unit`` must be said, as ``None`` when the order names none (the ERP's default unit, NAV's
    sales unit or 1C's base unit, applies): a line whose unit went missing is not one.
    """

    item: Code
    quantity: Annotated[float, Field(gt=0)]
    unit: Code | None
    product_type: Code | None = None


class RoutedDelivery(AsGiven):
    """When and where the goods go: the date (after the order rules), the storefront's address
    code, or the licence's address (a licensed customer's route), or a pick-up."""

    date: dt.date | None = None
    address_code: str | None = None
    address: str | None = None
    pickup: bool = False


class RoutedOrder(AsGiven):
    """The payload every step of an ``order.submit`` receives (:mod:`bus.order_routing`).

    ``manager`` is whom the mail step mails; without one, ``no_manager`` says why. ``contract``
    and ``parent_order_id`` are set on each order a cart was split into, one per contract.
    """

    order_id: Code
    customer: Code
    lines: Annotated[list[RoutedLine], Field(min_length=1)]
    delivery: RoutedDelivery = Field(default_factory=RoutedDelivery)
    comment: str | None = None
    manager: Manager | None = None
    no_manager: str | None = None
    parent_order_id: Code | None = None
    contract: Contract | None = None

    @field_validator("delivery", mode="before")
    @classmethod
    def _no_wishes(cls, value: Any) -> Any:
        """An order sent without delivery wishes has none to route by (the ERP's defaults)."""
        return {} if value is None else value


class ShipTo(AsGiven):
    """An address the customer's goods may be delivered to, by the ERP's code of it."""

    code: str | None = None
    address: str


class CustomerFacts(AsGiven):
    """What the ERP's ``customer.read`` hands on: the customer as the ERP keeps it.

    ``customer.remember`` keeps the routing facts of it in the bus's directory
    (:class:`CustomerProfile`); the storefront's ``user.create`` makes the user from it.
    """

    #: The key a step's result stores the facts under.
    KEY: ClassVar[str] = "customer"

    erp_key: Code
    name: str | None = None
    inn: str | None = None
    kpp: str | None = None
    licence: Licence | None = None
    price_group: str | None = None
    addresses: list[ShipTo] = Field(default_factory=list)
    credit_limit: float | None = None
    warehouse: str | None = Field(default=None, description="the ERP's code of its warehouse")
    contracts: list[Contract] = Field(default_factory=list)

    def as_fact(self) -> dict[str, Any]:
        """The facts as a step's result carries them (JSON-ready)."""
        return {self.KEY: self.model_dump(mode="json")}

    @classmethod
    def from_fact(cls, value: Any) -> CustomerFacts | None:
        """The facts from a stored result's ``KEY`` value; ``None`` when the step gave none.

        Raises:
            pydantic.ValidationError: the value is not the ERP's customer.
        """
        return None if value is None else cls.model_validate(value)


class Deactivation(AsGiven):
    """Which ``account.deactivate`` deactivated the customer, and when."""

    message_id: Code
    at: dt.datetime


class CustomerProfile(AsGiven):
    """What the bus's directory keeps of a customer (the journal's ``customers`` table).

    The ERP's facts (licence, contracts, warehouse) and the CRM's (segment, the personal manager,
    or why there is none), read when an order is checked, dated and routed. Every field may be
    missing: a customer deactivated without ever being provisioned has a profile that says only
    that.
    """

    name: str | None = None
    segment: str | None = None
    licence: Licence | None = None
    contracts: list[Contract] = Field(default_factory=list)
    warehouse: str | None = None
    manager: Manager | None = None
    no_manager: str | None = None
    deactivated: Deactivation | None = None

    @property
    def licensed(self) -> bool:
        """Whether the customer holds an alcohol licence."""
        return self.licence is not None
