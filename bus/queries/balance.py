"""``balance.get``: a customer's money position from the ERP, through
:class:`~bus.queries.realtime.RealtimeQuery` (budget, cache, stale fallback)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from bus.adapters.erp_queries import Balance
from bus.queries.realtime import ErpQuery


class BalanceService(ErpQuery[str, Balance]):
    """Answers ``balance.get`` for one ERP (see :class:`~bus.queries.realtime.ErpQuery`)."""

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
