"""The ERP's item table and customers, as orders and carts are checked against them.

Every ``order.submit`` and every Excel cart is checked against what the ERP says of its customer
and items (:mod:`bus.order_checks`): whether the customer may order, whether each item exists,
may be ordered, has the line's unit, and in which multiples it is sold. Asking the ERP for that on
every call would tie the shop to the ERP's latency, so the answers are kept per item and per
customer for ``[catalog] cache_ttl`` seconds (an item table changes rarely), fetched for all
unknown codes of a call in one request, under a time budget, and answered from what was last
known (up to ``stale_for``) while the ERP cannot answer (see :mod:`bus.queries.realtime`). When
the ERP cannot answer and nothing is known, the caller gets
:class:`~bus.errors.UpstreamUnavailable`: the check is then skipped and the answer says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from bus.adapters.erp_queries import ErpQueries, ItemInfo
from bus.queries.realtime import ErpQuery, RealtimeQuery
from bus.settings import RealtimeSettings


class Catalog(ErpQuery[str, ItemInfo | None]):
    """The cached item table and customer states of one ERP.

    Parameters:
        settings: budget, cache and breaker settings (``[catalog]``).
        source: the ERP's queries.
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
        # An item the ERP does not have is kept as None: asking again for it at every order of
        # a misspelt code would put the ERP's latency back on the shop.
        super().__init__(settings, source, system, clock)
        self._customers: RealtimeQuery[str, str | None] = RealtimeQuery(settings, system, clock)

    async def items(self, codes: Sequence[str]) -> dict[str, ItemInfo | None]:
        """What the ERP says of each of ``codes``: its entry, or ``None`` if it has no such item.

        Raises:
            UpstreamUnavailable: the ERP cannot answer, and some code was never known.
            UpstreamRefused: the ERP refused the question.
        """
        wanted = sorted(set(codes))
        if not wanted:
            return {}

        async def fetch(timeout: float) -> list[ItemInfo | None]:
            found = await self._source.items(wanted, timeout)
            return [found.get(code) for code in wanted]

        answer = await self._query.ask(wanted, fetch)
        return dict(zip(wanted, answer.values, strict=True))

    async def customer_refusal(self, customer: str) -> str | None:
        """Why the ERP would not take an order from ``customer`` (``CUSTOMER_*``), or ``None``.

        Raises:
            UpstreamUnavailable: the ERP cannot answer, and the customer was never known.
            UpstreamRefused: the ERP refused the question.
        """

        async def fetch(timeout: float) -> list[str | None]:
            return [await self._source.customer_refusal(customer, timeout)]

        answer = await self._customers.ask([customer], fetch)
        return answer.values[0]
