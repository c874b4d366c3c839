"""The published NAV page services: entity types, keys and typed properties.

One description drives ``$metadata``, body validation, defaults and key parsing, so the
simulator cannot drift from what it advertises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Edm = Literal[
    "Edm.String", "Edm.Decimal", "Edm.Int32", "Edm.Boolean", "Edm.Date", "Edm.DateTimeOffset"
]

#: NAV sends a blank date as the first day of year 1.
BLANK_DATE = "0001-01-01"
#: ... and a blank DateTime as the first moment of that day, in UTC.
BLANK_DATETIME = "0001-01-01T00:00:00Z"

_DEFAULTS: dict[str, Any] = {
    "Edm.String": "",
    "Edm.Decimal": 0,
    "Edm.Int32": 0,
    "Edm.Boolean": False,
    "Edm.Date": BLANK_DATE,
    "Edm.DateTimeOffset": BLANK_DATETIME,
}


@dataclass(frozen=True, slots=True)
class Property:
    """One page field as published: ``No.`` becomes ``No``, spaces become ``_``.

    Parameters:
        name: the OData property name.
        edm: its Edm type.
        max_length: the field length of a Code/Text field (validated, advertised).
        read_only: a calculated or system field; values sent by a client are ignored.
        options: the allowed values of an Option field.
        caption: the field caption NAV uses in messages (``No.``, ``Document Type``).
    """

    name: str
    edm: Edm = "Edm.String"
    max_length: int | None = None
    read_only: bool = False
    options: tuple[str, ...] = ()
    caption: str = ""

    @property
    def default(self) -> Any:
        """The value of a field nobody filled."""
        return self.options[0] if self.options else _DEFAULTS[self.edm]

    @property
    def label(self) -> str:
        """The caption used in NAV's messages."""
        return self.caption or self.name.replace("_", " ")


@dataclass(frozen=True)
class EntityType:
    """A published page: entity set and entity type share the service name, as in NAV.

    Parameters:
        name: the service name (entity set and entity type).
        table: the source table's caption, used in NAV's messages (``Sales Header``).
        key: the primary-key property names, in key order.
        properties: every published property, in page order.
        containment: the name of a contained collection (``SalesOrderSalesLines``).
        indexed: non-key properties the store indexes for ``eq`` lookups.
        number_series: the first number of the series that fills a blank ``No`` on insert
            (``101001``, ``REQ-0001``); ``""`` when the caller must give the key.
        insert_only: the page has ``ModifyAllowed``/``DeleteAllowed`` false: clients insert
            and read, NAV's own users change what was registered.
        read_only: the page allows no insert, modify or delete through OData (a ledger: only
            posting writes it).
    """

    name: str
    table: str
    key: tuple[str, ...]
    properties: tuple[Property, ...]
    containment: str | None = None
    indexed: tuple[str, ...] = ()
    number_series: str = ""
    insert_only: bool = False
    read_only: bool = False
    by_name: dict[str, Property] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {p.name: p for p in self.properties})

    def defaults(self) -> dict[str, Any]:
        """A fresh record with every property at its blank value."""
        return {p.name: p.default for p in self.properties}

    def key_of(self, values: dict[str, Any]) -> tuple[Any, ...]:
        """The primary-key tuple of a record."""
        return tuple(values[name] for name in self.key)

    def identification(self, key: tuple[Any, ...]) -> str:
        """NAV's ``Identification fields and values`` text for a key."""
        pairs = zip(self.key, key, strict=True)
        return ",".join(f"{self.by_name[name].label}='{value}'" for name, value in pairs)


def _code(name: str, length: int, caption: str = "") -> Property:
    return Property(name, "Edm.String", max_length=length, caption=caption)


def _text(name: str, length: int) -> Property:
    return Property(name, "Edm.String", max_length=length)


def _decimal(name: str, read_only: bool = False) -> Property:
    return Property(name, "Edm.Decimal", read_only=read_only)


def _date(name: str, read_only: bool = False) -> Property:
    return Property(name, "Edm.Date", read_only=read_only)


