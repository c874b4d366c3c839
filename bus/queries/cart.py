"""``cart.import_excel``: the order form read (:mod:`bus.queries.workbook`), checked by the same
rules as ``order.submit`` (:class:`~bus.order_checks.OrderChecks`), priced through
:class:`~bus.queries.prices.PriceService`.

Every row ends up either as a cart line or as a rejected row with its number and reason:
``malformed``, ``unknown_item``, ``blocked_item`` (blocked, or marked for deletion: the detail
says which), ``unknown_unit``, ``pack_size`` or ``out_of_stock`` (with the ``available`` quantity
in the row's unit, in whole packs, for the shop to offer). A customer who may not order is
refused as ``order.submit`` refuses it, so a cart that imports is a cart that can be submitted.
Reading the workbook is CPU work, so it runs in a thread, off the event loop that serves other
calls, one workbook at a time per process, within ``READ_BUDGET`` seconds (the wait for its turn
included).
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from bus.adapters.erp_queries import ItemInfo
from bus.errors import InvalidParams, UpstreamUnavailable
from bus.order_checks import OrderChecks, OrderFacts
from bus.queries.prices import PriceService
from bus.queries.workbook import Row, read_order_form
from schemas.steps import CustomerProfile

#: The most reading one workbook may take, seconds: the rest of the call's budget is the ERP's.
READ_BUDGET = 4.0

#: The order checks' problems, in the cart's words.
_REASONS = {
    "unknown_item": "unknown_item",
    "item_blocked": "blocked_item",
    "item_deleted": "blocked_item",
    "unknown_unit": "unknown_unit",
    "pack_size": "pack_size",
}


class CartImporter:
    """Turns order workbooks into priced carts for one ERP.

    Parameters:
        checks: the order checks (the customer, the ERP's item table).
        prices: the price query (its budget, cache and stale fallback apply).
        system: the ERP's name, for errors.
    """

    def __init__(self, checks: OrderChecks, prices: PriceService, system: str) -> None:
        self._checks = checks
        self._prices = prices
        self._system = system
        # One workbook read at a time per process: reading is CPU work under the GIL, and a
        # large file sent many times at once must not multiply its cost for every other call.
        self._reading = asyncio.Semaphore(1)

    async def import_excel(
        self, customer: str, workbook: str, profile: CustomerProfile | None
    ) -> dict[str, Any]:
        """The cart of ``workbook`` (base64 .xlsx) for ``customer`` with directory ``profile``.

        Raises:
            InvalidParams: the customer may not order, or the workbook cannot be read.
            UpstreamUnavailable: the ERP cannot say what its items are, and nothing is known.
        """
        deadline = time.monotonic() + READ_BUDGET
        async with self._reading:
            form = await asyncio.to_thread(read_order_form, workbook, deadline)
        facts = OrderFacts()
        refused = await self._checks.customer_problems(customer, profile, facts)
        if refused:
            raise InvalidParams({"fields": refused})
        rejected = [_rejected(row, "malformed", row.problem) for row in form.rows if row.problem]
        rows = [row for row in form.rows if not row.problem]
        catalog = await self._catalog(sorted({str(row.item) for row in rows}), facts)
        taken: list[tuple[Row, ItemInfo]] = []
        for row in rows:
            info = catalog.get(str(row.item))
            problem = self._problem(row, info)
            if problem is not None:
                rejected.append(problem)
            elif info is not None:
                taken.append((row, info))
        lines, currency, stale = await self._priced(customer, taken)
        return {
            "customer": customer,
            "sheet": form.sheet,
            "currency": currency,
            "stale": stale,
            "lines": lines,
            "total": round(sum(line["amount"] or 0.0 for line in lines), 2),
            "rejected": sorted(rejected, key=lambda r: r["row"]),
        }

    async def _catalog(self, codes: list[str], facts: OrderFacts) -> dict[str, ItemInfo | None]:
        if not codes:
            return {}
        known = await self._checks.items(codes, facts)
        if known is None:  # a cart is built from the item table: without it there is none
            raise UpstreamUnavailable(
                {"system": self._system, "reason": facts.unchecked[-1], "retry_after": 1.0}
            )
        return known

    def _problem(self, row: Row, info: ItemInfo | None) -> dict[str, Any] | None:
        """The row's rejection by the order checks, or for stock; ``None`` when it is taken."""
        line = _line(row)
        found = self._checks.line_problems(0, line, info)
        if found:
            problem = found[0]
            return _rejected(row, _REASONS[problem["type"]], problem["message"])
        assert info is not None  # no problem: the item is known
        per_unit = info.per_unit(row.unit) or 1.0
        wanted = float(row.quantity or 0) * per_unit
        if info.available is not None and wanted > info.available:
            offer = _whole_packs(info.available, info.pack) / per_unit
            detail = f"{row.quantity:g} requested, {math.floor(offer):g} available"
            return {**_rejected(row, "out_of_stock", detail), "available": math.floor(offer)}
        return None

    async def _priced(
        self, customer: str, taken: list[tuple[Row, ItemInfo]]
    ) -> tuple[list[dict[str, Any]], str, bool]:
        if not taken:
            return [], self._prices.currency, False
        # Prices are per the unit the ERP prices in (the item's default unit): each row's
        # quantity is asked in it, and its price is converted back to the row's unit.
        asked = [(row, info, _in_price_unit(row, info)) for row, info in taken]
        wanted = list(dict.fromkeys((info.item, quantity) for _, info, quantity in asked))
        answer = await self._prices.get(customer, wanted)
        price_of = {(p["item"], p["quantity"]): p["price"] for p in answer["prices"]}
        lines = []
        for row, info, quantity in asked:
            price = price_of.get((info.item, quantity))
            factor = (info.per_unit(row.unit) or 1.0) / (info.per_unit(None) or 1.0)
            unit_price = None if price is None else round(price * factor, 4)
            ordered = float(row.quantity or 0)
            lines.append(
                {
                    "row": row.number,
                    "item": info.item,
                    "description": info.description,
                    "quantity": ordered,
                    "unit": row.unit or info.unit,
                    "price": unit_price,
                    "amount": None if unit_price is None else round(unit_price * ordered, 2),
                }
            )
        return lines, str(answer["currency"]), bool(answer["stale"])


def _line(row: Row) -> dict[str, Any]:
    """The row as an order line."""
    return {"item": str(row.item), "quantity": float(row.quantity or 0), "unit": row.unit}


def _in_price_unit(row: Row, info: ItemInfo) -> float:
    per_unit = info.per_unit(row.unit) or 1.0
    return float(row.quantity or 0) * per_unit / (info.per_unit(None) or 1.0)


def _whole_packs(available: float, pack: float) -> float:
    """``available`` base units, down to whole packs."""
    return math.floor(available / pack) * pack if pack > 1 else available


def _rejected(row: Row, reason: str, detail: str | None) -> dict[str, Any]:
    return {"row": row.number, "reason": reason, "item": row.item, "detail": detail or ""}
