"""``balance.get``: a customer's balance, credit limit, receivables, overdue debt and payments."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from schemas.base import Params


class BalanceGet(Params):
    """Params of ``balance.get``."""

    customer: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
