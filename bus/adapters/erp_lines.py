"""What every ERP adapter's ``order.lines`` starts from: the order's lines as the CRM shows them.

``order.lines`` is the last step of a CRM change event's route when ``[ownership]
crm_lines_to_erp`` is on: the CRM's order was read (``deal.read``, ``order.read``: the
storefront's form of it, ``fact("order")``, with its ``lines``), the storefront told, and the
journal found the order's ERP order (``journal:order.locate_edited``,
:class:`schemas.order_sync.OrderReferences`), which skips this step for a cancelled order. The
ERP order's lines become the CRM's: item, quantity and unit; the ERP prices them itself (the
CRM's prices are the ERP's, shown). Each ERP reads its order's lines first and changes nothing
when they match already, so an event that changed no line costs one read and writes nothing,
and a repeat after a lost answer converges: it reads what the lost attempt left. NAV deletes
the lines that differ and posts the missing ones (:mod:`bus.adapters.navision_lines`); 1C
replaces the document's ``Товары`` and posts it again if it was posted
(:mod:`bus.adapters.onec_lines`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError

from bus.adapters.base import Delivery, Receipt
from bus.errors import PermanentError
from schemas.order_sync import CrmLine, OrderReferences

#: The operation of every ERP adapter.
OPERATION = "order.lines"
#: Quantities closer than this are the same (the CRM keeps decimals the ERP may round).
_SAME_QUANTITY = 1e-6
_LINES: TypeAdapter[list[CrmLine]] = TypeAdapter(list[CrmLine])

#: A line as compared: its item, its quantity, its unit (``None``: not said).
LineKey = tuple[str, float, str | None]


def edited_order(delivery: Delivery, system: str) -> tuple[OrderReferences, list[CrmLine]]:
    """The ERP order whose lines change, as the journal found it, and the CRM's lines.

    Raises:
        PermanentError: the step before found no ERP order, or the CRM's order was read without
            readable lines (the route is broken).
    """
    try:
        found = OrderReferences.from_fact(delivery.fact(OrderReferences.KEY))
    except ValidationError as invalid:
        raise PermanentError(f"the order's references are unreadable: {invalid}") from None
    if found is None or found.erp_number is None:
        raise PermanentError(f"{system}: {OPERATION} without the ERP order found before it")
    read = delivery.fact("order")
    try:
        lines = _LINES.validate_python(read.get("lines") if isinstance(read, dict) else None)
    except ValidationError as invalid:
        raise PermanentError(f"the CRM's order lines are unreadable: {invalid}") from None
    return found, lines


def differing(
    have: Sequence[LineKey], want: Sequence[LineKey], *, any_unit: bool
) -> tuple[list[int], list[int]]:
    """The lines that differ: the indices of ``have`` no line of ``want`` matches, and of
    ``want`` no line of ``have`` matches, each line matching one other at most.

    Units are compared without case; with ``any_unit`` a wanted line without a unit matches a
    line in any unit (the ERP puts such a line in the item's sales unit).
    """
    unmatched = list(range(len(have)))
    missing = []
    for index, wanted in enumerate(want):
        match = next((i for i in unmatched if _same(have[i], wanted, any_unit)), None)
        if match is None:
            missing.append(index)
        else:
            unmatched.remove(match)
    return unmatched, missing


def _same(had: LineKey, wanted: LineKey, any_unit: bool) -> bool:
    item, quantity, unit = wanted
    if had[0] != item or abs(had[1] - quantity) > _SAME_QUANTITY:
        return False
    if unit is None and any_unit:
        return True
    return (had[2] or "").casefold() == (unit or "").casefold()


def unchanged(found: OrderReferences) -> Receipt:
    """The receipt of an ERP order whose lines already were the CRM's: nothing written."""
    return _receipt(found, "unchanged")


def kept(found: OrderReferences, why: str) -> Receipt:
    """The receipt of an ERP order whose lines stay as they are, for the reason ``why``."""
    return _receipt(found, f"kept: {why}")


def changed(found: OrderReferences, removed: int, added: int, **more: Any) -> Receipt:
    """The receipt of an ERP order whose lines became the CRM's."""
    return _receipt(found, "changed", lines_removed=removed, lines_added=added, **more)


def _receipt(found: OrderReferences, outcome: str, **more: Any) -> Receipt:
    number = found.erp_number or found.order_id
    return Receipt(number, details={"erp_lines": outcome, "erp_order_no": number, **more})
