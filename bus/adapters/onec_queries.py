"""Personal prices from 1C through its HTTP service ``GET /hs/b2b/v1/prices``.

The standard OData interface has the price register but not the configuration's rule for the
best price; the publication's HTTP service applies it and answers
``{"currency", "customer_deletion_mark", "prices": [{"item", "quantity", "price", "kind", "promo",
"deletion_mark"}]}``: a promotion is the price kind ``Акция``, and a customer or item marked for
deletion is priced but flagged. ``balance`` answers every figure of the customer's settlements.
The item table orders are checked against (``items``: the catalog, its units and the stock
register, over the standard OData interface) is :mod:`bus.adapters.onec_items`'s.
"""

from __future__ import annotations

from typing import Any

import httpx

from bus.adapters.erp_queries import (
    CUSTOMER_DELETED,
    CUSTOMER_UNKNOWN,
    ITEM_DELETED,
    Balance,
    ItemInfo,
    Quote,
)
from bus.adapters.http import json_object, raise_for_status, upstream_errors
from bus.adapters.onec_items import OnecItems
from bus.errors import PermanentError, TransientError
from bus.settings import OnecSettings

SYSTEM = "onec"


class OnecQueries:
    """Asks 1C's HTTP service.

    Parameters:
        settings: the publication's URL and the 1C user.
        client: the process's shared HTTP client.
    """

    currency = "RUB"

    def __init__(self, settings: OnecSettings, client: httpx.AsyncClient) -> None:
        self._client = client
        self._auth = httpx.BasicAuth(settings.username, settings.password.get_secret_value())
        self._url = f"{settings.url.rstrip('/')}/hs/b2b/v1/prices"
        self._balance = f"{settings.url.rstrip('/')}/hs/b2b/v1/balance"
        self._catalog = OnecItems(
            client, f"{settings.url.rstrip('/')}/odata/standard.odata", self._auth
        )
        self._counterparties = (
            f"{settings.url.rstrip('/')}/odata/standard.odata/Catalog_Контрагенты"
        )

    async def quote(
        self, customer: str, lines: list[tuple[str, float]], timeout: float
    ) -> list[Quote]:
        """One GET for every line."""
        params = {
            "customer": customer,
            "items": ",".join(item for item, _ in lines),
            "quantities": ",".join(f"{quantity:g}" for _, quantity in lines),
        }
        with upstream_errors(SYSTEM, idempotent=True):
            response = await self._client.get(
                self._url, params=params, auth=self._auth, timeout=timeout
            )
        if response.status_code in (400, 404):
            raise PermanentError(f"{SYSTEM} refused the price query: {service_error(response)}")
        raise_for_status(response, SYSTEM, service_error)
        answer = json_object(response, SYSTEM, idempotent=True)
        quoted = answer.get("prices")
        if not isinstance(quoted, list) or len(quoted) != len(lines):
            raise TransientError(f"{SYSTEM} answered {len(lines)} items with {quoted!r:.100}")
        # 1C keeps an object marked for deletion until someone purges it; nobody may order it.
        refusal = CUSTOMER_DELETED if answer.get("customer_deletion_mark") else None
        return [
            _quote(entry, item, quantity, refusal)
            for entry, (item, quantity) in zip(quoted, lines, strict=True)
        ]

    async def balance(self, customer: str, timeout: float) -> Balance:
        """``GET balance``: every figure the storefront shows."""
        with upstream_errors(SYSTEM, idempotent=True):
            response = await self._client.get(
                self._balance, params={"customer": customer}, auth=self._auth, timeout=timeout
            )
        if response.status_code in (400, 404):
            raise PermanentError(f"{SYSTEM} refused the balance query: {service_error(response)}")
        raise_for_status(response, SYSTEM, service_error)
        found = json_object(response, SYSTEM, idempotent=True)
        figures = [
            found.get(name)
            for name in (
                "balance",
                "credit_limit",
                "receivables",
                "overdue",
                "payments_in_progress",
            )
        ]
        if not all(isinstance(f, int | float) or f is None for f in figures):
            raise TransientError(f"{SYSTEM} answered a balance of unknown shape: {found!r:.200}")
        return Balance(*(None if f is None else float(f) for f in figures))

    async def items(self, codes: list[str], timeout: float) -> dict[str, ItemInfo]:
        """Items of ``codes`` with their units and stock (see :mod:`onec_items`)."""
        return await self._catalog.read(codes, timeout)

    async def customer_refusal(self, customer: str, timeout: float) -> str | None:
        """The counterparty of ``Code`` ``customer``: unknown, or marked for deletion."""
        code = customer.replace("'", "''")
        params = {
            "$filter": f"Code eq '{code}' and IsFolder eq false",
            "$select": "Code,DeletionMark",
            "$format": "json",
        }
        with upstream_errors(SYSTEM, idempotent=True):
            response = await self._client.get(
                self._counterparties, params=params, auth=self._auth, timeout=timeout
            )
        raise_for_status(response, SYSTEM, service_error)
        rows = json_object(response, SYSTEM, idempotent=True).get("value") or []
        if not rows:
            return CUSTOMER_UNKNOWN
        # 1C keeps an object marked for deletion until someone purges it; nobody may order it.
        return CUSTOMER_DELETED if any(row.get("DeletionMark") for row in rows) else None


def _quote(entry: Any, item: str, quantity: float, customer_refusal: str | None) -> Quote:
    if not isinstance(entry, dict) or not isinstance(entry.get("price"), int | float | None):
        raise TransientError(f"{SYSTEM} answered a price entry {entry!r:.100}")
    price = entry.get("price")
    return Quote(
        item,
        quantity,
        None if price is None else float(price),
        entry.get("kind"),
        bool(entry.get("promo")),
        ITEM_DELETED if entry.get("deletion_mark") else None,
        customer_refusal,
    )


def service_error(response: httpx.Response) -> str:
    """The 1C HTTP service's ``{"error": "…"}``; raw text otherwise."""
    try:
        return str(response.json().get("error"))
    except (ValueError, AttributeError):
        return response.text[:300] or response.reason_phrase
