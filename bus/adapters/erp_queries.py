"""Real-time queries to the ERP: a customer's prices and balance, and what its catalog says.

Queries are not journaled messages: they pass through under a time budget (see
:mod:`bus.queries.prices`). A source raises :class:`~bus.errors.TransientError` when asking again
may help and :class:`~bus.errors.PermanentError` when the ERP refused the question.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Quote:
    """One item's best unit price for a quantity; ``price`` is ``None`` if it has none."""

    item: str
    quantity: float
    price: float | None
    kind: str | None = None
    promo: bool = False


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
    """A customer's money position; ``None`` where the ERP does not say."""

    balance: float | None
    credit_limit: float | None
    receivables: float | None
    overdue: float | None
    payments_in_progress: float | None


class ErpQueries(Protocol):
    """An ERP that answers personal prices, balances and catalog facts in real time."""

    currency: str

    async def balance(self, customer: str, timeout: float) -> Balance:
        """The customer's balance, credit limit, receivables, overdue debt, payments under way."""
        ...

    async def items(self, codes: list[str], timeout: float) -> dict[str, ItemInfo]:
        """The catalog entries of ``codes`` that exist, by code."""
        ...

    async def quote(
        self, customer: str, lines: list[tuple[str, float]], timeout: float
    ) -> list[Quote]:
        """The prices of ``lines`` (item, quantity) for ``customer``, in the same order."""
        ...
