"""Microsoft Dynamics NAV / Business Central over OData v4 (page web services, Basic auth).

``sales_order.create`` posts a ``SalesOrder`` with its ``SalesOrderSalesLines`` in one deep insert,
carrying the bus's message id as ``External_Document_No``; ``lookup`` finds an order by that number,
so an attempt that may have landed is never repeated blindly.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from bus.adapters.base import Delivery, Receipt
from bus.adapters.http import raise_for_status, upstream_errors
from bus.errors import PermanentError, TransientError, UnknownOutcome
from bus.settings import NavisionSettings

SYSTEM = "navision"
_SELECT = "No,External_Document_No,Sell_to_Customer_No,Status,Amount,Amount_Including_VAT"


class NavisionAdapter:
    """Delivers the bus's ERP operations to NAV.

    Parameters:
        settings: the service URL (up to ``/ODataV4``), company and credentials.
        client: the process's shared HTTP client.
    """

    def __init__(self, settings: NavisionSettings, client: httpx.AsyncClient) -> None:
        self._client = client
        self._auth = httpx.BasicAuth(settings.username, settings.password.get_secret_value())
        self._base = f"{settings.url.rstrip('/')}/Company('{quote(settings.company, safe='')}')"
        self._timeout = settings.retry.attempt_timeout

    async def deliver(self, delivery: Delivery) -> Receipt:
        """Perform ``delivery.operation`` in NAV (see the module docstring)."""
        if delivery.operation != "sales_order.create":
            raise PermanentError(f"{SYSTEM} has no operation {delivery.operation!r}")
        body = sales_order_body(delivery.message_id, delivery.payload)
        with upstream_errors(SYSTEM, idempotent=False):
            response = await self._client.post(
                f"{self._base}/SalesOrder",
                json=body,
                auth=self._auth,
                timeout=self._timeout,
                headers={"Accept": "application/json"},
            )
        raise_for_status(response, SYSTEM, _nav_error)
        return _receipt(_json(response, idempotent=False))

    async def lookup(self, delivery: Delivery) -> Receipt | None:
        """Find the sales order whose ``External_Document_No`` is the message id."""
        number = delivery.message_id.replace("'", "''")
        params = {"$filter": f"External_Document_No eq '{number}'", "$select": _SELECT}
        with upstream_errors(SYSTEM, idempotent=True):
            response = await self._client.get(
                f"{self._base}/SalesOrder",
                params=params,
                auth=self._auth,
                timeout=self._timeout,
                headers={"Accept": "application/json"},
            )
        raise_for_status(response, SYSTEM, _nav_error)
        found = _json(response, idempotent=True).get("value") or []
        return _receipt(found[0]) if found else None

    async def aclose(self) -> None:
        """NAV's Basic auth keeps no session: nothing to release."""


def sales_order_body(message_id: str, order: dict[str, Any]) -> dict[str, Any]:
    """The NAV ``SalesOrder`` deep-insert body for an ``order.submit`` payload."""
    delivery = order.get("delivery") or {}
    body: dict[str, Any] = {
        "Sell_to_Customer_No": order["customer"],
        "External_Document_No": message_id,
        "Your_Reference": order["order_id"],
        "SalesOrderSalesLines": [_line(line) for line in order["lines"]],
    }
    if delivery.get("date"):
        body["Requested_Delivery_Date"] = delivery["date"]
    if delivery.get("address_code"):
        body["Ship_to_Code"] = delivery["address_code"]
    return body


def _line(line: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"Type": "Item", "No": line["item"], "Quantity": line["quantity"]}
    if line.get("unit"):
        body["Unit_of_Measure_Code"] = line["unit"]
    return body


def _receipt(order: dict[str, Any]) -> Receipt:
    number = order.get("No")
    if not isinstance(number, str) or not number:
        raise UnknownOutcome(f"{SYSTEM} answered without an order number")
    details = {"erp_order_no": number}
    for field in ("Status", "Amount", "Amount_Including_VAT"):
        if field in order:
            details[field.lower()] = order[field]
    return Receipt(reference=number, details=details)


def _json(response: httpx.Response, *, idempotent: bool) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        document = None
    if isinstance(document, dict):
        return document
    detail = f"{SYSTEM} answered {response.status_code} with a body that is not a JSON object"
    if idempotent:  # a proxy's error page, say: asking again later is harmless
        raise TransientError(detail, http_status=response.status_code)
    raise UnknownOutcome(detail, http_status=response.status_code)


def _nav_error(response: httpx.Response) -> str:
    """NAV's ``{"error": {"code", "message"}}`` envelope as one line; raw text otherwise."""
    try:
        error = response.json().get("error") or {}
        return f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
    except (ValueError, AttributeError):
        return response.text[:300] or response.reason_phrase
