"""``prices.get``: personal prices from the ERP, per customer, item and quantity (quantity breaks
change the price), through :class:`~bus.queries.realtime.RealtimeQuery`: within a time budget,
cached, and answered from the last known prices, flagged stale, when the ERP cannot answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bus.adapters.erp_queries import Quote
from bus.queries.realtime import ErpQuery


class PriceService(ErpQuery[tuple[str, str, float], Quote]):
    """Answers ``prices.get`` for one ERP (see :class:`~bus.queries.realtime.ErpQuery`)."""

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
