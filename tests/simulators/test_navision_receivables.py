"""The NAV simulator's pricing codeunit tells where each price came from and what is blocked, and
its ``CustomerLedgerEntries`` page holds what each customer's balance is made of."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from simulators.navision import Store
from simulators.navision.pricing import BestPrice, best_price
from simulators.navision.schema import SALES_PRICES
from tests.simulators.test_navision import (
    AUTH,
    BASE,
    PRICING_NS,
    SOAP_NS,
    WORK_DATE,
    Client,
    ClientFactory,
    _client,
    _envelope,
    _get,
    _json,
    _soap,
)


@pytest.fixture
async def nav(aiohttp_client: ClientFactory) -> Client:
    return await _client(aiohttp_client)


async def _results(client: Client, operation: str, **arguments: str) -> dict[str, str]:
    root = await _soap(client, operation, _envelope(operation, **arguments))
    result = root.find(f"{{{SOAP_NS}}}Body/{{{PRICING_NS}}}{operation}_Result")
    assert result is not None
    return {child.tag.rpartition("}")[2]: child.text or "" for child in result}


async def test_price_lines_give_the_row_each_price_came_from_and_what_is_blocked(
    nav: Client,
) -> None:
    # On the work date (2025-07-01) the SUMMER25 campaign beats HORECA's price of 1002.
    answer = await _results(
        nav, "GetCustomerPriceLines", customerNo="20000", lines="1002:1;1003:1;1005:2;1000:1"
    )
    assert answer["prices"].split(";") == [
        "1002:55:No:Campaign:SUMMER25",
        "1003:52:No:Customer:20000",
        "1005:12.4:Yes::",  # blocked, priced all the same (from the item card)
        "1000:14.9:No::",
    ]
    assert answer["customerBlocked"].strip() == ""
    blocked = await _results(nav, "GetCustomerPriceLines", customerNo="40000", lines="1200:1")
    assert blocked == {"prices": "1200:5.9:No:Campaign:WELCOME", "customerBlocked": "All"}


async def test_price_lines_of_an_unknown_customer_are_a_fault(nav: Client) -> None:
    body = _envelope("GetCustomerPriceLines", customerNo="99999", lines="1000:1")
    root = await _soap(nav, "GetCustomerPriceLines", body, status=500)
    assert "Customer" in (root.findtext(f".//{{{SOAP_NS}}}Fault/faultstring") or "")


def _campaign(store: Store, code: str, price: float) -> None:
    values = {
        "Item_No": "1000",
        "Sales_Type": "Campaign",
        "Sales_Code": code,
        "Unit_of_Measure_Code": "BOTTLE",
        "Unit_Price": price,
    }
    store.prices.insert(store.new_record(SALES_PRICES, values))


def test_a_campaign_wins_only_when_it_is_cheaper() -> None:
    # NAV's CalcBestUnitPrice takes a row only when it is lower: at the same price the row that
    # sorts first (Sales Type Customer before Campaign) stays.
    store = Store()
    _campaign(store, "TIE", 13.5)
    assert best_price(store, "10000", "1000", 1, WORK_DATE) == BestPrice(13.5, "Customer", "10000")
    _campaign(store, "LOWER", 13.4)
    assert best_price(store, "10000", "1000", 1, WORK_DATE) == BestPrice(13.4, "Campaign", "LOWER")


async def test_ledger_entries_add_up_to_each_customers_balance(nav: Client) -> None:
    customers = (await _get(nav, "/Customer"))["value"]
    entries = (await _get(nav, "/CustomerLedgerEntries"))["value"]
    for customer in customers:
        mine = [e for e in entries if e["Customer_No"] == customer["No"]]
        assert sum(e["Remaining_Amt_LCY"] for e in mine) == pytest.approx(customer["Balance_LCY"])
    assert all(e["Open"] == (e["Remaining_Amt_LCY"] != 0) for e in entries)


async def test_a_customers_open_entries_are_found_by_filter(nav: Client) -> None:
    found = await _get(
        nav,
        "/CustomerLedgerEntries",
        {
            "$filter": "Customer_No eq '10000' and Open eq true",
            "$select": "Entry_No,Document_Type,Remaining_Amt_LCY",
        },
    )
    assert [(e["Document_Type"], e["Remaining_Amt_LCY"]) for e in found["value"]] == [
        ("Invoice", 1873.5),
        ("Payment", -250),
    ]


def test_seeded_entries_are_dated_from_the_stores_today() -> None:
    store = Store(today=lambda: date(2025, 7, 1))
    entries = {r.values["Entry_No"]: r.values for r in store.tables["CustomerLedgerEntries"]}
    assert (entries[3]["Posting_Date"], entries[3]["Due_Date"]) == ("2025-06-21", "2025-07-21")
    assert entries[5]["Due_Date"] == "2025-06-01"  # 30 days past due
    assert entries[4]["Due_Date"] == entries[4]["Posting_Date"]  # a payment is due when posted


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/CustomerLedgerEntries", {"Customer_No": "10000", "Remaining_Amt_LCY": 1}),
        ("PATCH", "/CustomerLedgerEntries(3)", {"Due_Date": "2099-01-01"}),
        ("DELETE", "/CustomerLedgerEntries(3)", None),
    ],
)
async def test_ledger_entries_are_written_by_posting_only(
    nav: Client, method: str, path: str, body: Any
) -> None:
    response = await nav.request(method, BASE + path, headers={**AUTH, "If-Match": "*"}, json=body)
    error = await _json(response, 405)
    assert error["error"]["code"] == "BadRequest_MethodNotAllowed"
