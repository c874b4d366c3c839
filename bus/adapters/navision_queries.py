"""Personal prices and a customer's money position from NAV.

Prices come through the SOAP codeunit ``B2BPricing.GetCustomerPriceLines``: NAV's OData pages
have no "best price for this customer and quantity", so the integration codeunit applies NAV's
own rule (customer, price group, all customers, campaign). One call sends ``itemNo:quantity;…``
and gets, in the same order, each price with the ``Sales Type`` and ``Sales Code`` of the row
that gave it and the item's ``Blocked``, plus the customer's ``Blocked``: a campaign price is a
promotion, and what is blocked is priced but flagged, without a query more.

The balance comes from two OData pages asked side by side: ``Customer`` (``Balance_LCY``,
``Credit_Limit_LCY``) and ``CustomerLedgerEntries`` (page 25 "Customer Ledger Entries"), the
customer's open entries: what remains of its invoices is its receivables, the part of it past
``Due_Date`` its overdue debt, and what remains of its payments (received and posted, not yet
applied to an invoice) its payments in progress. NAV's ``Balance_LCY`` is the sum of every open
entry's remainder, so ``balance = receivables - payments_in_progress`` as in 1C (an unapplied
credit memo aside).

The item table orders are checked against (``items``) is :mod:`bus.adapters.navision_items`'s.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote as url_quote

import httpx

from bus.adapters.erp_queries import (
    CUSTOMER_BLOCKED,
    CUSTOMER_UNKNOWN,
    ITEM_BLOCKED,
    Balance,
    ItemInfo,
    Quote,
)
from bus.adapters.http import json_object, raise_for_status, upstream_errors
from bus.adapters.navision_items import NavisionItems, read_pages
from bus.adapters.navision_soap import SYSTEM, Codeunit, xml_decimal
from bus.adapters.odata_filters import key_segment
from bus.errors import PermanentError, TransientError
from bus.settings import NavisionSettings

#: The service name page 25 "Customer Ledger Entries" is published under.
LEDGER_ENTRIES = "CustomerLedgerEntries"
#: NAV's ``Sales Type`` of a promotion's price.
CAMPAIGN = "Campaign"


class NavisionQueries:
    """Asks NAV's pricing codeunit and its customer pages.

    Parameters:
        settings: NAV's address (the SOAP root is beside ``ODataV4``), company, credentials.
        client: the process's shared HTTP client.
    """

    currency = "LCY"

    def __init__(self, settings: NavisionSettings, client: httpx.AsyncClient) -> None:
        self._client = client
        self._auth = httpx.BasicAuth(settings.username, settings.password.get_secret_value())
        self._odata = (
            f"{settings.url.rstrip('/')}/Company('{url_quote(settings.company, safe='')}')"
        )
        self._pricing = Codeunit(settings, settings.pricing_codeunit, client)
        self._items = NavisionItems(client, self._odata, self._auth)

    async def quote(
        self, customer: str, lines: list[tuple[str, float]], timeout: float
    ) -> list[Quote]:
        """Call ``GetCustomerPriceLines`` once for every line."""
        # A plain decimal: ``:g`` would write 1e+06, which is no XML decimal.
        requested = ";".join(f"{item}:{xml_decimal(quantity)}" for item, quantity in lines)
        result = await self._pricing.call(
            "GetCustomerPriceLines",
            {"customerNo": customer, "lines": requested},
            timeout=timeout,
            what="the price query",
        )
        priced = _price_lines(result)
        if [line.item for line in priced] != [item for item, _ in lines]:
            raise TransientError(f"{SYSTEM} answered prices for other items: {priced!r:.200}")
        # Any blocking stops a sales order: NAV refuses one for Ship and Invoice as for All.
        blocked = result.get("customerBlocked", "").strip()
        refusal = CUSTOMER_BLOCKED if blocked else None
        # In the order asked: one item may be asked at several quantities.
        return [
            Quote(
                item,
                quantity,
                line.price,
                line.sales_type or None,
                line.sales_type == CAMPAIGN,
                ITEM_BLOCKED if line.blocked else None,
                refusal,
            )
            for (item, quantity), line in zip(lines, priced, strict=True)
        ]

    async def balance(self, customer: str, timeout: float) -> Balance:
        """``Customer``'s balance and credit limit and its open ledger entries, side by side."""
        found, entries = await asyncio.gather(
            self._customer_money(customer, timeout), self._open_entries(customer, timeout)
        )
        today = dt.date.today()
        receivables = overdue = paid = 0.0
        for entry in entries:
            remaining = _number(entry.get("Remaining_Amt_LCY")) or 0.0
            if remaining > 0:
                receivables += remaining
                # Due on its due date, overdue from the day after (as NAV's ageing counts).
                if str(entry.get("Due_Date") or "") < today.isoformat():
                    overdue += remaining
            elif entry.get("Document_Type") == "Payment":
                paid -= remaining
        return Balance(
            _number(found.get("Balance_LCY")),
            _number(found.get("Credit_Limit_LCY")),
            round(receivables, 2),
            round(overdue, 2),
            round(paid, 2),
        )

    async def customer_refusal(self, customer: str, timeout: float) -> str | None:
        """``Customer``'s ``Blocked``: ``Ship``, ``Invoice`` or ``All`` take no orders."""
        try:
            found = await self._customer(customer, "No,Blocked", timeout)
        except PermanentError as refused:
            if refused.http_status == 404:
                return CUSTOMER_UNKNOWN
            raise
        return CUSTOMER_BLOCKED if str(found.get("Blocked") or "").strip() else None

    async def _customer_money(self, customer: str, timeout: float) -> dict[str, Any]:
        return await self._customer(customer, "No,Balance_LCY,Credit_Limit_LCY", timeout)

    async def _customer(self, customer: str, fields: str, timeout: float) -> dict[str, Any]:
        """``Customer('<customer>')`` with ``fields``; a 404 is a ``PermanentError``."""
        with upstream_errors(SYSTEM, idempotent=True):
            response = await self._client.get(
                f"{self._odata}/Customer({key_segment(customer)})",
                params={"$select": fields},
                auth=self._auth,
                timeout=timeout,
                headers={"Accept": "application/json"},
            )
        if response.status_code == 404:
            raise PermanentError(f"{SYSTEM} has no customer {customer!r}", http_status=404)
        raise_for_status(response, SYSTEM, lambda r: r.text[:300])
        return json_object(response, SYSTEM, idempotent=True)

    async def _open_entries(self, customer: str, timeout: float) -> list[dict[str, Any]]:
        """The customer's open ledger entries, every page of them (NAV pages server-side)."""
        key = customer.replace("'", "''")
        return await read_pages(
            self._client,
            self._auth,
            f"{self._odata}/{LEDGER_ENTRIES}",
            f"Customer_No eq '{key}' and Open eq true",
            "Entry_No,Document_Type,Due_Date,Remaining_Amt_LCY",
            timeout,
        )

    async def items(self, codes: list[str], timeout: float) -> dict[str, ItemInfo]:
        """``Item`` rows of ``codes`` with their units of measure (see :mod:`navision_items`)."""
        return await self._items.read(codes, timeout)


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class _PriceLine:
    """One line of ``GetCustomerPriceLines``' ``prices``."""

    item: str
    price: float
    blocked: bool
    sales_type: str
    sales_code: str


def _price_lines(result: dict[str, str]) -> list[_PriceLine]:
    """``itemNo:price:blocked:salesType:salesCode;…`` in the order NAV answered them.

    The sales code comes last, so a code with a colon in it is read whole.
    """
    if "prices" not in result:
        raise TransientError(f"{SYSTEM} answered without prices")
    lines: list[_PriceLine] = []
    for part in filter(None, result["prices"].split(";")):
        fields = part.split(":", 4)
        try:
            item, price, blocked, sales_type, sales_code = fields
            lines.append(
                _PriceLine(
                    item.strip(), float(price), blocked == "Yes", sales_type.strip(), sales_code
                )
            )
        except ValueError as exc:
            raise TransientError(f"{SYSTEM} answered a price line {part!r}") from exc
    return lines
