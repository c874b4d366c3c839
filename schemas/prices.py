"""``prices.get``: a customer's personal prices for items and quantities, in real time (the
answer, with its promotions and what may not be ordered, is ``schemas.results.Prices``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from schemas.base import CodeText, Params
from schemas.orders import ItemNo


class PriceQuery(Params):
    """One item and the quantity to price it for (quantity breaks apply)."""

    item: ItemNo
    quantity: Annotated[float, Field(gt=0, le=1_000_000)] = 1.0


class PricesGet(Params):
    """Params of ``prices.get``."""

    customer: CodeText
    items: Annotated[list[PriceQuery], Field(min_length=1, max_length=200)]
