"""``balance.get``: a customer's balance, credit limit, receivables, overdue debt and payments."""

from __future__ import annotations

from schemas.base import CodeText, Params


class BalanceGet(Params):
    """Params of ``balance.get``."""

    customer: CodeText
