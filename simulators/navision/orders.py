"""Sales orders (page 42) and their lines: the business rules NAV runs on insert and modify.

Header ``Amount``/``Amount_Including_VAT`` behave like NAV's FlowFields: they are recalculated
from the lines but changing lines does not modify the header record, so its etag stays.
A deep insert is all-or-nothing: every line is validated before anything is written.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from simulators.navision.crud import ensure_new_key, ensure_same_key, related, stamp
from simulators.navision.errors import bad_request, dialog, field_validation, record_not_found
from simulators.navision.payload import number, parse_decimal, writable_values
from simulators.navision.pricing import best_unit_price
from simulators.navision.schema import CUSTOMER, SALES_LINE, SALES_ORDER
from simulators.navision.store import Record, Store

#: The single VAT rate of the simulated company, in percent.
VAT_PERCENT = 20
LINE_NO_STEP = 10000
_REPRICING_FIELDS = frozenset(["No", "Quantity", "Unit_of_Measure_Code"])


def create_order(store: Store, body: dict[str, Any], today: date) -> Record:
    """Insert a sales order, with the lines of a deep insert (``SalesOrderSalesLines``).

    Raises:
        NavError: on any invalid header or line; nothing is written then.
    """
    header_body = dict(body)
    line_bodies = _line_bodies(header_body.pop(SALES_LINE.name, []))
    values = {
        **SALES_ORDER.defaults(),
        "Order_Date": today.isoformat(),
        **writable_values(SALES_ORDER, header_body),
    }
    _apply_customer(store, values)
    planned = [_line_values(store, values, raw) for raw in line_bodies]
    values["No"] = values["No"] or store.take_no(SALES_ORDER)
    ensure_new_key(store, SALES_ORDER, SALES_ORDER.key_of(values))
    stamp(SALES_ORDER, values, today)
    order = Record(values, store.bump())
    store.orders.insert(order)
    for index, line in enumerate(planned, start=1):
        _insert_line(store, order, line, index * LINE_NO_STEP)
    refresh_totals(store, order)
    return order


def update_order(store: Store, order: Record, body: dict[str, Any], today: date) -> None:
    """Apply a PATCH to a sales header (deep patch is not supported, as in NAV)."""
    changes = writable_values(SALES_ORDER, body)
    ensure_same_key(SALES_ORDER, order, changes)
    if (
        changes.get("Sell_to_Customer_No", order.values["Sell_to_Customer_No"])
        != (order.values["Sell_to_Customer_No"])
    ):
        _apply_customer(store, changes)
    stamp(SALES_ORDER, changes, today)
    store.orders.update(order, changes, store.bump())


def delete_order(store: Store, order: Record) -> None:
    """Delete a sales header and its lines."""
    for line in store.lines_of(order):
        store.lines.delete(SALES_LINE.key_of(line.values))
    store.orders.delete(SALES_ORDER.key_of(order.values))


def add_line(store: Store, order: Record, body: dict[str, Any]) -> Record:
    """Insert one line through ``SalesOrder(...)/SalesOrderSalesLines``."""
    _ensure_open(order)
    values = _line_values(store, order.values, body)
    existing = store.lines_of(order)
    line_no = values.get("Line_No") or (
        (existing[-1].values["Line_No"] if existing else 0) + LINE_NO_STEP
    )
    line = _insert_line(store, order, values, line_no)
    refresh_totals(store, order)
    return line


def update_line(store: Store, order: Record, line: Record, body: dict[str, Any]) -> None:
    """Modify one line; changing item, quantity or unit finds the price again."""
    _ensure_open(order)
    changes = writable_values(SALES_LINE, body)
    ensure_same_key(SALES_LINE, line, changes)
    merged = {k: v for k, v in line.values.items() if not SALES_LINE.by_name[k].read_only}
    if _REPRICING_FIELDS & changes.keys() and "Unit_Price" not in changes:
        del merged["Unit_Price"]
    if "No" in changes and "Description" not in changes:
        del merged["Description"]
    values = _line_values(store, order.values, {**merged, **changes})
    store.lines.update(line, values, store.bump())
    refresh_totals(store, order)


def delete_line(store: Store, order: Record, line: Record) -> None:
    """Delete one line."""
    _ensure_open(order)
    store.lines.delete(SALES_LINE.key_of(line.values))
    refresh_totals(store, order)


def refresh_totals(store: Store, order: Record) -> None:
    """Recalculate the header amounts from the lines, without a new row version."""
    amount = round(sum(line.values["Line_Amount"] for line in store.lines_of(order)), 2)
    order.values["Amount"] = number(amount)
    order.values["Amount_Including_VAT"] = number(round(amount * (100 + VAT_PERCENT) / 100, 2))


def _line_bodies(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not all(isinstance(line, dict) for line in raw):
        raise bad_request(f"'{SALES_LINE.name}' must be a JSON array of entities.")
    return raw


def _apply_customer(store: Store, values: dict[str, Any]) -> None:
    """Validate the sell-to customer and copy its name and address, as OnValidate does."""
    customer_no = values.get("Sell_to_Customer_No", "")
    if not customer_no:
        return
    customer = related(store, CUSTOMER, (customer_no,))
    blocked = customer.values["Blocked"]
    if blocked in ("Ship", "All"):
        raise dialog(
            f"You cannot create this type of document when Customer {customer_no} "
            f"is blocked with type {blocked}"
        )
    values["Sell_to_Customer_Name"] = customer.values["Name"]
    values["Ship_to_Address"] = values.get("Ship_to_Address") or customer.values["Address"]
    values["Ship_to_City"] = values.get("Ship_to_City") or customer.values["City"]


def _line_values(store: Store, header: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """Validate one line body and complete it (description, unit, price, amount)."""
    quantity = _quantity(raw.get("Quantity"))
    values = writable_values(SALES_LINE, raw)
    for name, parent in (("Document_Type", "Document_Type"), ("Document_No", "No")):
        if values.get(name) and header.get(parent) and values[name] != header[parent]:
            raise bad_request(f"'{name}' does not match the sales order.")
    customer_no = header["Sell_to_Customer_No"]
    if not customer_no:
        raise field_validation(
            "Sell-to Customer No. must have a value in Sales Header. It cannot be zero or empty."
        )
    item = _sellable_item(store, values.get("No", ""))
    unit = values.get("Unit_of_Measure_Code") or item["Sales_Unit_of_Measure"]
    if (item["No"], unit) not in store.item_units:
        raise record_not_found("Item Unit of Measure", f"Item No.='{item['No']}',Code='{unit}'")
    price = values.get("Unit_Price")
    if price is None:
        on_date = date.fromisoformat(header["Order_Date"])
        price = best_unit_price(
            store, customer_no, item["No"], quantity, on_date, unit_of_measure=unit
        )
    return {
        **values,
        "Type": "Item",
        "Description": values.get("Description") or item["Description"],
        "Quantity": quantity,
        "Unit_of_Measure_Code": unit,
        "Unit_Price": number(price),
        "Line_Amount": number(round(quantity * price, 2)),
    }


def _quantity(raw: Any) -> float:
    quantity = parse_decimal(raw) if raw is not None else 0
    if quantity is None:
        raise field_validation(f'The value "{raw}" can\'t be evaluated into type Decimal.')
    if quantity <= 0:
        raise field_validation(
            f"Quantity must be greater than 0 in Sales Line. Current value is '{quantity}'."
        )
    return quantity


def _sellable_item(store: Store, item_no: str) -> dict[str, Any]:
    if not item_no:
        raise field_validation("No. must have a value in Sales Line. It cannot be zero or empty.")
    item = store.items.get((item_no,))
    if item is None:
        raise record_not_found("Item", f"No.='{item_no}'")
    if item.values["Blocked"]:
        raise field_validation(
            f"Blocked must be equal to 'No'  in Item: No.={item_no}. Current value is 'Yes'."
        )
    return item.values


def _ensure_open(order: Record) -> None:
    status = order.values["Status"]
    if status != "Open":
        raise field_validation(
            f"Status must be equal to 'Open'  in Sales Header: Document Type=Order, "
            f"No.={order.values['No']}. Current value is '{status}'."
        )


def _insert_line(store: Store, order: Record, values: dict[str, Any], line_no: int) -> Record:
    header = order.values
    line = store.new_record(
        SALES_LINE,
        {
            **values,
            "Document_Type": header["Document_Type"],
            "Document_No": header["No"],
            "Line_No": line_no,
        },
    )
    ensure_new_key(store, SALES_LINE, SALES_LINE.key_of(line.values))
    store.lines.insert(line)
    return line