CUSTOMER = EntityType(
    name="Customer",
    table="Customer",
    key=("No",),
    properties=(
        _code("No", 20, "No."),
        _text("Name", 100),
        _text("Address", 100),
        _text("City", 30),
        _code("Post_Code", 20),
        _code("Country_Region_Code", 10, "Country/Region Code"),
        _text("Phone_No", 30),
        _text("E_Mail", 80),
        _code("Customer_Price_Group", 10),
        _code("Customer_Disc_Group", 20),
        _code("Currency_Code", 10),
        _code("Location_Code", 10),
        _decimal("Balance_LCY", read_only=True),
        _decimal("Credit_Limit_LCY"),
        Property("Blocked", options=(" ", "Ship", "Invoice", "All")),
        _text("VAT_Registration_No", 20),
        _date("Last_Date_Modified", read_only=True),
        # Added by the wholesaler's extension (pageextension of Customer Card, addlast): the
        # alcohol licence that lets a customer buy alcohol and the address it is issued for.
        _text("Alcohol_Licence_No", 30),
        _text("Alcohol_Licence_Address", 100),
    ),
)

ITEM = EntityType(
    name="Item",
    table="Item",
    key=("No",),
    properties=(
        _code("No", 20, "No."),
        _text("Description", 100),
        _decimal("Unit_Price"),
        _code("Base_Unit_of_Measure", 10),
        _code("Sales_Unit_of_Measure", 10),
        _decimal("Inventory", read_only=True),
        Property("Blocked", "Edm.Boolean"),
        _code("Item_Category_Code", 20),
        _date("Last_Date_Modified", read_only=True),
    ),
)

SALES_LINE = EntityType(
    name="SalesOrderSalesLines",
    table="Sales Line",
    key=("Document_Type", "Document_No", "Line_No"),
    properties=(
        Property("Document_Type", options=("Order",), caption="Document Type"),
        _code("Document_No", 20, "Document No."),
        Property("Line_No", "Edm.Int32", caption="Line No."),
        Property("Type", options=("Item",)),
        _code("No", 20, "No."),
        _text("Description", 100),
        _decimal("Quantity"),
        _code("Unit_of_Measure_Code", 10),
        _decimal("Unit_Price"),
        _decimal("Line_Amount", read_only=True),
    ),
    indexed=("Document_No",),
)

SALES_ORDER = EntityType(
    name="SalesOrder",
    table="Sales Header",
    key=("Document_Type", "No"),
    properties=(
        Property("Document_Type", options=("Order",), caption="Document Type"),
        _code("No", 20, "No."),
        _code("Sell_to_Customer_No", 20, "Sell-to Customer No."),
        Property("Sell_to_Customer_Name", max_length=100, read_only=True),
        _code("External_Document_No", 35, "External Document No."),
        _date("Order_Date"),
        _date("Requested_Delivery_Date"),
        _code("Ship_to_Code", 10, "Ship-to Code"),
        _text("Ship_to_Address", 100),
        _text("Ship_to_City", 30),
        Property("Status", options=("Open", "Released")),
        _decimal("Amount", read_only=True),
        _decimal("Amount_Including_VAT", read_only=True),
        _text("Your_Reference", 35),
        _date("Last_Date_Modified", read_only=True),
    ),
    containment=SALES_LINE.name,
    indexed=("External_Document_No", "Sell_to_Customer_No"),
    number_series="101001",
)

SALES_PRICES = EntityType(
    name="SalesPrices",
    table="Sales Price",
    key=(
        "Item_No",
        "Sales_Type",
        "Sales_Code",
        "Starting_Date",
        "Currency_Code",
        "Variant_Code",
        "Unit_of_Measure_Code",
        "Minimum_Quantity",
    ),
    properties=(
        _code("Item_No", 20, "Item No."),
        Property(
            "Sales_Type",
            options=("Customer", "Customer Price Group", "All Customers", "Campaign"),
            caption="Sales Type",
        ),
        _code("Sales_Code", 20),
        _date("Starting_Date"),
        _date("Ending_Date"),
        _code("Currency_Code", 10),
        _code("Variant_Code", 10),
        _code("Unit_of_Measure_Code", 10),
        _decimal("Minimum_Quantity"),
        _decimal("Unit_Price"),
    ),
    indexed=("Item_No",),
)

