"""Real-time queries to the ERP: a customer's prices, and what its catalog says of items.

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


class PriceSource(Protocol):
    """An ERP that answers personal prices and catalog facts."""

    currency: str

    async def items(self, codes: list[str], timeout: float) -> dict[str, ItemInfo]:
        """The catalog entries of ``codes`` that exist, by code."""
        ...

    async def quote(
        self, customer: str, lines: list[tuple[str, float]], timeout: float
    ) -> list[Quote]:
        """The prices of ``lines`` (item, quantity) for ``customer``, in the same order."""
        ...
