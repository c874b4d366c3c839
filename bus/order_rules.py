"""The rules an ``order.submit`` meets before it is journaled, read from ``settings.order_rules``.

- **Customer and items**: see :mod:`bus.order_checks` (the customer may order; each item exists,
  may be ordered, has the line's unit and is ordered in whole packs; product types are the ERP's).
- **Minimum**: an order worth less than the customer's minimum (``customer_minimums``, else
  ``minimum_amount``) at its personal prices is refused, with both amounts. Each line is priced
  per the unit the ERP prices in (``prices.get``: NAV's sales unit, 1C's base unit), its quantity
  converted from the line's unit by the item table, so a box counts as its bottles. When the ERP
  cannot price the order now, the order is taken and the answer says the minimum was not checked:
  an outage of the ERP must not stop the shop.
- **Delivery date**: see :mod:`bus.delivery_dates`; a moved date is listed in ``adjusted``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bus.delivery_dates import delivery_date
from bus.errors import InvalidParams, UpstreamRefused, UpstreamUnavailable
from bus.order_checks import OrderFacts
from bus.queries.prices import PriceService
from bus.settings import OrderRules
from schemas.steps import CustomerProfile


@dataclass
class Checked:
    """The order as it will be journaled, and what was changed or could not be checked."""

    order: dict[str, Any]
    adjusted: list[dict[str, Any]] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)


async def apply_rules(
    order: dict[str, Any],
    rules: OrderRules,
    prices: PriceService,
    now: dt.datetime,
    *,
    facts: OrderFacts | None = None,
    profile: CustomerProfile | None = None,
) -> Checked:
    """Apply ``rules`` at ``now`` to ``order`` (``order.submit``'s params as JSON, checked by
    :class:`~bus.order_checks.OrderChecks` into ``facts``) of a customer with ``profile``.

    Raises:
        InvalidParams: the order is below its minimum, or its date is refused.
    """
    facts = facts or OrderFacts()
    checked = Checked(dict(order), list(facts.adjusted), list(facts.unchecked))
    await _check_minimum(checked, rules, prices, facts)
    categories = {code: info.category for code, info in facts.items.items()}
    adjustment = delivery_date(checked.order, rules, now, profile=profile, categories=categories)
    if adjustment is not None:
        delivery = {**(checked.order.get("delivery") or {}), "date": adjustment["to"]}
        checked.order["delivery"] = delivery
        checked.adjusted.append(adjustment)
    return checked


async def _check_minimum(
    checked: Checked, rules: OrderRules, prices: PriceService, facts: OrderFacts
) -> None:
    order = checked.order
    minimum = rules.customer_minimums.get(order["customer"], rules.minimum_amount)
    if minimum <= 0:
        return
    lines = [(str(line["item"]), _priced_quantity(line, facts)) for line in order["lines"]]
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


def _priced_quantity(line: Mapping[str, Any], facts: OrderFacts) -> float:
    """The line's quantity in the unit ``prices.get`` prices its item in (the item's default
    unit); as ordered when the item table does not say."""
    base = facts.base_quantity(line)
    info = facts.items.get(str(line["item"]))
    per_price_unit = None if info is None else info.per_unit(None)
    if base is None or not per_price_unit:
        return float(line["quantity"])
    return base / per_price_unit
