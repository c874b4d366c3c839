"""NAV's ``order.lines``: the sales order's lines become the CRM's (:mod:`bus.adapters.erp_lines`).

The order's ``SalesOrderSalesLines`` are read first; when their items, quantities and units are
the CRM's lines already, nothing is written. Otherwise each line that differs is deleted (with its
ETag in ``If-Match``, which NAV requires) and each missing line posted, NAV pricing it as it
prices any new line. A repeat after a lost answer reads what the lost attempt left, so it deletes
and posts only what is still missing: it converges. NAV refuses to change the lines of a released
order (its ``Status`` must be ``Open``): that is its verdict, for an operator.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from bus.adapters.base import Delivery, Receipt
from bus.adapters.erp_lines import LineKey, changed, differing, edited_order, kept, unchanged
from bus.adapters.http import json_object, odata_error, raise_for_status
from bus.adapters.navision_soap import SYSTEM
from bus.adapters.odata_filters import key_segment
from bus.errors import PermanentError
from schemas.order_sync import CrmLine


class Raw(Protocol):
    """One request to NAV's company OData service; its response, whatever the status."""

    async def __call__(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send ``method`` to ``path`` (under the company)."""
        ...


async def replace_lines(raw: Raw, delivery: Delivery) -> Receipt:
    """Make the sales order's lines the CRM's (see the module docstring).

    Raises:
        PermanentError: NAV has no such sales order, or refuses the change (a released order,
            an unknown item or unit).
    """
    found, wanted = edited_order(delivery, SYSTEM)
    if not wanted:
        return kept(found, "the CRM's order has no lines")
    number = found.erp_number or ""
    lines_path = f"/SalesOrder(Document_Type='Order',No={key_segment(number)})/SalesOrderSalesLines"
    response = await raw("GET", lines_path)
    if response.status_code == 404:
        raise PermanentError(f"{SYSTEM} has no sales order {number}", http_status=404)
    raise_for_status(response, SYSTEM, odata_error)
    listed = json_object(response, SYSTEM, idempotent=True).get("value") or []
    lines = [
        line
        for line in listed
        if isinstance(line, dict) and line.get("Type", "Item") == "Item" and line.get("No")
    ]
    stale, missing = differing(
        [_key(line) for line in lines], [_wanted(line) for line in wanted], any_unit=True
    )
    if not stale and not missing:
        return unchanged(found)
    for index in stale:
        await _delete(raw, lines_path, number, lines[index])
    for index in missing:
        posted = await raw("POST", lines_path, json=_body(wanted[index]))
        raise_for_status(posted, SYSTEM, odata_error)
    return changed(found, len(stale), len(missing))


async def _delete(raw: Raw, lines_path: str, number: str, line: dict[str, Any]) -> None:
    """Delete one sales line; one gone already (an earlier attempt's) is deleted."""
    try:
        line_no = int(line["Line_No"])
    except (KeyError, TypeError, ValueError):
        raise PermanentError(f"{SYSTEM} answered a sales line without Line_No") from None
    key = f"Document_Type='Order',Document_No={key_segment(number)},Line_No={line_no}"
    path = f"{lines_path}({key})"
    etag = str(line.get("@odata.etag") or "*")
    deleted = await raw("DELETE", path, headers={"If-Match": etag})
    if deleted.status_code != 404:
        raise_for_status(deleted, SYSTEM, odata_error)


def _key(line: dict[str, Any]) -> LineKey:
    """A NAV sales line as compared."""
    unit = line.get("Unit_of_Measure_Code")
    return str(line["No"]), float(line.get("Quantity") or 0), str(unit) if unit else None


def _wanted(line: CrmLine) -> LineKey:
    return line.item, line.quantity, line.unit


def _body(line: CrmLine) -> dict[str, Any]:
    """A new sales line: NAV prices it (no ``Unit_Price``), in its unit when the CRM names one."""
    body: dict[str, Any] = {"Type": "Item", "No": line.item, "Quantity": line.quantity}
    if line.unit:
        body["Unit_of_Measure_Code"] = line.unit
    return body
