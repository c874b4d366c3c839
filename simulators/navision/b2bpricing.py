"""The ``B2BPricing`` codeunit: personal prices for a web shop, over SOAP.

An integrator's AL codeunit published as a web service (its functions are the simulator's own
contract; the wire format is NAV's). Prices come from :func:`best_unit_price`, the same rule
sales lines use, for the item's sales unit of measure on the work date.

``GetCustomerPrice(customerNo: Code20, itemNo: Code20, quantity: Decimal): Decimal``
    The unit price, e.g. ``<return_value>13.5</return_value>``.

``GetCustomerPrices(customerNo: Code20, lines: Text): Text``
    ``lines`` is ``itemNo:quantity;itemNo:quantity`` (blanks around parts and empty parts are
    ignored); ``return_value`` is ``itemNo:unitPrice;itemNo:unitPrice`` in the same order,
    prices as XML decimals (``1000:13.5;1002:60``). An empty ``lines`` gives an empty string.

``GetCustomerPriceLines(customerNo: Code20, lines: Text; VAR prices: Text; VAR customerBlocked:
Text)``
    The same prices with what a web shop must know to sell them, in one call. ``lines`` as
    above; ``prices`` is ``itemNo:unitPrice:itemBlocked:salesType:salesCode`` per line, in the
    same order, ``;`` between lines: ``itemBlocked`` is ``FORMAT(Item.Blocked)`` (``Yes`` or
    ``No``), ``salesType`` and ``salesCode`` those of the ``Sales Price`` row that gave the price
    (``Campaign:WELCOME`` for a promotion), both empty when the item card's ``Unit Price`` did
    (``1200:5.9:No:Campaign:WELCOME;1005:12.4:Yes::``). ``customerBlocked`` is
    ``FORMAT(Customer.Blocked)``: `` `` (not blocked), ``Ship``, ``Invoice`` or ``All``. NAV
    prices a blocked item or customer like any other (the price rule does not look at
    ``Blocked``); refusing the order is the web shop's business.

``GetCustomerUnitPrices(customerNo: Code20, lines: Text): Text``
    Prices in the unit of measure each line is ordered in, for an order the web shop will not
    place in NAV but must price (its pick-up orders go to the CRM only). ``lines`` is
    ``itemNo:quantity:unitCode`` per line, ``;`` between lines; a blank (or left out)
    ``unitCode`` is the item's sales unit of measure, and the quantity is in that unit, as on a
    sales line. ``return_value`` is ``itemNo:unitCode:unitPrice`` per line, in the same order,
    with the unit the price is for (``1002:BOX:67.2;1000:BOTTLE:13.5``). A unit the item has no
    ``Item Unit of Measure`` for fails the whole call like an unknown item.

An unknown customer or item fails the whole call with ``NavCSideRecordNotFoundException``; a
malformed ``lines`` part with ``NavNCLDialogException`` (an AL ``Error()``).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from simulators.navision.codeunits import Codeunit, Function, Parameter, format_value
from simulators.navision.pricing import BestPrice, best_price
from simulators.navision.service import NavService
from simulators.navision.soap import dialog, record_not_found
from simulators.navision.store import Record


def customer_price(service: NavService, customer_no: str, item_no: str, quantity: Decimal) -> float:
    """The price of ``quantity`` sales units of an item for a customer on the work date.

    Raises:
        SoapFault: ``NavCSideRecordNotFoundException`` for an unknown customer or item.
    """
    _customer(service, customer_no)
    return _best(service, customer_no, _item(service, item_no), quantity).unit_price


def _customer(service: NavService, customer_no: str) -> Record:
    customer = service.store.tables["Customer"].get((customer_no,))
    if customer is None:
        raise record_not_found("Customer", f"No.='{customer_no}'")
    return customer


def _item(service: NavService, item_no: str) -> Record:
    item = service.store.items.get((item_no,))
    if item is None:
        raise record_not_found("Item", f"No.='{item_no}'")
    return item


def _best(service: NavService, customer_no: str, item: Record, quantity: Decimal) -> BestPrice:
    """The best price of ``quantity`` of the item's sales unit on the work date."""
    values = item.values
    unit = values["Sales_Unit_of_Measure"] or values["Base_Unit_of_Measure"]
    return best_price(
        service.store,
        customer_no,
        values["No"],
        float(quantity),
        service.today(),
        unit_of_measure=unit,
    )


def _get_customer_price(service: NavService, arguments: dict[str, Any]) -> float:
    return customer_price(
        service, arguments["customerNo"], arguments["itemNo"], arguments["quantity"]
    )


