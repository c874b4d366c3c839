"""The customer facts orders are routed by, read from the NAV simulator by the NAV adapter.

``customer.read`` gives the alcohol licence, the warehouse and the contracts in force; an order
sent with a free-text delivery address (the licence address) lands as ``Ship_to_Address``.
"""

from __future__ import annotations

import pytest

from bus.adapters import Delivery
from bus.adapters.navision import SHIP_TO_ADDRESS_LENGTH
from bus.errors import PermanentError
from tests.contract.erps import Nav
from tests.contract.pairs import new_id, new_order

pytestmark = pytest.mark.timeout(60)

LICENCE_ADDRESS = "192 Market Square, Atlanta 31772"


async def test_a_licensed_customer_comes_with_its_licence_warehouse_and_contract(nav: Nav) -> None:
    customer = await nav.customer("10000")
    assert customer["licence"] == {"number": "77RPA0012345", "address": LICENCE_ADDRESS}
    assert customer["warehouse"] == "MAIN"
    assert customer["contracts"] == [
        {"number": "D-10000-A", "product_type": "alcohol", "description": "Wine supply"}
    ]
    # What the account needs is still there.
    assert customer["erp_key"] == "10000" and customer["name"] == "Adatum Corp"
    assert customer["price_group"] == "RETAIL" and customer["credit_limit"] == 25000
    assert customer["addresses"] == [
        {"code": "MAIN", "address": "192 Market Square, Atlanta, 31772"}
    ]


async def test_an_unlicensed_customer_has_no_licence_and_all_its_contracts(nav: Nav) -> None:
    customer = await nav.customer("20000")
    assert customer["licence"] is None
    assert customer["warehouse"] == "MAIN"
    assert sorted((c["number"], c["product_type"]) for c in customer["contracts"]) == [
        ("D-20000-A", "alcohol"),
        ("D-20000-W", "water"),
        ("D-20000-X", "accessories"),
    ]
    assert all(c["description"] for c in customer["contracts"])


async def test_the_warehouse_is_the_customers_location(nav: Nav) -> None:
    customer = await nav.customer("30000")
    assert customer["warehouse"] == "EAST"
    assert customer["licence"] == {
        "number": "50RPA0067890",
        "address": "10 High Tower Green, Miami 37125",
    }
    assert customer["contracts"] == []


async def test_a_blocked_contract_is_left_out(nav: Nav) -> None:
    customer = await nav.customer("50000")
    assert customer["licence"] is None
    assert customer["contracts"] == [
        {"number": "D-50000-A", "product_type": "alcohol", "description": "Wine supply"},
        {"number": "D-50000-W", "product_type": "water", "description": "Mineral water supply"},
    ]


async def test_the_delivery_address_lands_as_ship_to_address(nav: Nav) -> None:
    payload = new_order(delivery={"date": None, "address_code": None, "address": LICENCE_ADDRESS})
    delivery = Delivery(new_id(), "sales_order.create", payload)
    receipt = await nav.adapter.deliver(delivery)
    order = await nav.order_of(delivery)
    assert order["No"] == receipt.reference
    assert order["Ship_to_Address"] == LICENCE_ADDRESS


async def test_a_too_long_delivery_address_is_cut_to_navs_field_length(nav: Nav) -> None:
    address = "Dock 7, " + "Market Square " * 10
    payload = new_order(delivery={"date": None, "address_code": None, "address": address})
    delivery = Delivery(new_id(), "sales_order.create", payload)
    await nav.adapter.deliver(delivery)
    order = await nav.order_of(delivery)
    assert order["Ship_to_Address"] == address[:SHIP_TO_ADDRESS_LENGTH]


async def test_without_a_delivery_address_nav_ships_to_the_customers_address(nav: Nav) -> None:
    delivery = Delivery(new_id(), "sales_order.create", new_order())
    await nav.adapter.deliver(delivery)
    assert (await nav.order_of(delivery))["Ship_to_Address"] == "192 Market Square"


@pytest.mark.parametrize("number", ["10000#x", "10000?a=1", "10/000", "10 000", "O'Neil", "\x07"])
async def test_a_customer_key_with_url_characters_stays_the_key(nav: Nav, number: str) -> None:
    """A key goes into the URL's path as an encoded literal: NAV is asked for exactly that
    customer (none), never for another one or a broken URL."""
    with pytest.raises(PermanentError) as refused:
        await nav.customer(number)
    assert refused.value.http_status == 404 and repr(number) in str(refused.value)
