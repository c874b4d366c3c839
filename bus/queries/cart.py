"""``cart.import_excel``: the order form read (:mod:`bus.queries.workbook`), checked against the
ERP's catalog, priced through :class:`~bus.queries.prices.PriceService`.

Every row ends up either as a cart line or as a rejected row with its number and reason:
``malformed``, ``unknown_item``, ``blocked_item`` or ``out_of_stock``. Reading the workbook is CPU
work, so it runs in a thread, off the event loop that serves other calls.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bus.adapters.erp_queries import ErpQueries, ItemInfo
from bus.errors import DeliveryError, UpstreamUnavailable
from bus.queries.prices import PriceService
from bus.queries.workbook import Row, read_order_form


class CartImporter:
    """Turns order workbooks into priced carts for one ERP.

    Parameters:
        source: the ERP's catalog.
        prices: the price query (its budget, cache and stale fallback apply).
        system: the ERP's name, for errors.
        budget: the most the catalog query may take, seconds.
    """

    def __init__(
        self, source: ErpQueries, prices: PriceService, system: str, budget: float
    ) -> None:
        self._source = source
        self._prices = prices
        self._system = system
        self._budget = budget

    async def import_excel(self, customer: str, workbook: str) -> dict[str, Any]:
        """The cart of ``workbook`` (base64 .xlsx) for ``customer``."""
        form = await asyncio.to_thread(read_order_form, workbook)
        rejected = [_rejected(row, "malformed", row.problem) for row in form.rows if row.problem]
        rows = [row for row in form.rows if not row.problem]
        catalog = await self._catalog(sorted({str(row.item) for row in rows}))
        taken: list[tuple[Row, ItemInfo]] = []
        for row in rows:
            info = catalog.get(str(row.item))
            problem = _catalog_problem(row, info)
            if problem is not None or info is None:
                rejected.append(_rejected(row, *(problem or ("unknown_item", ""))))
            else:
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

    async def _catalog(self, codes: list[str]) -> dict[str, ItemInfo]:
        if not codes:
            return {}
        try:
            async with asyncio.timeout(self._budget):
                return await self._source.items(codes, self._budget)
        except (DeliveryError, TimeoutError) as failure:
            reason = getattr(failure, "detail", None) or f"no answer within {self._budget:g}s"
            data = {"system": self._system, "reason": reason, "retry_after": 1.0}
            raise UpstreamUnavailable(data) from None

    async def _priced(
        self, customer: str, taken: list[tuple[Row, ItemInfo]]
    ) -> tuple[list[dict[str, Any]], str, bool]:
        if not taken:
            return [], self._source.currency, False
        wanted = list(dict.fromkeys((str(row.item), float(row.quantity or 0)) for row, _ in taken))
        answer = await self._prices.get(customer, wanted)
        price_of = {(p["item"], p["quantity"]): p["price"] for p in answer["prices"]}
        lines = []
        for row, info in taken:
            quantity = float(row.quantity or 0)
            price = price_of.get((info.item, quantity))
            lines.append(
                {
                    "row": row.number,
                    "item": info.item,
                    "description": info.description,
                    "quantity": quantity,
                    "unit": row.unit or info.unit,
                    "price": price,
                    "amount": None if price is None else round(price * quantity, 2),
                }
            )
        return lines, str(answer["currency"]), bool(answer["stale"])


def _catalog_problem(row: Row, info: ItemInfo | None) -> tuple[str, str] | None:
    if info is None:
        return "unknown_item", f"the ERP has no item {row.item}"
    if info.blocked:
        return "blocked_item", f"item {row.item} is blocked in the ERP"
    if info.available is not None and (row.quantity or 0) > info.available:
        return "out_of_stock", f"{row.quantity:g} requested, {info.available:g} available"
    return None


def _rejected(row: Row, reason: str, detail: str | None) -> dict[str, Any]:
    return {"row": row.number, "reason": reason, "item": row.item, "detail": detail or ""}
