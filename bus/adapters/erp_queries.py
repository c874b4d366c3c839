"""Real-time queries to the ERP: a customer's prices and balance, and what its catalog says.

Queries are not journaled messages: they pass through under a time budget (see
:mod:`bus.queries.prices`). A source raises :class:`~bus.errors.TransientError` when asking again
may help and :class:`~bus.errors.PermanentError` when the ERP refused the question.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

#: Why the ERP would not take an order of an item, or from a customer, it still prices.
ITEM_BLOCKED = "item_blocked"  # NAV: Item.Blocked
ITEM_DELETED = "item_deleted"  # 1C: the item's DeletionMark
CUSTOMER_BLOCKED = "customer_blocked"  # NAV: Customer.Blocked is Ship, Invoice or All
CUSTOMER_DELETED = "customer_deleted"  # 1C: the counterparty's DeletionMark
CUSTOMER_UNKNOWN = "customer_unknown"  # the ERP has no such customer


@dataclass(frozen=True)
class Quote:
    """One item's best unit price for a quantity; ``price`` is ``None`` if it has none.

    ``kind`` is where the ERP took the price from, in its own words (NAV's ``Sales_Type``, 1C's
    ``ВидЦены``); ``promo`` is true for a promotion (a NAV campaign, 1C's ``Акция``).
    ``item_refusal`` and ``customer_refusal`` say why the ERP would not take an order of the
    item, or from the customer (``ITEM_*``, ``CUSTOMER_*``); ``None`` when it would. The
    customer's comes with every quote, so that a cached quote answers for it as well.
    """

    item: str
    quantity: float
    price: float | None
    kind: str | None = None
    promo: bool = False
    item_refusal: str | None = None
    customer_refusal: str | None = None


@dataclass(frozen=True)
class ItemInfo:
    """What the ERP's item table says of an item: the facts an order line is checked against.

    Parameters:
        item: the item's code (NAV ``No``, 1C ``Code``).
        description: its name.
        unit: the unit a line without one is in, as the ERP takes it (NAV: the item's
            ``Sales_Unit_of_Measure``; 1C: the base unit ``ЕдиницаИзмерения``); prices without a
            unit (``prices.get``) are per this unit.
        available: the stock, in base units; ``None`` if the ERP does not say.
        refusal: why the ERP would not take an order of it (``ITEM_BLOCKED``, ``ITEM_DELETED``);
            ``None`` when it would.
        base_unit: the unit stock and ``units`` count in (NAV ``Base_Unit_of_Measure``).
        category: the ERP's category (NAV ``Item_Category_Code``, 1C ``ВидНоменклатуры``), which
            ``[catalog] product_types`` maps to a product type.
        units: every unit of the item by code, with base units per unit (the base unit: 1).
        pack: the item is sold in multiples of this many base units (NAV: the sales unit's
            quantity; 1C: ``КратностьУпаковки``); 1 when it is not.
    """

    item: str
    description: str
    unit: str
    available: float | None
    refusal: str | None = None
    base_unit: str = ""
    category: str | None = None
    units: Mapping[str, float] = field(default_factory=dict)
    pack: float = 1.0

    @property
    def blocked(self) -> bool:
        """Whether the ERP would not take an order of the item."""
        return self.refusal is not None

    def per_unit(self, unit: str | None) -> float | None:
        """Base units in one ``unit`` (the default ``unit`` when ``None``); ``None`` when the
        item has no such unit."""
        code = unit or self.unit
        return 1.0 if code == self.base_unit else self.units.get(code)


@dataclass(frozen=True)
class Balance:
    """A customer's money position; ``None`` where the ERP does not say.

    ``receivables`` is what the customer owes on open documents, ``overdue`` the part of it past
    its due date, ``payments_in_progress`` what the customer paid that is not yet set against
    a document; ``balance`` is the net of them.
    """

    balance: float | None
    credit_limit: float | None
    receivables: float | None
    overdue: float | None
    payments_in_progress: float | None


class ErpQueries(Protocol):
    """An ERP that answers personal prices, balances and catalog facts in real time."""

    currency: str

    async def balance(self, customer: str, timeout: float) -> Balance:
        """The customer's balance, credit limit, receivables, overdue debt, payments under way.

        Both ERPs keep ``balance = receivables - payments_in_progress``.
        """
        ...

    async def items(self, codes: list[str], timeout: float) -> dict[str, ItemInfo]:
        """The catalog entries of ``codes`` that exist, by code."""
        ...

    async def customer_refusal(self, customer: str, timeout: float) -> str | None:
        """Why the ERP would not take an order from ``customer`` (``CUSTOMER_*``), or ``None``."""
        ...

    async def quote(
        self, customer: str, lines: list[tuple[str, float]], timeout: float
    ) -> list[Quote]:
        """The prices of ``lines`` (item, quantity) for ``customer``, in the same order."""
        ...
