"""``balance.get``: a customer's money position from the ERP, through
:class:`~bus.queries.realtime.RealtimeQuery` (budget, cache, stale fallback)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

from bus.adapters.erp_queries import Balance, ErpQueries
from bus.queries.realtime import RealtimeQuery
from bus.settings import RealtimeSettings


class BalanceService:
    """Answers ``balance.get`` for one ERP.

    Parameters:
        settings: budget, cache and breaker settings.
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
        self._source = source
        self._query: RealtimeQuery[str, Balance] = RealtimeQuery(settings, system, clock)

    async def get(self, customer: str) -> dict[str, Any]:
        """The customer's balance, credit limit, receivables, overdue and payments in progress."""

        async def fetch(timeout: float) -> Sequence[Balance]:
            return [await self._source.balance(customer, timeout)]

        answer = await self._query.ask([customer], fetch)
        return {
            "customer": customer,
            "currency": self._source.currency,
            "stale": answer.stale,
            "as_of": answer.as_of.isoformat(),
            **dataclasses.asdict(answer.values[0]),
        }
