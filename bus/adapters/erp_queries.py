"""Real-time queries to the ERP: a customer's prices and balance, and what its catalog says.

Queries are not journaled messages: they pass through under a time budget (see
:mod:`bus.queries.prices`). A source raises :class:`~bus.errors.TransientError` when asking again
may help and :class:`~bus.errors.PermanentError` when the ERP refused the question.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

#: Why the ERP would not take an order of an item, or from a customer, it still prices.
ITEM_BLOCKED = "item_blocked"  # NAV: Item.Blocked
ITEM_DELETED = "item_deleted"  # 1C: the item's DeletionMark
CUSTOMER_BLOCKED = "customer_blocked"  # NAV: Customer.Blocked is Ship, Invoice or All
CUSTOMER_DELETED = "customer_deleted"  # 1C: the counterparty's DeletionMark


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
    """What the ERP's catalog says of an item; ``available`` is ``None`` if it keeps no stock."""

    item: str
    description: str
    unit: str
    available: float | None
    blocked: bool = False


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

    async def quote(
        self, customer: str, lines: list[tuple[str, float]], timeout: float
    ) -> list[Quote]:
        """The prices of ``lines`` (item, quantity) for ``customer``, in the same order."""
        ...
