"""1C's item table as orders are checked against it: the item catalog, its units and its stock.

Three reads of the standard OData interface. ``Catalog_Номенклатура`` by ``Code`` gives each
item's ``Ref_Key``, base unit (``ЕдиницаИзмерения``), ``ВидНоменклатуры``, ``КратностьУпаковки``
and ``DeletionMark``; then, side by side for every item found, its units
(``Catalog_ЕдиницыИзмерения``, subordinate to the item through ``Owner_Key``, ``Коэффициент`` base
units per unit) and its stock: the stock register's ``Balance`` virtual table,
``AccumulationRegister_ТоварыНаСкладах/Balance(Condition='Номенклатура_Key eq guid''…''',
Dimensions='Номенклатура')``, which sums the warehouses and leaves out what has none. A line
without a unit is in the base unit; stock is in base units.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any
from urllib.parse import quote

import httpx

from bus.adapters.erp_queries import ITEM_DELETED, ItemInfo
from bus.adapters.http import json_object, raise_for_status, upstream_errors
from bus.adapters.odata_filters import any_of
from bus.errors import TransientError

SYSTEM = "onec"
ITEMS = "Catalog_Номенклатура"
UNITS = "Catalog_ЕдиницыИзмерения"
#: The accumulation register of goods on hand per item and warehouse (УТ 11's).
STOCK = "AccumulationRegister_ТоварыНаСкладах"
#: Its resource: the quantity on hand, in base units.
ON_HAND = "ВНаличии"
_ITEM_FIELDS = (
    "Ref_Key,Code,Description,ЕдиницаИзмерения,ВидНоменклатуры,КратностьУпаковки,DeletionMark"
)
_UNIT_FIELDS = "Owner_Key,Code,Коэффициент,DeletionMark"
#: What stays as is in a path: everything else (Cyrillic names, spaces) is percent-encoded.
_PATH_SYNTAX = "/()=,'"


class OnecItems:
    """Reads items, their units and their stock from 1C's standard OData interface.

    Parameters:
        client: the process's shared HTTP client.
        odata: the interface's root (``…/odata/standard.odata``).
        auth: the 1C user.
    """

    def __init__(self, client: httpx.AsyncClient, odata: str, auth: httpx.Auth) -> None:
        self._client = client
        self._odata = odata.rstrip("/")
        self._auth = auth

    async def read(self, codes: list[str], timeout: float) -> dict[str, ItemInfo]:
        """The items of ``codes`` that 1C has, by the code asked for.

        1C compares codes without case, so an item is found by any case of its code.
        """
        if not codes:
            return {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        rows = await self._all(ITEMS, any_of("Code", codes), _ITEM_FIELDS, timeout)
        items = {str(r["Ref_Key"]): r for r in rows if r.get("Ref_Key") and r.get("Code")}
        if not items:
            return {}
        # The second round shares the call's budget with the first.
        left = deadline - loop.time()
        if left <= 0:
            raise TransientError(f"{SYSTEM} took the whole {timeout:g} s to find the items")
        units, stock = await asyncio.gather(
            self._units(list(items), left), self._stock(list(items), left)
        )
        by_code = {str(r["Code"]).casefold(): ref for ref, r in items.items()}
        found: dict[str, ItemInfo] = {}
        for code in codes:
            ref = by_code.get(code.casefold())
            if ref is not None:
                found[code] = _item(items[ref], units[ref], stock.get(ref, 0.0))
        return found

    async def _units(self, refs: list[str], timeout: float) -> dict[str, dict[str, float]]:
        """Each item's units not marked for deletion: code -> base units per unit."""
        filters = any_of("Owner_Key", refs, _guid)
        rows = await self._all(UNITS, filters, _UNIT_FIELDS, timeout)
        units: dict[str, dict[str, float]] = defaultdict(dict)
        for row in rows:
            coefficient = _number(row.get("Коэффициент"))
            if row.get("DeletionMark") or not row.get("Code") or not coefficient:
                continue
            units[str(row.get("Owner_Key"))][str(row["Code"])] = coefficient
        return units

    async def _stock(self, refs: list[str], timeout: float) -> dict[str, float]:
        """Each item's stock summed over the warehouses; an item without any is absent."""
        # The condition is a string argument in the path: its own quotes are doubled.
        conditions = any_of("Номенклатура_Key", refs, lambda ref: f"guid''{ref}''")
        pages = await asyncio.gather(
            *(
                self._get(
                    f"{STOCK}/Balance(Condition='{condition}',Dimensions='Номенклатура')",
                    {"$select": f"Номенклатура_Key,{ON_HAND}Balance"},
                    timeout,
                )
                for condition in conditions
            )
        )
        stock: dict[str, float] = defaultdict(float)
        for row in (row for page in pages for row in page):
            quantity = _number(row.get(f"{ON_HAND}Balance"))
            if row.get("Номенклатура_Key") and quantity is not None:
                stock[str(row["Номенклатура_Key"])] += quantity
        return stock

    async def _all(
        self, entity_set: str, filters: list[str], fields: str, timeout: float
    ) -> list[dict[str, Any]]:
        """The rows of ``entity_set`` matching any of ``filters``, each chunk side by side."""
        pages = await asyncio.gather(
            *(self._get(entity_set, {"$filter": f, "$select": fields}, timeout) for f in filters)
        )
        return [row for page in pages for row in page]

    async def _get(self, path: str, params: dict[str, str], timeout: float) -> list[dict[str, Any]]:
        """One GET of the interface: the answer's ``value`` rows (1C does not page)."""
        url = f"{self._odata}/{quote(path, safe=_PATH_SYNTAX)}"
        with upstream_errors(SYSTEM, idempotent=True):
            response = await self._client.get(
                url,
                params={**params, "$format": "json"},
                auth=self._auth,
                timeout=timeout,
            )
        raise_for_status(response, SYSTEM, odata_error)
        value = json_object(response, SYSTEM, idempotent=True).get("value")
        if not isinstance(value, list):
            raise TransientError(f"{SYSTEM} answered {path.split('/')[0]} without a value list")
        return [row for row in value if isinstance(row, dict)]


def _item(row: dict[str, Any], units: dict[str, float], stock: float) -> ItemInfo:
    base = str(row.get("ЕдиницаИзмерения") or "")
    pack = _number(row.get("КратностьУпаковки"))
    return ItemInfo(
        item=str(row["Code"]),
        description=str(row.get("Description") or ""),
        unit=base,
        available=stock,
        refusal=ITEM_DELETED if row.get("DeletionMark") else None,
        base_unit=base,
        category=str(row.get("ВидНоменклатуры") or "") or None,
        # The base unit counts itself once, whatever the units catalog says.
        units={**units, base: 1.0} if base else units,
        pack=pack if pack and pack > 0 else 1.0,
    )


def _guid(ref: str) -> str:
    return f"guid'{ref}'"


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def odata_error(response: httpx.Response) -> str:
    """1C's ``{"odata.error": {"code", "message": {"value"}}}`` as one line; raw text otherwise."""
    try:
        error = response.json().get("odata.error") or {}
        return f"{error.get('code', '')}: {(error.get('message') or {}).get('value', '')}"
    except (ValueError, AttributeError):
        return response.text[:300] or response.reason_phrase
