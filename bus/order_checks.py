"""An order's customer and items, checked against the bus's directory and the ERP's item table.

Before an ``order.submit`` is journaled, on every route (the CRM-only route too, where no ERP
order would refuse it later):

- **the customer** may order: not deactivated in the bus's directory (``account.deactivate``),
  known to the ERP, not blocked there (NAV ``Blocked``) nor marked for deletion (1C);
- **each line's item** exists in the ERP's item table and may be ordered (NAV ``Blocked``, 1C
  ``DeletionMark``), **its unit** is one of the item's (none: the ERP's default unit, NAV's sales
  unit or 1C's base unit), and **its quantity** is a whole number of the item's packs, counted in
  base units (``[order_rules] pack_sizes`` overrides the ERP's pack);
- **each line's product type** is its item's category in the ERP, mapped by ``[catalog]
  product_types``; a storefront value that disagrees is replaced and listed in ``adjusted``.

Everything wrong is refused at once, each problem naming its field (``customer``,
``lines.2.item``, ``lines.0.unit``, ``lines.1.quantity``). The item table and the customers' states
come from :class:`~bus.queries.catalog.Catalog`, cached and stale-tolerant; when the ERP cannot
answer and nothing is known, the order is taken and ``unchecked`` says what was not checked: an
outage of the ERP must not stop the shop, and its own step refuses what it would not take.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bus.adapters.erp_queries import (
    CUSTOMER_BLOCKED,
    CUSTOMER_DELETED,
    CUSTOMER_UNKNOWN,
    ITEM_DELETED,
    ItemInfo,
)
from bus.errors import InvalidParams, UpstreamRefused, UpstreamUnavailable
from bus.queries.catalog import Catalog
from bus.settings import CatalogSettings, OrderRules
from schemas.steps import CustomerProfile

#: A problem with one field of an order: ``{field, type, message}``.
Problem = dict[str, str]

_CUSTOMER_REFUSALS = {
    CUSTOMER_UNKNOWN: "the ERP has no customer {customer}",
    CUSTOMER_BLOCKED: "customer {customer} is blocked in the ERP",
    CUSTOMER_DELETED: "customer {customer} is marked for deletion in the ERP",
}


@dataclass
class OrderFacts:
    """What the checks learnt: the items' entries, what was adjusted, what could not be checked.

    Parameters:
        items: the ERP's entry of each line's item, by code; empty when the ERP could not say.
        adjusted: fields the checks changed (a line's product type), as ``adjusted`` says them.
        unchecked: what could not be checked, and why.
    """

    items: dict[str, ItemInfo] = field(default_factory=dict)
    adjusted: list[dict[str, Any]] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)

    def base_quantity(self, line: Mapping[str, Any]) -> float | None:
        """The line's quantity in its item's base units, if the item table says."""
        info = self.items.get(str(line["item"]))
        per_unit = None if info is None else info.per_unit(line.get("unit"))
        return None if per_unit is None else float(line["quantity"]) * per_unit


class OrderChecks:
    """Checks orders against the directory's profile and the ERP (see the module docstring).

    Parameters:
        catalog: the ERP's cached item table and customer states.
        settings: ``[catalog]``: the product types of the ERP's categories.
        rules: ``[order_rules]``: packs configured over the ERP's.
    """

    def __init__(self, catalog: Catalog, settings: CatalogSettings, rules: OrderRules) -> None:
        self._catalog = catalog
        self._product_types = settings.product_types
        self._packs = rules.pack_sizes

    async def check(self, order: dict[str, Any], profile: CustomerProfile | None) -> OrderFacts:
        """Check ``order`` (``order.submit``'s params as JSON, its lines' product types set from
        the ERP in place) of a customer with ``profile`` in the directory.

        Raises:
            InvalidParams: the customer may not order, or a line is wrong; every problem named.
        """
        facts = OrderFacts()
        problems = await self.customer_problems(order["customer"], profile, facts)
        lines: list[dict[str, Any]] = order["lines"]
        known = await self.items([str(line["item"]) for line in lines], facts)
        if known is not None:
            facts.items = {code: info for code, info in known.items() if info is not None}
        for number, line in enumerate(lines):
            if known is None:
                problems += self._configured_pack(number, line)
                continue
            info = known.get(str(line["item"]))
            line_problems = self.line_problems(number, line, info)
            problems += line_problems
            if info is not None and not line_problems:
                self._product_type(number, line, info, facts)
        if problems:
            raise InvalidParams({"fields": problems})
        return facts

    async def customer_problems(
        self, customer: str, profile: CustomerProfile | None, facts: OrderFacts
    ) -> list[Problem]:
        """Why ``customer`` may not order: deactivated in the directory, or refused by the ERP
        (what could not be checked goes to ``facts.unchecked``)."""
        return _deactivated(customer, profile) + await self._erp_customer(customer, facts)

    def line_problems(
        self, number: int, line: Mapping[str, Any], info: ItemInfo | None
    ) -> list[Problem]:
        """What is wrong with line ``number`` of an order, given its item's entry ``info``."""
        return _line_problems(number, line, info, self._packs)

    async def items(self, codes: list[str], facts: OrderFacts) -> dict[str, ItemInfo | None] | None:
        """The item table's entries of ``codes``; ``None`` (noted in ``facts``) when the ERP
        cannot say."""
        try:
            return await self._catalog.items(codes)
        except (UpstreamUnavailable, UpstreamRefused) as failure:
            facts.unchecked.append(f"items not checked in the ERP: {failure.message}")
            return None

    async def _erp_customer(self, customer: str, facts: OrderFacts) -> list[Problem]:
        try:
            refusal = await self._catalog.customer_refusal(customer)
        except (UpstreamUnavailable, UpstreamRefused) as failure:
            facts.unchecked.append(f"customer not checked in the ERP: {failure.message}")
            return []
        if refusal is None:
            return []
        message = _CUSTOMER_REFUSALS[refusal].format(customer=customer)
        return [{"field": "customer", "type": refusal, "message": message}]

    def _configured_pack(self, number: int, line: Mapping[str, Any]) -> list[Problem]:
        """Without the item table, the configured pack, counted in the line's own quantity."""
        pack = self._packs.get(str(line["item"]))
        if not pack or not _fraction(float(line["quantity"]), pack):
            return []
        message = (
            f"item {line['item']} is sold in packs of {pack};"
            f" {line['quantity']:g} is not a whole number of packs"
        )
        return [{"field": f"lines.{number}.quantity", "type": "pack_size", "message": message}]

    def _product_type(
        self, number: int, line: dict[str, Any], info: ItemInfo, facts: OrderFacts
    ) -> None:
        kind = self._product_types.get(info.category or "")
        said = line.get("product_type")
        if kind is None or said == kind:
            return
        line["product_type"] = kind
        if said is not None:
            facts.adjusted.append(
                {
                    "field": f"lines.{number}.product_type",
                    "from": said,
                    "to": kind,
                    "reason": f"item {info.item} is in the ERP's category {info.category!r}",
                }
            )


def _deactivated(customer: str, profile: CustomerProfile | None) -> list[Problem]:
    deactivated = profile.deactivated if profile is not None else None
    if deactivated is None:
        return []
    message = (
        f"customer {customer} was deactivated (account.deactivate, message"
        f" {deactivated.message_id}); it takes orders again after account.create"
    )
    return [{"field": "customer", "type": "customer_deactivated", "message": message}]


def _line_problems(
    number: int, line: Mapping[str, Any], info: ItemInfo | None, packs: Mapping[str, int]
) -> list[Problem]:
    """What is wrong with one line, the first thing first (a unit of an unknown item is moot)."""
    item = str(line["item"])
    if info is None:
        return [_problem(number, "item", "unknown_item", f"the ERP has no item {item}")]
    if info.refusal is not None:
        how = "marked for deletion" if info.refusal == ITEM_DELETED else "blocked"
        return [_problem(number, "item", info.refusal, f"item {item} is {how} in the ERP")]
    per_unit = info.per_unit(line.get("unit"))
    if per_unit is None:
        units = ", ".join(sorted({info.base_unit, *info.units} - {""})) or info.unit
        message = f"item {item} has no unit {line.get('unit')!r} in the ERP (its units: {units})"
        return [_problem(number, "unit", "unknown_unit", message)]
    pack = packs.get(item) or info.pack
    base = float(line["quantity"]) * per_unit
    if pack > 1 and _fraction(base, pack):
        unit = line.get("unit") or info.unit
        message = (
            f"item {item} is sold in multiples of {pack:g} {info.base_unit or 'units'};"
            f" {line['quantity']:g} {unit} is {base:g}"
        )
        return [_problem(number, "quantity", "pack_size", message)]
    return []


def _problem(number: int, name: str, kind: str, message: str) -> Problem:
    return {"field": f"lines.{number}.{name}", "type": kind, "message": message}


def _fraction(quantity: float, pack: float) -> bool:
    """Whether ``quantity`` is not a whole number of ``pack`` (within float noise)."""
    packs = quantity / pack
    return abs(packs - round(packs)) > 1e-9
