"""Personal prices from NAV through its SOAP codeunit ``B2BPricing.GetCustomerPrices``.

NAV's OData pages have no "best price for this customer and quantity"; the integration codeunit
applies NAV's own rule (customer, price group, all customers, campaign). The call sends
``itemNo:quantity;…`` and gets ``itemNo:price;…`` back in the same order.
"""

from __future__ import annotations

from urllib.parse import quote as url_quote

import httpx

from bus.adapters.erp_queries import Balance, ItemInfo, Quote
from bus.adapters.http import json_object, raise_for_status, upstream_errors
from bus.adapters.navision_soap import SYSTEM, Codeunit, xml_decimal
from bus.errors import PermanentError, TransientError
from bus.settings import NavisionSettings


class NavisionQueries:
    """Asks NAV's pricing codeunit.

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

    async def quote(
        self, customer: str, lines: list[tuple[str, float]], timeout: float
    ) -> list[Quote]:
        """Call ``GetCustomerPrices`` once for every line."""
        # A plain decimal: ``:g`` would write 1e+06, which is no XML decimal.
        requested = ";".join(f"{item}:{xml_decimal(quantity)}" for item, quantity in lines)
        result = await self._pricing.call(
            "GetCustomerPrices",
            {"customerNo": customer, "lines": requested},
            timeout=timeout,
            what="the price query",
        )
        prices = _prices(result)
        if [item for item, _ in prices] != [item for item, _ in lines]:
            raise TransientError(f"{SYSTEM} answered prices for other items: {prices!r:.200}")
        # In the order asked: one item may be asked at several quantities.
        return [
            Quote(item, quantity, price)
            for (item, quantity), (_, price) in zip(lines, prices, strict=True)
        ]

    async def balance(self, customer: str, timeout: float) -> Balance:
        """``Customer`` balance and credit limit (NAV's page publishes no ageing or payments)."""
        key = customer.replace("'", "''")
        with upstream_errors(SYSTEM, idempotent=True):
            response = await self._client.get(
                f"{self._odata}/Customer('{key}')",
                params={"$select": "No,Balance_LCY,Credit_Limit_LCY"},
                auth=self._auth,
                timeout=timeout,
                headers={"Accept": "application/json"},
            )
        if response.status_code == 404:
            raise PermanentError(f"{SYSTEM} has no customer {customer!r}", http_status=404)
        raise_for_status(response, SYSTEM, lambda r: r.text[:300])
        found = json_object(response, SYSTEM, idempotent=True)
        balance = _number(found.get("Balance_LCY"))
        return Balance(balance, _number(found.get("Credit_Limit_LCY")), balance, None, None)

    async def items(self, codes: list[str], timeout: float) -> dict[str, ItemInfo]:
        """``Item`` rows of ``codes`` from OData, with their inventory."""
        wanted = " or ".join(f"No eq '{code.replace(chr(39), chr(39) * 2)}'" for code in codes)
        params = {
            "$filter": wanted,
            "$select": "No,Description,Sales_Unit_of_Measure,Inventory,Blocked",
        }
        with upstream_errors(SYSTEM, idempotent=True):
            response = await self._client.get(
                f"{self._odata}/Item",
                params=params,
                auth=self._auth,
                timeout=timeout,
                headers={"Accept": "application/json"},
            )
        raise_for_status(response, SYSTEM, lambda r: r.text[:300])
        rows = json_object(response, SYSTEM, idempotent=True).get("value") or []
        return {
            str(row["No"]): ItemInfo(
                str(row["No"]),
                str(row.get("Description") or ""),
                str(row.get("Sales_Unit_of_Measure") or ""),
                float(row["Inventory"]) if row.get("Inventory") is not None else None,
                bool(row.get("Blocked")),
            )
            for row in rows
            if isinstance(row, dict) and row.get("No")
        }


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _prices(result: dict[str, str]) -> list[tuple[str, float]]:
    """``itemNo:price;…`` as ``(item, price)`` pairs, in the order NAV answered them."""
    if "return_value" not in result:
        raise TransientError(f"{SYSTEM} answered without a return_value")
    prices: list[tuple[str, float]] = []
    for part in filter(None, result["return_value"].split(";")):
        item, _, price = part.partition(":")
        try:
            prices.append((item.strip(), float(price)))
        except ValueError as exc:
            raise TransientError(f"{SYSTEM} answered a price {part!r}") from exc
    return prices
