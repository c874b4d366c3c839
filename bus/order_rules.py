"""The rules an ``order.submit`` meets before it is journaled, read from ``settings.order_rules``.

- **Packs**: an item sold only in packs (``pack_sizes``) must be ordered in whole packs; otherwise
  the call is refused, naming the line (``lines.2.quantity``) and the pack size.
- **Minimum**: an order worth less than the customer's minimum (``customer_minimums``, else
  ``minimum_amount``) at its personal prices is refused, with both amounts. When the ERP cannot
  price the order now, the order is taken and the answer says the minimum was not checked: an
  outage of the ERP must not stop the shop.
- **Delivery date**: see :mod:`bus.delivery_dates`; a moved date is listed in ``adjusted``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from bus.delivery_dates import delivery_date
from bus.errors import InvalidParams, UpstreamRefused, UpstreamUnavailable
from bus.queries.prices import PriceService
from bus.settings import OrderRules


@dataclass
class Checked:
    """The order as it will be journaled, and what was changed or could not be checked."""

    order: dict[str, Any]
    adjusted: list[dict[str, Any]] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)


async def apply_rules(
    order: dict[str, Any], rules: OrderRules, prices: PriceService, now: dt.datetime
) -> Checked:
    """Check ``order`` (``order.submit``'s params as JSON) against ``rules`` at ``now``.

    Raises:
        InvalidParams: a line is not in whole packs, or the order is below its minimum.
    """
    _check_packs(order, rules)
    checked = Checked(dict(order))
    await _check_minimum(checked, rules, prices)
    adjustment = delivery_date(checked.order, rules, now)
    if adjustment is not None:
        checked.order["delivery"] = {
            **(checked.order.get("delivery") or {}),
            "date": adjustment["to"],
        }
        checked.adjusted.append(adjustment)
    return checked


def _check_packs(order: dict[str, Any], rules: OrderRules) -> None:
    wrong = []
    for number, line in enumerate(order["lines"]):
        pack = rules.pack_sizes.get(line["item"])
        if pack and line["quantity"] % pack:
            wrong.append(
                {
                    "field": f"lines.{number}.quantity",
                    "type": "pack_size",
                    "message": f"item {line['item']} is sold in packs of {pack};"
                    f" {line['quantity']:g} is not a whole number of packs",
                }
            )
    if wrong:
        raise InvalidParams({"fields": wrong})


async def _check_minimum(checked: Checked, rules: OrderRules, prices: PriceService) -> None:
    order = checked.order
    minimum = rules.customer_minimums.get(order["customer"], rules.minimum_amount)
    if minimum <= 0:
        return
    lines = [(line["item"], float(line["quantity"])) for line in order["lines"]]
    try:
        priced = await prices.get(order["customer"], lines)
    except (UpstreamUnavailable, UpstreamRefused) as failure:
        checked.unchecked.append(f"minimum order value not checked: {failure.message}")
        return
    if any(p["price"] is None for p in priced["prices"]):
        checked.unchecked.append("minimum order value not checked: an item has no price")
        return
    amount = sum(p["price"] * p["quantity"] for p in priced["prices"])
    if amount < minimum:
        message = (
            f"the order is worth {amount:.2f} {priced['currency']}, below the minimum of"
            f" {minimum:.2f}"
        )
        raise InvalidParams({"fields": [{"field": "lines", "type": "minimum", "message": message}]})
