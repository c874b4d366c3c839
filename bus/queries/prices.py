"""``prices.get``: personal prices from the ERP, per customer, item and quantity (quantity breaks
change the price), through :class:`~bus.queries.realtime.RealtimeQuery`: within a time budget,
cached, and answered from the last known prices, flagged stale, when the ERP cannot answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from bus.adapters.erp_queries import ErpQueries, Quote
from bus.queries.realtime import RealtimeQuery
from bus.settings import RealtimeSettings


class PriceService:
    """Answers ``prices.get`` for one ERP.

    Parameters:
        settings: budget, cache and breaker settings.
        source: the ERP's price query.
        system: the ERP's name, for errors.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        settings: RealtimeSettings,
        source: ErpQueries,
        system: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._query: RealtimeQuery[tuple[str, str, float], Quote] = RealtimeQuery(
            settings, system, clock
        )

    async def get(self, customer: str, lines: list[tuple[str, float]]) -> dict[str, Any]:
        """The prices of ``lines`` for ``customer``."""

        async def fetch(timeout: float) -> Sequence[Quote]:
            return await self._source.quote(customer, lines, timeout)

        keys = [(customer, item, quantity) for item, quantity in lines]
        answer = await self._query.ask(keys, fetch)
        return {
            "customer": customer,
            "currency": self._source.currency,
            "stale": answer.stale,
            "as_of": answer.as_of.isoformat(),
            "prices": [
                {
                    "item": quote.item,
                    "quantity": quote.quantity,
                    "price": quote.price,
                    "kind": quote.kind,
                    "promo": quote.promo,
                }
                for quote in answer.values
            ],
        }
