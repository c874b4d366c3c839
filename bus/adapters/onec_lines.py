"""1C's ``order.lines``: the customer order's ``Товары`` become the CRM's lines
(:mod:`bus.adapters.erp_lines`).

The document is read first; when its rows' items, quantities and units are the CRM's lines
already, nothing is written. Otherwise the document is PATCHed with the whole new ``Товары``
(1C replaces the section: every row with its ``LineNumber``, each line in its unit as
``sales_order.create`` sends it, without ``Цена``, which 1C fills from its prices), then posted
again if it was posted (a write keeps a posted document posted with its old movements). A repeat
after a lost answer reads what the lost attempt left: it writes again only if the rows still
differ, and posts again, which is harmless. A document marked for deletion (cancelled) keeps its
rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from bus.adapters.base import Delivery, Receipt
from bus.adapters.erp_lines import LineKey, changed, differing, edited_order, kept, unchanged
from bus.adapters.onec_items import ITEMS, SYSTEM
from bus.errors import PermanentError

ORDERS = "Document_ЗаказКлиента"
#: A reference 1C leaves unfilled (a row in the item's base unit has no unit reference).
EMPTY_REF = "00000000-0000-0000-0000-000000000000"
_FIELDS = "Ref_Key,Number,Posted,DeletionMark,Товары"


class Unit(Protocol):
    """The unit a line is in, as 1C knows it (``None`` ``ref``: the item's base unit)."""

    @property
    def ref(self) -> str | None:
        """The ``Catalog_ЕдиницыИзмерения`` entry."""
        ...

    @property
    def coefficient(self) -> float:
        """Base units per unit."""
        ...


class Request(Protocol):
    """One request to 1C's standard OData interface; its JSON body (``{}`` without one)."""

    async def __call__(
        self, method: str, path: str, *, expect_body: bool = True, **kwargs: Any
    ) -> dict[str, Any]:
        """Send ``method`` to ``path``."""
        ...


#: The ``Ref_Key`` of the catalog entry with a code: ``(entity_set, code)``.
RefOf = Callable[[str, str], Awaitable[str]]
#: The unit of an item a line names (``None``: the base unit): ``(item, unit)``.
UnitOf = Callable[[str, str | None], Awaitable[Unit]]


async def replace_rows(
    delivery: Delivery, request: Request, ref_of: RefOf, unit_of: UnitOf
) -> Receipt:
    """Make the customer order's rows the CRM's lines (see the module docstring).

    Raises:
        PermanentError: 1C has no such order, item or unit, or refuses to post the order.
    """
    found, wanted = edited_order(delivery, SYSTEM)
    if not wanted:
        return kept(found, "the CRM's order has no lines")
    try:
        ref_key = str(uuid.UUID(found.erp_key or ""))  # it goes into the URL as a key
    except ValueError:
        raise PermanentError(f"{SYSTEM} order key {found.erp_key!r} is not a GUID") from None
    path = f"/{ORDERS}(guid'{ref_key}')"
    order = await request("GET", path, params={"$select": _FIELDS})
    if order.get("DeletionMark"):
        return kept(found, "the order is marked for deletion")
    rows = [row for row in order.get("Товары") or [] if isinstance(row, dict)]
    new_rows = []
    for number, line in enumerate(wanted, start=1):
        unit = await unit_of(line.item, line.unit)
        row: dict[str, Any] = {
            "LineNumber": str(number),
            "Номенклатура_Key": await ref_of(ITEMS, line.item),
            "Количество": line.quantity,
        }
        if unit.ref is not None:
            row.update({"ЕдиницаИзмерения_Key": unit.ref, "Коэффициент": unit.coefficient})
        new_rows.append(row)
    stale, missing = differing(
        [_key(row) for row in rows], [_key(row) for row in new_rows], any_unit=False
    )
    if not stale and not missing:
        return unchanged(found)
    await request("PATCH", path, json={"Товары": new_rows})
    posted = bool(order.get("Posted"))
    if posted:
        await request(
            "POST", f"{path}/Post", params={"PostingModeOperational": "false"}, expect_body=False
        )
    return changed(found, len(stale), len(missing), posted=posted)


def _key(row: dict[str, Any]) -> LineKey:
    """A ``Товары`` row as compared: its item and unit by reference (none: the base unit)."""
    unit = row.get("ЕдиницаИзмерения_Key")
    return (
        str(row.get("Номенклатура_Key")),
        float(row.get("Количество") or 0),
        None if unit in (None, "", EMPTY_REF) else str(unit),
    )
