"""Deterministic demo data: a beverage wholesaler's customers, contracts, items and prices.

Customers 10000-50000 (20000 HORECA and 10000 RETAIL price groups, 40000 blocked; 10000 and
30000 hold an alcohol licence, 30000 is served from the EAST warehouse), items 1000-1005 (wine),
1100-1102 (water), 1200-1202 (accessories), SalesPrices rows covering every Sales Type,
quantity tiers and date-limited campaigns, and CustomerContracts: the product types each
customer is contracted for (20000 all three, 10000 alcohol, 50000 water, alcohol and a
blocked accessories contract). Prices are in LCY; Item.Unit_Price is per base unit of measure, a
SalesPrices row per its own unit. CustomerLedgerEntries (:func:`ledger_entries`) add up to each
customer's Balance_LCY: 10000 owes an invoice not yet due and has paid 250 not yet applied,
20000 has an invoice past due and one due today, 30000 has paid everything, 40000's one invoice
is long overdue, 50000 paid part of an overdue invoice.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

#: The date the seed rows were last modified.
SEEDED_ON = "2024-11-15"


def _customer(
    no: str,
    name: str,
    address: str,
    city: str,
    post_code: str,
    price_group: str,
    balance: float,
    credit_limit: float,
    blocked: str = " ",
    location: str = "MAIN",
    licence: tuple[str, str] = ("", ""),
) -> dict[str, Any]:
    licence_no, licence_address = licence
    return {
        "No": no,
        "Name": name,
        "Address": address,
        "City": city,
        "Post_Code": post_code,
        "Country_Region_Code": "US",
        "Phone_No": f"+1 555 01{no[:2]}",
        "Blocked": blocked,
        "E_Mail": f"orders@{name.split()[0].lower()}.example",
        "Customer_Price_Group": price_group,
        "Customer_Disc_Group": price_group,
        "Location_Code": location,
        "Balance_LCY": balance,
        "Credit_Limit_LCY": credit_limit,
        "VAT_Registration_No": f"US{no}789",
        "Last_Date_Modified": SEEDED_ON,
        "Alcohol_Licence_No": licence_no,
        "Alcohol_Licence_Address": licence_address,
    }


CUSTOMERS = [
    _customer(
        "10000",
        "Adatum Corp",
        "192 Market Square",
        "Atlanta",
        "31772",
        "RETAIL",
        1623.5,
        25000,
        licence=("77RPA0012345", "192 Market Square, Atlanta 31772"),
    ),
    _customer(
        "20000",
        "Trey Research Bistro",
        "153 Thomas Drive",
        "Chicago",
        "61236",
        "HORECA",
        4410.9,
        50000,
    ),
    _customer(
        "30000",
        "School of Fine Art",
        "10 High Tower Green",
        "Miami",
        "37125",
        "",
        0,
        10000,
        location="EAST",
        licence=("50RPA0067890", "10 High Tower Green, Miami 37125"),
    ),
    _customer(
        "40000",
        "Alpine Ski House",
        "10 Deerfield Road",
        "Salt Lake City",
        "84101",
        "",
        12875,
        5000,
        blocked="All",
    ),
    _customer("50000", "Relecloud Hotels", "25 Water Way", "Seattle", "98101", "", 250.75, 15000),
]


def _item(
    no: str,
    description: str,
    price: float,
    base: str,
    sales: str,
    inventory: float,
    category: str,
    blocked: bool = False,
) -> dict[str, Any]:
    return {
        "No": no,
        "Description": description,
        "Unit_Price": price,
        "Base_Unit_of_Measure": base,
        "Sales_Unit_of_Measure": sales,
        "Inventory": inventory,
        "Blocked": blocked,
        "Item_Category_Code": category,
        "Last_Date_Modified": SEEDED_ON,
    }


ITEMS = [
    _item("1000", "Bordeaux Rouge 2019, 0.75 L", 14.9, "BOTTLE", "BOTTLE", 480, "WINE"),
    _item("1001", "Chablis Premier Cru 2020, 0.75 L", 24.5, "BOTTLE", "BOTTLE", 240, "WINE"),
    _item("1002", "Rioja Reserva 2017, 0.75 L", 11.2, "BOTTLE", "BOX", 600, "WINE"),
    _item("1003", "Prosecco DOC Brut, 0.75 L", 9.8, "BOTTLE", "BOX", 720, "WINE"),
    _item("1004", "Champagne Brut NV, 0.75 L", 39, "BOTTLE", "BOTTLE", 120, "WINE"),
    _item(
        "1005", "Riesling Kabinett 2021, 0.75 L", 12.4, "BOTTLE", "BOTTLE", 0, "WINE", blocked=True
    ),
    _item("1100", "Still Mineral Water, 0.5 L", 0.45, "BOTTLE", "BOX", 9600, "WATER"),
    _item("1101", "Sparkling Mineral Water, 0.5 L", 0.49, "BOTTLE", "BOX", 7200, "WATER"),
    _item("1102", "Still Mineral Water, 1.5 L", 0.89, "BOTTLE", "BOX", 3000, "WATER"),
    _item("1200", "Waiter's Corkscrew", 6.5, "PCS", "PCS", 150, "ACCESSORY"),
    _item("1201", "Bordeaux Wine Glass, 0.6 L", 4.2, "PCS", "BOX", 900, "ACCESSORY"),
    _item("1202", "Steel Ice Bucket", 18.9, "PCS", "PCS", 60, "ACCESSORY"),
]

#: (item no., unit code) -> base units per unit: wine boxes of 6, water boxes of 24 or 6.
ITEM_UNITS: dict[tuple[str, str], float] = {
    **{(i["No"], i["Base_Unit_of_Measure"]): 1 for i in ITEMS},
    ("1002", "BOX"): 6,
    ("1003", "BOX"): 6,
    ("1100", "BOX"): 24,
    ("1101", "BOX"): 24,
    ("1102", "BOX"): 6,
    ("1201", "BOX"): 6,
}


def _price(
    item: str,
    sales_type: str,
    code: str,
    unit: str,
    price: float,
    min_qty: float = 0,
    starting: str = "0001-01-01",
    ending: str = "0001-01-01",
) -> dict[str, Any]:
    return {
        "Item_No": item,
        "Sales_Type": sales_type,
        "Sales_Code": code,
        "Starting_Date": starting,
        "Ending_Date": ending,
        "Currency_Code": "",
        "Variant_Code": "",
        "Unit_of_Measure_Code": unit,
        "Minimum_Quantity": min_qty,
        "Unit_Price": price,
    }


SALES_PRICES = [
    # 1000: a customer price, a price-group price with a 24-bottle tier, an all-customers tier.
    _price("1000", "Customer", "10000", "BOTTLE", 13.5),
    _price("1000", "Customer Price Group", "RETAIL", "BOTTLE", 14.2),
    _price("1000", "Customer Price Group", "RETAIL", "BOTTLE", 13.2, min_qty=24),
    _price("1000", "All Customers", "", "BOTTLE", 13.9, min_qty=60),
    # 1002 (box of 6 at 67.20 list): HORECA price and a summer campaign.
    _price("1002", "Customer Price Group", "HORECA", "BOX", 60),
    _price("1002", "Campaign", "SUMMER25", "BOX", 55, starting="2025-06-01", ending="2025-08-31"),
    # 1003 (box of 6 at 58.80 list): everybody's price and one customer's better one.
    _price("1003", "All Customers", "", "BOX", 56),
    _price("1003", "Customer", "20000", "BOX", 52),
    # 1004: a Christmas promotion limited to December 2024.
    _price(
        "1004", "Campaign", "XMAS24", "BOTTLE", 34.9, starting="2024-12-01", ending="2024-12-31"
    ),
    # 1100 (box of 24 at 10.80 list): price groups with a 10-box HORECA tier.
    _price("1100", "Customer Price Group", "HORECA", "BOX", 9.9),
    _price("1100", "Customer Price Group", "HORECA", "BOX", 9.4, min_qty=10),
    _price("1100", "Customer Price Group", "RETAIL", "BOX", 10.4),
    # 1200: an open-ended welcome campaign; 1201: a customer price that expired.
    _price("1200", "Campaign", "WELCOME", "PCS", 5.9, starting="2024-01-01"),
    _price("1201", "Customer", "10000", "BOX", 21, ending="2024-06-30"),
]


def _contract(
    customer: str, no: str, product_type: str, description: str, blocked: bool = False
) -> dict[str, Any]:
    return {
        "Customer_No": customer,
        "No": no,
        "Description": description,
        "Product_Type": product_type,
        "Starting_Date": "2024-01-01",
        "Blocked": blocked,
    }


CUSTOMER_CONTRACTS = [
    _contract("10000", "D-10000-A", "alcohol", "Wine supply"),
    _contract("20000", "D-20000-W", "water", "Mineral water supply"),
    _contract("20000", "D-20000-A", "alcohol", "Wine supply"),
    _contract("20000", "D-20000-X", "accessories", "Bar accessories"),
    _contract("50000", "D-50000-W", "water", "Mineral water supply"),
    _contract("50000", "D-50000-A", "alcohol", "Wine supply"),
    # Blocked: suspended, so it no longer entitles the customer to accessories.
    _contract("50000", "D-50000-X", "accessories", "Bar accessories", blocked=True),
]

#: Seed rows by entity-set name.
TABLES: dict[str, list[dict[str, Any]]] = {
    "Customer": CUSTOMERS,
    "Item": ITEMS,
    "SalesPrices": SALES_PRICES,
    "CustomerContracts": CUSTOMER_CONTRACTS,
}


def _entry(
    today: date,
    entry_no: int,
    customer: str,
    kind: str,
    document_no: str,
    posted: int,
    amount: float,
    remaining: float,
    due: int | None = None,
) -> dict[str, Any]:
    """A ledger entry posted ``posted`` days before ``today``, due ``due`` days after it."""
    posting = today - timedelta(days=posted)
    return {
        "Entry_No": entry_no,
        "Customer_No": customer,
        "Posting_Date": posting.isoformat(),
        "Document_Type": kind,
        "Document_No": document_no,
        "Description": f"{kind} {document_no}",
        "Currency_Code": "",
        "Amount": amount,
        "Amount_LCY": amount,
        "Remaining_Amount": remaining,
        "Remaining_Amt_LCY": remaining,
        # A payment is due when posted; an invoice by its payment terms.
        "Due_Date": (posting if due is None else today + timedelta(days=due)).isoformat(),
        "Open": remaining != 0,
    }


def ledger_entries(today: date) -> list[dict[str, Any]]:
    """The CustomerLedgerEntries rows, dated relative to ``today`` so that what is due, overdue
    or not yet due stays so whenever the simulator runs."""
    return [
        _entry(today, 1, "10000", "Invoice", "103001", 75, 1250, 0, due=-45),
        _entry(today, 2, "10000", "Payment", "G02001", 44, -1250, 0),
        _entry(today, 3, "10000", "Invoice", "103014", 10, 1873.5, 1873.5, due=20),
        # Received yesterday, not yet applied to an invoice.
        _entry(today, 4, "10000", "Payment", "G02033", 1, -250, -250),
        _entry(today, 5, "20000", "Invoice", "103005", 60, 520, 520, due=-30),
        _entry(today, 6, "20000", "Invoice", "103019", 30, 3890.9, 3890.9, due=0),
        _entry(today, 7, "30000", "Invoice", "103008", 50, 980, 0, due=-20),
        _entry(today, 8, "30000", "Payment", "G02012", 25, -980, 0),
        _entry(today, 9, "40000", "Invoice", "102950", 200, 12875, 12875, due=-170),
        _entry(today, 10, "50000", "Invoice", "103011", 40, 500.75, 250.75, due=-10),
        _entry(today, 11, "50000", "Payment", "G02020", 12, -250, 0),
    ]