def _get_customer_prices(service: NavService, arguments: dict[str, Any]) -> str:
    customer_no = arguments["customerNo"]
    priced = []
    for item_no, quantity in parse_lines(arguments["lines"]):
        price = customer_price(service, customer_no, item_no, quantity)
        priced.append(f"{item_no}:{format_value('decimal', price)}")
    return ";".join(priced)


def _get_customer_price_lines(service: NavService, arguments: dict[str, Any]) -> dict[str, str]:
    customer_no = arguments["customerNo"]
    customer = _customer(service, customer_no)
    priced = []
    for item_no, quantity in parse_lines(arguments["lines"]):
        item = _item(service, item_no)
        best = _best(service, customer_no, item, quantity)
        blocked = "Yes" if item.values["Blocked"] else "No"
        price = format_value("decimal", best.unit_price)
        priced.append(f"{item_no}:{price}:{blocked}:{best.sales_type}:{best.sales_code}")
    return {"prices": ";".join(priced), "customerBlocked": customer.values["Blocked"]}


def _get_customer_unit_prices(service: NavService, arguments: dict[str, Any]) -> str:
    customer_no = arguments["customerNo"]
    _customer(service, customer_no)
    priced = []
    for item_no, quantity, unit_code in parse_unit_lines(arguments["lines"]):
        values = _item(service, item_no).values
        unit = unit_code or values["Sales_Unit_of_Measure"] or values["Base_Unit_of_Measure"]
        if (item_no, unit) not in service.store.item_units:
            raise record_not_found("Item Unit of Measure", f"Item No.='{item_no}',Code='{unit}'")
        best = best_price(
            service.store,
            customer_no,
            item_no,
            float(quantity),
            service.today(),
            unit_of_measure=unit,
        )
        priced.append(f"{item_no}:{unit}:{format_value('decimal', best.unit_price)}")
    return ";".join(priced)


def parse_unit_lines(text: str) -> list[tuple[str, Decimal, str]]:
    """Split ``itemNo:quantity:unitCode;…`` into triples (a blank unit is ``""``).

    Raises:
        SoapFault: ``NavNCLDialogException`` for a part without an item or a decimal quantity.
    """
    triples: list[tuple[str, Decimal, str]] = []
    for part in text.split(";"):
        if not part.strip():
            continue
        item_no, _, rest = part.partition(":")
        quantity_text, _, unit = rest.partition(":")
        try:
            quantity = Decimal(quantity_text.strip())
        except InvalidOperation:
            quantity = Decimal("NaN")
        if not item_no.strip() or not quantity.is_finite() or ":" in unit:
            raise dialog(f"The line '{part.strip()}' must have the form itemNo:quantity:unitCode.")
        triples.append((item_no.strip(), quantity, unit.strip()))
    return triples


def parse_lines(text: str) -> list[tuple[str, Decimal]]:
    """Split ``itemNo:quantity;itemNo:quantity`` into pairs.

    Raises:
        SoapFault: ``NavNCLDialogException`` for a part without an item or a decimal quantity.
    """
    pairs: list[tuple[str, Decimal]] = []
    for part in text.split(";"):
        if not part.strip():
            continue
        item_no, _, quantity_text = part.partition(":")
        try:
            quantity = Decimal(quantity_text.strip())
        except InvalidOperation:
            quantity = Decimal("NaN")
        if not item_no.strip() or not quantity.is_finite():
            raise dialog(f"The line '{part.strip()}' must have the form itemNo:quantity.")
        pairs.append((item_no.strip(), quantity))
    return pairs


B2B_PRICING = Codeunit(
    name="B2BPricing",
    functions=(
        Function(
            name="GetCustomerPrice",
            parameters=(
                Parameter("customerNo", "string"),
                Parameter("itemNo", "string"),
                Parameter("quantity", "decimal"),
            ),
            returns="decimal",
            run=_get_customer_price,
        ),
        Function(
            name="GetCustomerPrices",
            parameters=(Parameter("customerNo", "string"), Parameter("lines", "string")),
            returns="string",
            run=_get_customer_prices,
        ),
        Function(
            name="GetCustomerPriceLines",
            parameters=(Parameter("customerNo", "string"), Parameter("lines", "string")),
            returns=None,
            run=_get_customer_price_lines,
            results=(Parameter("prices", "string"), Parameter("customerBlocked", "string")),
        ),
        Function(
            name="GetCustomerUnitPrices",
            parameters=(Parameter("customerNo", "string"), Parameter("lines", "string")),
            returns="string",
            run=_get_customer_unit_prices,
        ),
    ),
)
