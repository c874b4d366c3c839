"""NAV's best-price rule over ``SalesPrices`` (table 7002), and nothing more.

The price of an item for a customer is the lowest ``Unit_Price`` among the rows for the
customer itself, its ``Customer_Price_Group``, ``All Customers`` and any ``Campaign``, keeping
rows with ``Minimum_Quantity <= quantity`` and ``Starting_Date <= date <= Ending_Date`` (a blank
date is open). Without such a row the item's ``Unit_Price`` applies.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from simulators.navision.schema import BLANK_DATE
from simulators.navision.store import Store


def best_unit_price(
    store: Store,
    customer_no: str,
    item_no: str,
    quantity: float,
    on_date: date,
    *,
    unit_of_measure: str | None = None,
) -> float:
    """The unit price NAV would put on a sales line.

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
    prices = [
        row.values["Unit_Price"]
        for row in store.prices.lookup("Item_No", item_no)
        if _is_for(row.values, customer_no, group)
        and _applies(row.values, quantity, day, unit_of_measure)
    ]
    if prices:
        return float(min(prices))
    per_unit = store.item_units.get((item_no, unit_of_measure or ""), 1)
    return round(float(item.values["Unit_Price"]) * per_unit, 5)


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