CUSTOMER_CONTRACTS = EntityType(
    name="CustomerContracts",
    table="Customer Contract",
    key=("Customer_No", "No"),
    properties=(
        _code("Customer_No", 20, "Customer No."),
        _code("No", 20, "No."),
        _text("Description", 100),
        # One contract per product line: orders are routed by the lines a customer holds.
        Property(
            "Product_Type", options=("water", "alcohol", "accessories"), caption="Product Type"
        ),
        _date("Starting_Date"),
        Property("Blocked", "Edm.Boolean"),
    ),
    indexed=("Customer_No",),
)

CUSTOMER_LEDGER_ENTRIES = EntityType(
    # Page 25 "Customer Ledger Entries" (table 21 "Cust. Ledger Entry") published as a web
    # service: what posting left to be paid or applied, per document. ``Remaining_Amount`` and
    # ``Remaining_Amt_LCY`` are FlowFields over the detailed entries (the simulator stores
    # them); ``Open`` is cleared when an entry is applied in full.
    name="CustomerLedgerEntries",
    table="Cust. Ledger Entry",
    key=("Entry_No",),
    properties=(
        Property("Entry_No", "Edm.Int32", caption="Entry No."),
        _code("Customer_No", 20, "Customer No."),
        _date("Posting_Date"),
        Property(
            "Document_Type",
            options=(
                " ",
                "Payment",
                "Invoice",
                "Credit Memo",
                "Finance Charge Memo",
                "Reminder",
                "Refund",
            ),
            caption="Document Type",
        ),
        _code("Document_No", 20, "Document No."),
        _text("Description", 100),
        _code("Currency_Code", 10),
        _decimal("Amount", read_only=True),
        _decimal("Amount_LCY", read_only=True),
        _decimal("Remaining_Amount", read_only=True),
        _decimal("Remaining_Amt_LCY", read_only=True),
        _date("Due_Date"),
        Property("Open", "Edm.Boolean"),
    ),
    indexed=("Customer_No",),
    read_only=True,
)

ITEM_UNITS_OF_MEASURE = EntityType(
    # Page 5404 "Item Units of Measure" (table 5404 "Item Unit of Measure") published as a web
    # service: every unit an item is counted in, with how many base units one holds (the base
    # unit's own row at 1). NAV's users keep it on the item card; clients read it.
    name="ItemUnitsOfMeasure",
    table="Item Unit of Measure",
    key=("Item_No", "Code"),
    properties=(
        _code("Item_No", 20, "Item No."),
        _code("Code", 10),
        _decimal("Qty_per_Unit_of_Measure"),
    ),
    indexed=("Item_No",),
    read_only=True,
)

#: The kinds of request the storefront registers for the ERP to decide on.
REQUEST_KINDS = ("delivery_address", "employee")

B2B_REQUESTS = EntityType(
    # A custom page published by the wholesaler's extension: a customer's request (a delivery
    # address, an employee's account) registered for NAV's users to decide on later.
    name="B2BRequests",
    table="B2B Request",
    key=("No",),
    properties=(
        _code("No", 20, "No."),
        # The caller's reference: what finds a request whose answer was lost.
        _text("Request_Id", 50),
        _code("Customer_No", 20, "Customer No."),
        # Text rather than Option, so the extension can add kinds without a schema change; the
        # page's OnInsert refuses kinds it does not know (see ``b2brequests``).
        _text("Kind", 30),
        _text("Details", 2048),
        Property("Status", max_length=20, read_only=True),
        Property("Registered_At", "Edm.DateTimeOffset", read_only=True),
    ),
    indexed=("Request_Id",),
    number_series="REQ-0001",
    insert_only=True,
)

#: The published services, by entity-set name, in the order ``$metadata`` lists them.
ENTITY_SETS: dict[str, EntityType] = {
    e.name: e
    for e in (
        CUSTOMER,
        ITEM,
        ITEM_UNITS_OF_MEASURE,
        SALES_ORDER,
        SALES_PRICES,
        CUSTOMER_CONTRACTS,
        B2B_REQUESTS,
        CUSTOMER_LEDGER_ENTRIES,
    )
}
#: Contained types, by navigation-property name.
CONTAINED: dict[str, EntityType] = {SALES_LINE.name: SALES_LINE}
