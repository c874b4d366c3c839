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
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Text = Annotated[str, StringConstraints(min_length=1, max_length=50)]
Money = Annotated[float, Field(ge=0)]


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
