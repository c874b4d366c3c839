"""NAV's item table as orders are checked against it: the ``Item`` page and the item's units.

Two OData pages, asked side by side for every code at once: ``Item`` (``Base_Unit_of_Measure``,
``Sales_Unit_of_Measure``, ``Item_Category_Code``, ``Inventory`` in base units, ``Blocked``) and
``ItemUnitsOfMeasure`` (page 5404 "Item Units of Measure": ``Item_No``, ``Code``,
``Qty_per_Unit_of_Measure``). A line without a unit is in the sales unit, as NAV's sales line
takes it (the base unit when the item names none); an item sold in a unit other than its base
unit is sold in multiples of that unit's quantity.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import httpx

from bus.adapters.erp_queries import ITEM_BLOCKED, ItemInfo
from bus.adapters.http import json_object, raise_for_status, upstream_errors
from bus.adapters.navision_soap import SYSTEM
from bus.adapters.odata_filters import any_of
from bus.errors import TransientError

#: The service name page 5404 "Item Units of Measure" is published under.
ITEM_UNITS = "ItemUnitsOfMeasure"
_ITEM_FIELDS = (
    "No,Description,Base_Unit_of_Measure,Sales_Unit_of_Measure,Item_Category_Code,Inventory,Blocked"
)
_UNIT_FIELDS = "Item_No,Code,Qty_per_Unit_of_Measure"


class NavisionItems:
    """Reads items and their units from NAV's OData pages.

    Parameters:
        client: the process's shared HTTP client.
        odata: the company's OData root (``…/ODataV4/Company('CRONUS')``).
        auth: NAV's credentials.
    """

    def __init__(self, client: httpx.AsyncClient, odata: str, auth: httpx.Auth) -> None:
        self._client = client
        self._odata = odata
        self._auth = auth

    async def read(self, codes: list[str], timeout: float) -> dict[str, ItemInfo]:
        """The items of ``codes`` that NAV has, by ``No``."""
        if not codes:
            return {}
        items, units = await asyncio.gather(
            self._rows("Item", "No", codes, _ITEM_FIELDS, timeout),
            self._rows(ITEM_UNITS, "Item_No", codes, _UNIT_FIELDS, timeout),
        )
        per_item: dict[str, dict[str, float]] = defaultdict(dict)
        for row in units:
            quantity = _number(row.get("Qty_per_Unit_of_Measure"))
            if row.get("Item_No") and row.get("Code") and quantity is not None:
                per_item[str(row["Item_No"])][str(row["Code"])] = quantity
        return {
            str(row["No"]): _item(row, per_item[str(row["No"])]) for row in items if row.get("No")
        }

    async def _rows(
        self, page: str, field: str, codes: list[str], fields: str, timeout: float
    ) -> list[dict[str, Any]]:
        """The rows of ``page`` whose ``field`` is one of ``codes``, every chunk side by side."""
        chunks = await asyncio.gather(
            *(self._all_pages(page, wanted, fields, timeout) for wanted in any_of(field, codes))
        )
        return [row for chunk in chunks for row in chunk]

    async def _all_pages(
        self, page: str, wanted: str, fields: str, timeout: float
    ) -> list[dict[str, Any]]:
        url = f"{self._odata}/{page}"
        return await read_pages(self._client, self._auth, url, wanted, fields, timeout)


def _item(row: dict[str, Any], units: dict[str, float]) -> ItemInfo:
    base = str(row.get("Base_Unit_of_Measure") or "")
    sales = str(row.get("Sales_Unit_of_Measure") or "") or base
    # The base unit counts itself once, whether or not the page lists it.
    all_units = {**units, base: 1.0} if base else dict(units)
    return ItemInfo(
        item=str(row["No"]),
        description=str(row.get("Description") or ""),
        unit=sales,
        available=_number(row.get("Inventory")),
        refusal=ITEM_BLOCKED if row.get("Blocked") else None,
        base_unit=base,
        category=str(row.get("Item_Category_Code") or "") or None,
        units=all_units,
        pack=all_units.get(sales, 1.0) if sales != base else 1.0,
    )


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


async def read_pages(
    client: httpx.AsyncClient, auth: httpx.Auth, url: str, wanted: str, fields: str, timeout: float
) -> list[dict[str, Any]]:
    """Every row of one filtered read of a NAV page at ``url`` (NAV pages server-side: the next
    link carries the query; the caller's time budget bounds how many pages are read)."""
    params: dict[str, str] | None = {"$filter": wanted, "$select": fields}
    next_url: str | None = url
    rows: list[dict[str, Any]] = []
    while next_url is not None:
        with upstream_errors(SYSTEM, idempotent=True):
            response = await client.get(
                next_url,
                params=params,
                auth=auth,
                timeout=timeout,
                headers={"Accept": "application/json"},
            )
        raise_for_status(response, SYSTEM, lambda r: r.text[:300])
        answer = json_object(response, SYSTEM, idempotent=True)
        value = answer.get("value")
        if not isinstance(value, list):
            raise TransientError(f"{SYSTEM} answered {url} without a value list")
        rows.extend(row for row in value if isinstance(row, dict))
        link = answer.get("@odata.nextLink")
        next_url, params = (link, None) if isinstance(link, str) and link else (None, None)
    return rows
