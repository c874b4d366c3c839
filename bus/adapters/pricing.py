"""Real-time price queries: what the bus asks an ERP for a customer's prices, and the answer.

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


class PriceSource(Protocol):
    """An ERP that answers personal prices."""

    currency: str

    async def quote(
        self, customer: str, lines: list[tuple[str, float]], timeout: float
    ) -> list[Quote]:
        """The prices of ``lines`` (item, quantity) for ``customer``, in the same order."""
        ...
