"""The NAV simulator publishes page 5404 "Item Units of Measure" as ``ItemUnitsOfMeasure``: every
unit an item is counted in with its quantity of base units, the same table its pricing and sales
orders use."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from simulators.navision.seed import ITEM_UNITS, ITEMS
from tests.simulators.test_navision import AUTH, BASE, ROOT, Client, ClientFactory, _client, _get
from tests.simulators.test_navision import _json as _answer

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


@pytest.fixture
async def nav(aiohttp_client: ClientFactory) -> Client:
    return await _client(aiohttp_client)


async def test_metadata_describes_the_item_units_page(nav: Client) -> None:
    root = ET.fromstring(await (await nav.get(f"{ROOT}/$metadata", headers=AUTH)).text())
    sets = {s.get("Name"): s.get("EntityType") for s in root.iter(f"{EDM}EntitySet")}
    assert sets["ItemUnitsOfMeasure"] == "NAV.ItemUnitsOfMeasure"
    types = {t.get("Name"): t for t in root.iter(f"{EDM}EntityType")}
    units = types["ItemUnitsOfMeasure"]
    assert [r.get("Name") for r in units.iter(f"{EDM}PropertyRef")] == ["Item_No", "Code"]
    properties = {p.get("Name"): p for p in units.iter(f"{EDM}Property")}
    assert {name: p.get("Type") for name, p in properties.items()} == {
        "Item_No": "Edm.String",
        "Code": "Edm.String",
        "Qty_per_Unit_of_Measure": "Edm.Decimal",
    }
    assert (properties["Item_No"].get("MaxLength"), properties["Code"].get("MaxLength")) == (
        "20",
        "10",
    )
    company = types["Company"]
    contained = {n.get("Name") for n in company.iter(f"{EDM}NavigationProperty")}
    assert "ItemUnitsOfMeasure" in contained


async def test_every_item_has_its_base_unit_at_one_and_its_boxes(nav: Client) -> None:
    rows = (await _get(nav, "/ItemUnitsOfMeasure"))["value"]
    found = {(r["Item_No"], r["Code"]): r["Qty_per_Unit_of_Measure"] for r in rows}
    assert found == ITEM_UNITS
    for item in ITEMS:
        assert found[(item["No"], item["Base_Unit_of_Measure"])] == 1
        assert (item["No"], item["Sales_Unit_of_Measure"]) in found
    assert found[("1100", "BOX")] == 24


async def test_units_of_several_items_are_read_with_one_filter(nav: Client) -> None:
    rows = (
        await _get(
            nav,
            "/ItemUnitsOfMeasure",
            {
                "$filter": "Item_No eq '1002' or Item_No eq '1200' or Item_No eq 'NOPE'",
                "$select": "Item_No,Code,Qty_per_Unit_of_Measure",
            },
        )
    )["value"]
    assert [(r["Item_No"], r["Code"], r["Qty_per_Unit_of_Measure"]) for r in rows] == [
        ("1002", "BOTTLE", 1),
        ("1002", "BOX", 6),
        ("1200", "PCS", 1),
    ]
    assert set(rows[0]) == {"@odata.etag", "Item_No", "Code", "Qty_per_Unit_of_Measure"}


async def test_one_unit_is_addressed_by_its_composite_key(nav: Client) -> None:
    unit = await _get(nav, "/ItemUnitsOfMeasure(Item_No='1100',Code='BOX')")
    assert (unit["Item_No"], unit["Code"], unit["Qty_per_Unit_of_Measure"]) == ("1100", "BOX", 24)
    missing = await nav.get(f"{BASE}/ItemUnitsOfMeasure(Item_No='1000',Code='BOX')", headers=AUTH)
    body = await _answer(missing, 404)
    assert "Item Unit of Measure" in body["error"]["message"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/ItemUnitsOfMeasure", {"Item_No": "1000", "Code": "BOX"}),
        ("PATCH", "/ItemUnitsOfMeasure(Item_No='1100',Code='BOX')", {"Qty_per_Unit_of_Measure": 1}),
        ("DELETE", "/ItemUnitsOfMeasure(Item_No='1100',Code='BOX')", None),
    ],
)
async def test_the_page_is_read_only(nav: Client, method: str, path: str, body: Any) -> None:
    response = await nav.request(method, BASE + path, headers={**AUTH, "If-Match": "*"}, json=body)
    error = await _answer(response, 405)
    assert error["error"]["code"] == "BadRequest_MethodNotAllowed"
    unit = await _get(nav, "/ItemUnitsOfMeasure(Item_No='1100',Code='BOX')")
    assert unit["Qty_per_Unit_of_Measure"] == 24


async def test_a_sales_line_in_a_unit_the_page_lacks_is_refused(nav: Client) -> None:
    # The page and the sales order check read one table.
    order = {
        "Sell_to_Customer_No": "10000",
        "SalesOrderSalesLines": [{"No": "1000", "Quantity": 1, "Unit_of_Measure_Code": "BOX"}],
    }
    refused = await _answer(await nav.post(f"{BASE}/SalesOrder", headers=AUTH, json=order), 400)
    assert refused["error"]["code"] == "Internal_RecordNotFound"
    boxes = {**order, "SalesOrderSalesLines": [{"No": "1002", "Quantity": 1}]}
    created = await _answer(await nav.post(f"{BASE}/SalesOrder", headers=AUTH, json=boxes), 201)
    assert created["No"]
