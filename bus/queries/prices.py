"""``prices.get``: personal prices from the ERP, per customer, item and quantity (quantity breaks
change the price), through :class:`~bus.queries.realtime.RealtimeQuery`: within a time budget,
cached, and answered from the last known prices, flagged stale, when the ERP cannot answer.

Every price says whether it may be ordered: an item the ERP blocks (NAV ``Blocked``) or marks for
deletion (1C ``DeletionMark``) is still priced, for the storefront to show, with ``orderable``
false and the ``reason``; a customer blocked or marked for deletion makes the whole answer (and
every line) not orderable. A promotion is ``promo`` with the ERP's ``kind``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bus.adapters.erp_queries import Quote
from bus.queries.realtime import ErpQuery


class PriceService(ErpQuery[tuple[str, str, float], Quote]):
    """Answers ``prices.get`` for one ERP (see :class:`~bus.queries.realtime.ErpQuery`)."""

    @property
    def currency(self) -> str:
        """The ERP's currency code of its prices."""
        return self._source.currency

    async def get(self, customer: str, lines: list[tuple[str, float]]) -> dict[str, Any]:
        """The prices of ``lines`` for ``customer``."""

        async def fetch(timeout: float) -> Sequence[Quote]:
            return await self._source.quote(customer, lines, timeout)

        keys = [(customer, item, quantity) for item, quantity in lines]
        answer = await self._query.ask(keys, fetch)
        # Cached quotes may come from different fetches: one that says the customer may not
        # order is enough (the safer side while the cache catches up).
        refusal = next((q.customer_refusal for q in answer.values if q.customer_refusal), None)
        return {
            "customer": customer,
            "currency": self._source.currency,
            "stale": answer.stale,
            "as_of": answer.as_of.isoformat(),
            "orderable": refusal is None,
            "reason": refusal,
            "prices": [_price(quote, refusal) for quote in answer.values],
        }


def _price(quote: Quote, customer_refusal: str | None) -> dict[str, Any]:
    # The item's own reason first: it outlives the customer's block.
    reason = quote.item_refusal or customer_refusal
    return {
        "item": quote.item,
        "quantity": quote.quantity,
        "price": quote.price,
        "kind": quote.kind,
        "promo": quote.promo,
        "orderable": reason is None,
        "reason": reason,
    }
