"""NAV's best-price rule over ``SalesPrices`` (table 7002), and nothing more.

The price of an item for a customer is the lowest ``Unit_Price`` among the rows for the
customer itself, its ``Customer_Price_Group``, ``All Customers`` and any ``Campaign``, keeping
rows with ``Minimum_Quantity <= quantity`` and ``Starting_Date <= date <= Ending_Date`` (a blank
date is open). Without such a row the item's ``Unit_Price`` applies. Between rows of the same
price the first in the table's key order wins (NAV's ``CalcBestUnitPrice`` only takes a lower
one), and ``Sales_Type`` is the key's second field: a campaign wins only when it is cheaper.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from simulators.navision.schema import BLANK_DATE
from simulators.navision.store import Store

#: ``Sales_Type`` in the option order NAV sorts the ``Sales Price`` key by.
_SALES_TYPES = ("Customer", "Customer Price Group", "All Customers", "Campaign")


@dataclass(frozen=True, slots=True)
class BestPrice:
    """A unit price and the ``SalesPrices`` row it came from.

    Parameters:
        unit_price: the price per unit asked for.
        sales_type: the row's ``Sales_Type`` (``Campaign`` for a promotion); ``""`` when no row
            applied and the item card's ``Unit_Price`` did.
        sales_code: the row's ``Sales_Code`` (the customer, price group or campaign number).
    """

    unit_price: float
    sales_type: str = ""
    sales_code: str = ""


def best_unit_price(
    store: Store,
    customer_no: str,
    item_no: str,
    quantity: float,
    on_date: date,
    *,
    unit_of_measure: str | None = None,
) -> float:
    """The unit price NAV would put on a sales line (see :func:`best_price`)."""
    return best_price(
        store, customer_no, item_no, quantity, on_date, unit_of_measure=unit_of_measure
    ).unit_price


def best_price(
    store: Store,
    customer_no: str,
    item_no: str,
    quantity: float,
    on_date: date,
    *,
    unit_of_measure: str | None = None,
) -> BestPrice:
    """The unit price NAV would put on a sales line, and where it came from.

    Parameters:
        store: the simulator's data.
        customer_no: the sell-to customer (an unknown one only gets general prices).
        item_no: the item.
        quantity: the line quantity, in ``unit_of_measure``.
        on_date: the order date the price must be valid on.
        unit_of_measure: the line's unit; ``None`` means "any unit". When given, rows for
            another unit are skipped and the list price is converted from the base unit.

    Raises:
        KeyError: when the item does not exist.
    """
    item = store.items.get((item_no,))
    if item is None:
        raise KeyError(item_no)
    customer = store.tables["Customer"].get((customer_no,))
    group = customer.values["Customer_Price_Group"] if customer else ""
    day = on_date.isoformat()
    rows = [
        row.values
        for row in store.prices.lookup("Item_No", item_no)
        if _is_for(row.values, customer_no, group)
        and _applies(row.values, quantity, day, unit_of_measure)
    ]
    if rows:
        best = min(rows, key=lambda r: (r["Unit_Price"], *_key_order(r)))
        return BestPrice(float(best["Unit_Price"]), best["Sales_Type"], best["Sales_Code"])
    per_unit = store.item_units.get((item_no, unit_of_measure or ""), 1)
    return BestPrice(round(float(item.values["Unit_Price"]) * per_unit, 5))


def _key_order(row: dict[str, Any]) -> tuple[Any, ...]:
    """Where ``row`` sorts in the ``Sales Price`` key (the fields that can differ here)."""
    return (
        _SALES_TYPES.index(row["Sales_Type"]),
        row["Sales_Code"],
        row["Starting_Date"],
        row["Unit_of_Measure_Code"],
        row["Minimum_Quantity"],
    )


def _is_for(row: dict[str, Any], customer_no: str, group: str) -> bool:
    sales_type = row["Sales_Type"]
    if sales_type == "Customer":
        return bool(customer_no) and row["Sales_Code"] == customer_no
    if sales_type == "Customer Price Group":
        return bool(group) and row["Sales_Code"] == group
    return sales_type in ("All Customers", "Campaign")


def _applies(row: dict[str, Any], quantity: float, day: str, unit: str | None) -> bool:
    # The simulator prices in LCY without variants, so only such rows can match.
    if row["Currency_Code"] or row["Variant_Code"]:
        return False
    if unit is not None and row["Unit_of_Measure_Code"] not in ("", unit):
        return False
    starting, ending = row["Starting_Date"], row["Ending_Date"]
    return bool(
        row["Minimum_Quantity"] <= quantity
        and (starting == BLANK_DATE or starting <= day)
        and (ending == BLANK_DATE or day <= ending)
    )
