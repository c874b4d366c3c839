"""The Dynamics NAV simulator speaks NAV's OData v4 dialect, and the shared fault layer works."""

from __future__ import annotations

import asyncio
import base64
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import encode_basic_auth, web
from aiohttp.test_utils import TestClient

from simulators import SIMULATORS
from simulators.navision import NAV_KEY, Store, best_unit_price, create_app
from simulators.navision.store import increment

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[[web.Application], Awaitable[Client]]

AUTH = {"Authorization": encode_basic_auth("bus", "bus-secret")}
ROOT = "/DynamicsNAV110/ODataV4"
BASE = f"{ROOT}/Company('CRONUS')"
CORRELATION = re.compile(r"  CorrelationId:  [0-9a-f-]{36}\.$")
WORK_DATE = date(2025, 7, 1)
#: The server's clock in the tests: 09:30:15.25 UTC on the work date.
NOW = datetime(2025, 7, 1, 9, 30, 15, 250000, tzinfo=UTC)


async def _client(aiohttp_client: ClientFactory, **options: Any) -> Client:
    app = create_app(**options)
    app[NAV_KEY].today = lambda: WORK_DATE
    app[NAV_KEY].now = lambda: NOW
    return await aiohttp_client(app)


@pytest.fixture
async def nav(aiohttp_client: ClientFactory) -> Client:
    return await _client(aiohttp_client)


async def _json(response: aiohttp.ClientResponse, status: int) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


async def _get(client: Client, path: str, params: dict[str, str] | None = None) -> Any:
    return await _json(await client.get(BASE + path, headers=AUTH, params=params), 200)


async def _post(client: Client, path: str, body: Any, status: int = 201) -> Any:
    return await _json(await client.post(BASE + path, headers=AUTH, json=body), status)


def _order(**overrides: Any) -> dict[str, Any]:
    return {
        "Sell_to_Customer_No": "10000",
        "External_Document_No": "BUS-0001",
        "SalesOrderSalesLines": [{"No": "1000", "Quantity": 30}, {"No": "1002", "Quantity": 2}],
        **overrides,
    }


async def _assert_error(response: aiohttp.ClientResponse, status: int, code: str) -> str:
    body = await _json(response, status)
    assert body["error"]["code"] == code
    assert CORRELATION.search(body["error"]["message"])
    return str(body["error"]["message"])


async def _control(client: Client, method: str, path: str, body: Any = None) -> Any:
    response = await client.request(method, f"/_control/{path}", json=body)
    return await _json(response, 200)


# --- protocol basics ---------------------------------------------------------------------


async def test_registry_names_the_navision_factory() -> None:
    assert SIMULATORS["navision"] is create_app


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": encode_basic_auth("bus", "wrong")}, {"Authorization": "Bearer x"}],
)
async def test_requests_without_valid_basic_credentials_get_401(
    nav: Client, headers: dict[str, str]
) -> None:
    response = await nav.get(f"{BASE}/Customer", headers=headers)
    await _assert_error(response, 401, "Authentication_InvalidCredentials")
    assert response.headers["WWW-Authenticate"].startswith('Basic realm="')


async def test_control_routes_need_no_auth(nav: Client) -> None:
    assert await _control(nav, "GET", "health") == {"ok": True}


async def test_collection_is_odata_json_with_context_and_etags(nav: Client) -> None:
    response = await nav.get(f"{BASE}/Customer", headers=AUTH)
    body = await _json(response, 200)
    assert response.headers["Content-Type"] == "application/json; odata.metadata=minimal"
    assert response.headers["OData-Version"] == "4.0"
    assert body["@odata.context"] == (
        f"http://{response.url.host}:{response.url.port}{ROOT}/$metadata#Company('CRONUS')/Customer"
    )
    assert [c["No"] for c in body["value"]] == ["10000", "20000", "30000", "40000", "50000"]
    assert all(c["@odata.etag"].startswith('W/"') for c in body["value"])
    assert body["value"][0]["Blocked"] == " "


@pytest.mark.parametrize(
    "path",
    [
        f"{BASE}/Item('1000')",
        f"{ROOT}/Company(%27CRONUS%27)/Item('1000')",
        f"{ROOT}/Item('1000')?company=CRONUS",
    ],
)
async def test_company_can_be_in_the_path_encoded_or_as_a_parameter(nav: Client, path: str) -> None:
    body = await _json(await nav.get(path, headers=AUTH), 200)
    assert body["Description"] == "Bordeaux Rouge 2019, 0.75 L"
    assert body["@odata.context"].endswith("#Company('CRONUS')/Item/$entity")


async def test_unknown_company_service_or_key_are_rejected(nav: Client) -> None:
    other_company = await nav.get(f"{ROOT}/Company('OTHER')/Item", headers=AUTH)
    await _assert_error(other_company, 400, "Unknown")
    await _assert_error(await nav.get(f"{BASE}/Vendor", headers=AUTH), 404, "BadRequest_NotFound")
    message = await _assert_error(
        await nav.get(f"{BASE}/Customer('99999')", headers=AUTH), 404, "Internal_RecordNotFound"
    )
    assert message.startswith("The Customer does not exist. Identification fields and values: No.")


async def test_metadata_is_a_csdl_document_naming_every_entity_set(nav: Client) -> None:
    response = await nav.get(f"{ROOT}/$metadata", headers=AUTH)
    assert response.status == 200
    assert response.content_type == "application/xml"
    root = ET.fromstring(await response.text())
    edm = "{http://docs.oasis-open.org/odata/ns/edm}"
    assert root.get("Version") == "4.0"
    sets = {s.get("Name"): s.get("EntityType") for s in root.iter(f"{edm}EntitySet")}
    assert {
        "Customer",
        "Item",
        "SalesOrder",
        "SalesPrices",
        "CustomerContracts",
        "Company",
    } <= sets.keys()
    assert sets["CustomerContracts"] == "NAV.CustomerContracts"
    types = {t.get("Name"): t for t in root.iter(f"{edm}EntityType")}
    order_key = [r.get("Name") for r in types["SalesOrder"].iter(f"{edm}PropertyRef")]
    assert order_key == ["Document_Type", "No"]
    navigation = types["SalesOrder"].find(f"{edm}NavigationProperty")
    assert navigation is not None and navigation.get("ContainsTarget") == "true"
    line_key = [r.get("Name") for r in types["SalesOrderSalesLines"].iter(f"{edm}PropertyRef")]
    assert line_key == ["Document_Type", "Document_No", "Line_No"]
    contracts = types["CustomerContracts"]
    assert [r.get("Name") for r in contracts.iter(f"{edm}PropertyRef")] == ["Customer_No", "No"]
    contract_types = {p.get("Name"): p.get("Type") for p in contracts.iter(f"{edm}Property")}
    assert contract_types == {
        "Customer_No": "Edm.String",
        "No": "Edm.String",
        "Description": "Edm.String",
        "Product_Type": "Edm.String",
        "Starting_Date": "Edm.Date",
        "Blocked": "Edm.Boolean",
    }
    customer_types = {p.get("Name"): p for p in types["Customer"].iter(f"{edm}Property")}
    for name in ("Alcohol_Licence_No", "Alcohol_Licence_Address", "Location_Code"):
        assert customer_types[name].get("Type") == "Edm.String"
    company = [n.get("Name") for n in types["Company"].iter(f"{edm}NavigationProperty")]
    assert "CustomerContracts" in company


async def test_service_document_lists_customer_contracts(nav: Client) -> None:
    body = await _json(await nav.get(f"{ROOT}/", headers=AUTH), 200)
    assert "CustomerContracts" in [s["name"] for s in body["value"]]


# --- customer facts ------------------------------------------------------------------------


async def test_customers_carry_licence_and_location(nav: Client) -> None:
    body = await _get(
        nav, "/Customer", {"$select": "No,Alcohol_Licence_No,Alcohol_Licence_Address,Location_Code"}
    )
    facts = {
        c["No"]: (c["Alcohol_Licence_No"], c["Alcohol_Licence_Address"], c["Location_Code"])
        for c in body["value"]
    }
    assert facts["10000"] == ("77RPA0012345", "192 Market Square, Atlanta 31772", "MAIN")
    assert facts["30000"] == ("50RPA0067890", "10 High Tower Green, Miami 37125", "EAST")
    assert facts["20000"] == ("", "", "MAIN")
    assert facts["50000"] == ("", "", "MAIN")


async def test_licensed_customers_can_be_filtered(nav: Client) -> None:
    body = await _get(nav, "/Customer", {"$filter": "Alcohol_Licence_No ne ''"})
    assert [c["No"] for c in body["value"]] == ["10000", "30000"]


async def test_a_new_customer_has_no_licence_until_one_is_set(nav: Client) -> None:
    created = await _post(nav, "/Customer", {"No": "60000", "Name": "Fabrikam Wines"})
    assert (created["Alcohol_Licence_No"], created["Location_Code"]) == ("", "")
    path = f"{BASE}/Customer('60000')"
    licence = {"Alcohol_Licence_No": "12RPA0000001", "Alcohol_Licence_Address": "1 Main St"}
    patched = await nav.patch(path, headers={**AUTH, "If-Match": "*"}, json=licence)
    assert (await _json(patched, 200))["Alcohol_Licence_No"] == "12RPA0000001"


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("Customer_No eq '20000'", ["D-20000-A", "D-20000-W", "D-20000-X"]),
        ("Customer_No eq '10000' and Blocked eq false", ["D-10000-A"]),
        ("Customer_No eq '50000' and Blocked eq false", ["D-50000-A", "D-50000-W"]),
        ("Customer_No eq '50000'", ["D-50000-A", "D-50000-W", "D-50000-X"]),
        ("Customer_No eq '30000' and Blocked eq false", []),
        ("Blocked eq true", ["D-50000-X"]),
        ("Product_Type eq 'alcohol'", ["D-10000-A", "D-20000-A", "D-50000-A"]),
    ],
)
async def test_customer_contracts_filter(nav: Client, expression: str, expected: list[str]) -> None:
    body = await _get(nav, "/CustomerContracts", {"$filter": expression})
    assert [c["No"] for c in body["value"]] == expected


async def test_customer_contracts_rows_and_composite_key(nav: Client) -> None:
    body = await _get(nav, "/CustomerContracts", {"$filter": "Customer_No eq '20000'"})
    assert {c["No"]: c["Product_Type"] for c in body["value"]} == {
        "D-20000-A": "alcohol",
        "D-20000-W": "water",
        "D-20000-X": "accessories",
    }
    contract = await _get(nav, "/CustomerContracts(Customer_No='50000',No='D-50000-X')")
    assert contract["Blocked"] is True and contract["Product_Type"] == "accessories"
    assert contract["Starting_Date"] == "2024-01-01"
    assert contract["@odata.context"].endswith("#Company('CRONUS')/CustomerContracts/$entity")
    count = await nav.get(f"{BASE}/CustomerContracts/$count", headers=AUTH)
    assert await count.text() == "7"


async def test_customer_contracts_take_only_known_product_types(nav: Client) -> None:
    contract = {"Customer_No": "30000", "No": "D-30000-Z", "Product_Type": "tobacco"}
    response = await nav.post(f"{BASE}/CustomerContracts", headers=AUTH, json=contract)
    assert "is not a valid value of Product_Type" in await _assert_error(
        response, 400, "BadRequest"
    )


# --- B2B requests ------------------------------------------------------------------------


def _request(**overrides: Any) -> dict[str, Any]:
    return {
        "Request_Id": "MSG-0001",
        "Customer_No": "10000",
        "Kind": "delivery_address",
        "Details": '{"address": "Ул. Ленина, 1"}',
        **overrides,
    }


async def test_b2b_requests_start_empty(nav: Client) -> None:
    assert (await _get(nav, "/B2BRequests"))["value"] == []


async def test_an_inserted_request_is_numbered_registered_and_stamped(nav: Client) -> None:
    response = await nav.post(f"{BASE}/B2BRequests", headers=AUTH, json=_request())
    created = await _json(response, 201)
    assert created["No"] == "REQ-0001"
    assert created["Status"] == "Registered"
    # UTC, whole seconds, as the store keeps every DateTimeOffset.
    assert created["Registered_At"] == "2025-07-01T09:30:15Z"
    assert (created["Request_Id"], created["Customer_No"]) == ("MSG-0001", "10000")
    assert created["Details"] == '{"address": "Ул. Ленина, 1"}'
    assert response.headers["Location"].endswith(f"{BASE}/B2BRequests('REQ-0001')")
    second = await _post(nav, "/B2BRequests", _request(Request_Id="MSG-0002", Kind="employee"))
    assert second["No"] == "REQ-0002"
    assert (await _get(nav, "/B2BRequests('REQ-0001')"))["Kind"] == "delivery_address"


async def test_a_request_keeps_a_given_number_and_ignores_status_and_time(nav: Client) -> None:
    sent = _request(No="WEB-1", Status="Approved", Registered_At="2020-01-01T00:00:00Z")
    created = await _post(nav, "/B2BRequests", sent)
    assert (created["No"], created["Status"]) == ("WEB-1", "Registered")
    assert created["Registered_At"] == "2025-07-01T09:30:15Z"
    taken = await nav.post(f"{BASE}/B2BRequests", headers=AUTH, json=_request(No="WEB-1"))
    await _assert_error(taken, 409, "Internal_EntityWithSameKeyExists")


async def test_requests_are_found_by_request_id(nav: Client) -> None:
    for message_id in ("MSG-A", "MSG-B", "it's-C"):
        await _post(nav, "/B2BRequests", _request(Request_Id=message_id))
    found = await _get(nav, "/B2BRequests", {"$filter": "Request_Id eq 'MSG-B'"})
    assert [r["No"] for r in found["value"]] == ["REQ-0002"]
    quoted = await _get(nav, "/B2BRequests", {"$filter": "Request_Id eq 'it''s-C'"})
    assert [r["No"] for r in quoted["value"]] == ["REQ-0003"]
    assert (await _get(nav, "/B2BRequests", {"$filter": "Request_Id eq 'MSG-Z'"}))["value"] == []


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("Registered_At eq 2025-07-01T09:30:15Z", ["REQ-0001"]),
        ("Registered_At ge 2025-07-01T11:30:15+02:00", ["REQ-0001"]),
        ("Registered_At gt 2025-07-01T09:30:15Z", []),
        ("Registered_At lt 2025-07-01T10:00Z", ["REQ-0001"]),
    ],
)
async def test_requests_can_be_filtered_by_registration_time(
    nav: Client, expression: str, expected: list[str]
) -> None:
    await _post(nav, "/B2BRequests", _request())
    found = await _get(nav, "/B2BRequests", {"$filter": expression})
    assert [r["No"] for r in found["value"]] == expected


@pytest.mark.parametrize(
    "expression",
    [
        "Registered_At ge '2025-07-01T00:00:00Z'",
        "Registered_At ge 2025-07-01",
        "Request_Id eq 2025-07-01T00:00:00Z",
        "Registered_At ge 2025-13-01T00:00:00Z",
    ],
)
async def test_a_moment_is_compared_with_moments_only(nav: Client, expression: str) -> None:
    response = await nav.get(f"{BASE}/B2BRequests", headers=AUTH, params={"$filter": expression})
    await _assert_error(response, 400, "BadRequest")


@pytest.mark.parametrize(
    ("overrides", "code", "wording"),
    [
        ({"Customer_No": "99999"}, "Internal_RecordNotFound", "The Customer does not exist."),
        ({"Customer_No": "40000"}, "Application_DialogException", "is blocked with type All"),
        ({"Customer_No": ""}, "Application_FieldValidationException", "Customer No. must have"),
        ({"Kind": "invoice"}, "Application_DialogException", "is not a request kind"),
        ({"Kind": ""}, "Application_FieldValidationException", "Kind must have a value"),
        ({"Details": "address: 1 Main St"}, "Application_DialogException", "JSON text"),
        ({"Details": "[" * 2049}, "Application_StringExceededLength", "2048"),
        ({"Request_Id": "x" * 51}, "Application_StringExceededLength", "50"),
        ({"Kind": 7}, "BadRequest", "Cannot convert"),
        ({"Comment": "hi"}, "BadRequest", "does not exist on type 'NAV.B2BRequests'"),
    ],
)
async def test_invalid_requests_are_refused_and_not_registered(
    nav: Client, overrides: dict[str, Any], code: str, wording: str
) -> None:
    response = await nav.post(f"{BASE}/B2BRequests", headers=AUTH, json=_request(**overrides))
    assert wording in await _assert_error(response, 400, code)
    assert (await _get(nav, "/B2BRequests"))["value"] == []
    # A refused insert takes no number: the next one is still the first.
    assert (await _post(nav, "/B2BRequests", _request()))["No"] == "REQ-0001"


@pytest.mark.parametrize("method", ["PATCH", "PUT", "DELETE"])
async def test_the_request_page_is_insert_only(nav: Client, method: str) -> None:
    await _post(nav, "/B2BRequests", _request())
    path = f"{BASE}/B2BRequests('REQ-0001')"
    response = await nav.request(
        method, path, headers={**AUTH, "If-Match": "*"}, json={"Kind": "employee"}
    )
    message = await _assert_error(response, 405, "BadRequest_MethodNotAllowed")
    assert f"'{method}' requests for 'B2BRequests'" in message
    assert (await _get(nav, "/B2BRequests('REQ-0001')"))["Kind"] == "delivery_address"


async def test_reset_empties_the_requests_and_restarts_their_series(nav: Client) -> None:
    await _post(nav, "/B2BRequests", _request())
    await _control(nav, "POST", "reset")
    assert (await _get(nav, "/B2BRequests"))["value"] == []
    assert (await _post(nav, "/B2BRequests", _request()))["No"] == "REQ-0001"


async def test_request_and_order_numbers_come_from_separate_series(nav: Client) -> None:
    await _post(nav, "/B2BRequests", _request())
    assert (await _post(nav, "/SalesOrder", _order()))["No"] == "101001"
    assert (await _post(nav, "/B2BRequests", _request()))["No"] == "REQ-0002"


@pytest.mark.parametrize(
    ("number", "following"),
    [("REQ-0001", "REQ-0002"), ("REQ-0009", "REQ-0010"), ("101001", "101002"), ("A9", "A10")],
)
def test_a_number_series_increments_its_last_digits(number: str, following: str) -> None:
    assert increment(number) == following


async def test_metadata_describes_the_request_page(nav: Client) -> None:
    response = await nav.get(f"{ROOT}/$metadata", headers=AUTH)
    root = ET.fromstring(await response.text())
    edm = "{http://docs.oasis-open.org/odata/ns/edm}"
    sets = {s.get("Name"): s.get("EntityType") for s in root.iter(f"{edm}EntitySet")}
    assert sets["B2BRequests"] == "NAV.B2BRequests"
    types = {t.get("Name"): t for t in root.iter(f"{edm}EntityType")}
    requests = types["B2BRequests"]
    assert [r.get("Name") for r in requests.iter(f"{edm}PropertyRef")] == ["No"]
    properties = {p.get("Name"): p for p in requests.iter(f"{edm}Property")}
    assert {name: p.get("Type") for name, p in properties.items()} == {
        "No": "Edm.String",
        "Request_Id": "Edm.String",
        "Customer_No": "Edm.String",
        "Kind": "Edm.String",
        "Details": "Edm.String",
        "Status": "Edm.String",
        "Registered_At": "Edm.DateTimeOffset",
    }
    lengths = {name: properties[name].get("MaxLength") for name in properties}
    assert (lengths["No"], lengths["Request_Id"], lengths["Customer_No"]) == ("20", "50", "20")
    assert (lengths["Details"], lengths["Registered_At"]) == ("2048", None)
    company = [n.get("Name") for n in types["Company"].iter(f"{edm}NavigationProperty")]
    assert "B2BRequests" in company


async def test_service_document_lists_the_request_page(nav: Client) -> None:
    body = await _json(await nav.get(f"{ROOT}/", headers=AUTH), 200)
    assert "B2BRequests" in [s["name"] for s in body["value"]]


# --- sales orders ------------------------------------------------------------------------


async def test_deep_insert_creates_order_with_lines_and_best_prices(nav: Client) -> None:
    response = await nav.post(f"{BASE}/SalesOrder", headers=AUTH, json=_order())
    order = await _json(response, 201)
    assert order["No"] == "101001"
    assert response.headers["Location"].endswith(
        f"{BASE}/SalesOrder(Document_Type='Order',No='101001')"
    )
    assert response.headers["ETag"] == order["@odata.etag"]
    assert order["Sell_to_Customer_Name"] == "Adatum Corp"
    assert order["Order_Date"] == "2025-07-01"
    lines = order["SalesOrderSalesLines"]
    assert [(li["Line_No"], li["No"], li["Unit_of_Measure_Code"]) for li in lines] == [
        (10000, "1000", "BOTTLE"),
        (20000, "1002", "BOX"),
    ]
    # 1000: RETAIL group tier from 24 bottles (13.20) beats the customer's own 13.50.
    # 1002: the SUMMER25 campaign (55.00 a box) runs on the order date.
    assert [li["Unit_Price"] for li in lines] == [13.2, 55]
    assert [li["Line_Amount"] for li in lines] == [396, 110]
    assert lines[0]["Description"] == "Bordeaux Rouge 2019, 0.75 L"
    assert (order["Amount"], order["Amount_Including_VAT"]) == (506, 607.2)
    second = await _post(nav, "/SalesOrder", _order(External_Document_No="BUS-0002"))
    assert second["No"] == "101002"


@pytest.mark.parametrize("deep", [True, False], ids=["deep-insert", "header-only"])
async def test_ship_to_address_is_taken_and_returned(nav: Client, deep: bool) -> None:
    address = "192 Market Square, Atlanta 31772"
    lines = _order()["SalesOrderSalesLines"] if deep else []
    created = await _post(
        nav, "/SalesOrder", _order(Ship_to_Address=address, SalesOrderSalesLines=lines)
    )
    assert created["Ship_to_Address"] == address
    read = await _get(nav, "/SalesOrder(Document_Type='Order',No='101001')")
    assert read["Ship_to_Address"] == address
    assert read["Ship_to_City"] == "Atlanta"  # not sent: the customer's, as OnValidate copies it


async def test_ship_to_address_defaults_to_the_customers_and_is_limited(nav: Client) -> None:
    created = await _post(nav, "/SalesOrder", _order())
    assert created["Ship_to_Address"] == "192 Market Square"
    too_long = await nav.post(
        f"{BASE}/SalesOrder", headers=AUTH, json=_order(Ship_to_Address="X" * 101)
    )
    await _assert_error(too_long, 400, "Application_StringExceededLength")


async def test_order_lines_come_inline_with_expand_and_through_the_containment(
    nav: Client,
) -> None:
    await _post(nav, "/SalesOrder", _order())
    orders = await _get(nav, "/SalesOrder", {"$expand": "SalesOrderSalesLines"})
    assert [len(o["SalesOrderSalesLines"]) for o in orders["value"]] == [2]
    lines = await _get(nav, "/SalesOrder(Document_Type='Order',No='101001')/SalesOrderSalesLines")
    assert [line["Line_No"] for line in lines["value"]] == [10000, 20000]
    line = await _get(
        nav,
        "/SalesOrder(Document_Type='Order',No='101001')"
        "/SalesOrderSalesLines(Document_Type='Order',Document_No='101001',Line_No=20000)",
    )
    assert line["No"] == "1002"


async def test_posting_to_the_containment_adds_a_line(nav: Client) -> None:
    order = await _post(nav, "/SalesOrder", _order(SalesOrderSalesLines=[]))
    path = "/SalesOrder(Document_Type='Order',No='101001')"
    line = await _post(nav, f"{path}/SalesOrderSalesLines", {"No": "1100", "Quantity": 12})
    assert (line["Line_No"], line["Unit_of_Measure_Code"], line["Unit_Price"]) == (
        10000,
        "BOX",
        10.4,
    )
    header = await _get(nav, path)
    assert header["Amount"] == 124.8
    # Amounts are FlowFields in NAV: adding a line does not modify the header record.
    assert header["@odata.etag"] == order["@odata.etag"]


async def test_failed_deep_insert_writes_nothing_and_keeps_the_number(nav: Client) -> None:
    bad_line = {"No": "1000", "Quantity": 0}
    await nav.post(f"{BASE}/SalesOrder", headers=AUTH, json=_order(SalesOrderSalesLines=[bad_line]))
    assert (await _get(nav, "/SalesOrder"))["value"] == []
    assert (await _post(nav, "/SalesOrder", _order()))["No"] == "101001"


@pytest.mark.parametrize(
    ("order", "code", "text"),
    [
        (
            _order(Sell_to_Customer_No="99999"),
            "Internal_RecordNotFound",
            "The Customer does not exist. Identification fields and values: No.='99999'",
        ),
        (_order(Sell_to_Customer_No="40000"), "Application_DialogException", "blocked"),
        (
            _order(SalesOrderSalesLines=[{"No": "9999", "Quantity": 1}]),
            "Internal_RecordNotFound",
            "The Item does not exist",
        ),
        (
            _order(SalesOrderSalesLines=[{"No": "1000", "Quantity": -1}]),
            "Application_FieldValidationException",
            "Quantity",
        ),
        (
            _order(SalesOrderSalesLines=[{"No": "1000", "Quantity": "many"}]),
            "Application_FieldValidationException",
            "Decimal",
        ),
        (
            _order(SalesOrderSalesLines=[{"No": "1005", "Quantity": 1}]),
            "Application_FieldValidationException",
            "Blocked",
        ),
        (_order(Color="red"), "BadRequest", "The property 'Color' does not exist on type"),
        (
            _order(External_Document_No="X" * 36),
            "Application_StringExceededLength",
            "must be less than or equal to 35 characters",
        ),
        (_order(Order_Date="01.07.2025"), "BadRequest", "Edm.Date"),
    ],
)
async def test_invalid_orders_get_nav_error_envelopes(
    nav: Client, order: dict[str, Any], code: str, text: str
) -> None:
    response = await nav.post(f"{BASE}/SalesOrder", headers=AUTH, json=order)
    assert text in await _assert_error(response, 400, code)


async def test_malformed_json_is_a_bad_request(nav: Client) -> None:
    response = await nav.post(f"{BASE}/SalesOrder", headers=AUTH, data=b'{"No": ')
    await _assert_error(response, 400, "BadRequest")


async def test_released_order_takes_no_new_lines(nav: Client) -> None:
    order = await _post(nav, "/SalesOrder", _order())
    path = f"{BASE}/SalesOrder(Document_Type='Order',No='101001')"
    headers = {**AUTH, "If-Match": order["@odata.etag"]}
    await _json(await nav.patch(path, headers=headers, json={"Status": "Released"}), 200)
    response = await nav.post(
        f"{path}/SalesOrderSalesLines", headers=AUTH, json={"No": "1000", "Quantity": 1}
    )
    assert "Status must be equal to 'Open'" in await _assert_error(
        response, 400, "Application_FieldValidationException"
    )


async def test_line_patch_finds_the_price_again_and_delete_removes_it(nav: Client) -> None:
    await _post(nav, "/SalesOrder", _order())
    line_path = (
        "/SalesOrder(Document_Type='Order',No='101001')"
        "/SalesOrderSalesLines(Document_Type='Order',Document_No='101001',Line_No=10000)"
    )
    line = await _get(nav, line_path)
    patched = await nav.patch(
        BASE + line_path, headers={**AUTH, "If-Match": line["@odata.etag"]}, json={"Quantity": 2}
    )
    assert (await _json(patched, 200))["Unit_Price"] == 13.5  # below the RETAIL tier now
    header = await _get(nav, "/SalesOrder(Document_Type='Order',No='101001')")
    assert header["Amount"] == 137
    deleted = await nav.delete(BASE + line_path, headers={**AUTH, "If-Match": "*"})
    assert deleted.status == 204
    assert (await _get(nav, "/SalesOrder(Document_Type='Order',No='101001')"))["Amount"] == 110


async def test_plain_services_accept_inserts_and_refuse_duplicate_keys(nav: Client) -> None:
    customer = {"No": "60000", "Name": "Fabrikam Wines", "Customer_Price_Group": "HORECA"}
    created = await _post(nav, "/Customer", customer)
    assert (created["Blocked"], created["Balance_LCY"]) == (" ", 0)
    duplicate = await nav.post(f"{BASE}/Customer", headers=AUTH, json=customer)
    await _assert_error(duplicate, 409, "Internal_EntityWithSameKeyExists")
    order = await _post(nav, "/SalesOrder", _order(Sell_to_Customer_No="60000"))
    assert [line["Unit_Price"] for line in order["SalesOrderSalesLines"]] == [14.9, 55]


async def test_composite_keys_with_dates_and_decimals_address_one_price(nav: Client) -> None:
    price = await _get(
        nav,
        "/SalesPrices(Item_No='1000',Sales_Type='Customer Price Group',Sales_Code='RETAIL',"
        "Starting_Date=0001-01-01,Currency_Code='',Variant_Code='',"
        "Unit_of_Measure_Code='BOTTLE',Minimum_Quantity=24)",
    )
    assert price["Unit_Price"] == 13.2
    wrong = await nav.get(f"{BASE}/SalesPrices('1000')", headers=AUTH)
    await _assert_error(wrong, 400, "BadRequest")


# --- concurrency tokens --------------------------------------------------------------------


async def test_patch_needs_if_match_and_rejects_stale_etags(nav: Client) -> None:
    path = f"{BASE}/Customer('10000')"
    etag = (await _get(nav, "/Customer('10000')"))["@odata.etag"]
    missing = await nav.patch(path, headers=AUTH, json={"Phone_No": "1"})
    assert (await _assert_error(missing, 400, "BadRequest_InvalidToken")).startswith(
        "Could not validate the client concurrency token required by the service. "
        "Please provide a valid token in the client request."
    )
    garbage = await nav.patch(path, headers={**AUTH, "If-Match": "nonsense"}, json={})
    await _assert_error(garbage, 400, "BadRequest_InvalidToken")
    updated = await _json(
        await nav.patch(path, headers={**AUTH, "If-Match": etag}, json={"Phone_No": "+1 555 7"}),
        200,
    )
    assert updated["Phone_No"] == "+1 555 7"
    assert updated["Last_Date_Modified"] == "2025-07-01"
    assert updated["@odata.etag"] != etag
    stale = await nav.patch(path, headers={**AUTH, "If-Match": etag}, json={"Phone_No": "2"})
    message = await _assert_error(stale, 409, "Request_EntityChanged")
    assert message.startswith("Another user has already changed the record.")
    star = await nav.request("MERGE", path, headers={**AUTH, "If-Match": "*"}, json={"City": "X"})
    assert (await _json(star, 200))["City"] == "X"


async def test_delete_needs_if_match(nav: Client) -> None:
    order = await _post(nav, "/SalesOrder", _order())
    path = f"{BASE}/SalesOrder(Document_Type='Order',No='101001')"
    await _assert_error(await nav.delete(path, headers=AUTH), 400, "BadRequest_InvalidToken")
    response = await nav.delete(path, headers={**AUTH, "If-Match": order["@odata.etag"]})
    assert response.status == 204
    await _assert_error(await nav.get(path, headers=AUTH), 404, "Internal_RecordNotFound")


# --- queries -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity", "expression", "expected"),
    [
        ("Customer", "Customer_Price_Group eq 'RETAIL'", ["10000"]),
        ("Customer", "Blocked ne ' '", ["40000"]),
        ("Customer", "City eq 'Miami' or City eq 'Seattle'", ["30000", "50000"]),
        ("Item", "Unit_Price gt 24.5", ["1004"]),
        ("Item", "Unit_Price ge 24.5 and Unit_Price lt 39", ["1001"]),
        ("Item", "Unit_Price le 0.49", ["1100", "1101"]),
        ("Item", "startswith(Description,'Still')", ["1100", "1102"]),
        (
            "Item",
            "contains(Description,'Water') and Sales_Unit_of_Measure eq 'BOX'",
            ["1100", "1101", "1102"],
        ),
        ("Item", "Description eq 'Waiter''s Corkscrew'", ["1200"]),
        ("Item", "Blocked eq true", ["1005"]),
        ("Item", "(Item_Category_Code eq 'WINE') and not (Unit_Price lt 20)", ["1001", "1004"]),
        ("SalesPrices", "Ending_Date ge 2024-12-31", ["1002", "1004"]),
    ],
)
async def test_filter_subset(
    nav: Client, entity: str, expression: str, expected: list[str]
) -> None:
    body = await _get(nav, f"/{entity}", {"$filter": expression})
    key = "Item_No" if entity == "SalesPrices" else "No"
    assert [row[key] for row in body["value"]] == expected


@pytest.mark.parametrize(
    "expression",
    ["No eq '10000' or Name eq 'Adatum Corp'", "No eq 10000", "Colour eq 'red'", "No eq"],
)
async def test_unsupported_filters_are_bad_requests(nav: Client, expression: str) -> None:
    response = await nav.get(f"{BASE}/Customer", headers=AUTH, params={"$filter": expression})
    await _assert_error(response, 400, "BadRequest")


async def test_filter_by_external_document_no_finds_the_order(nav: Client) -> None:
    await _post(nav, "/SalesOrder", _order(External_Document_No="BUS-0001"))
    await _post(nav, "/SalesOrder", _order(External_Document_No="BUS-0002"))
    body = await _get(nav, "/SalesOrder", {"$filter": "External_Document_No eq 'BUS-0002'"})
    assert [o["No"] for o in body["value"]] == ["101002"]


async def test_select_orderby_top_skip(nav: Client) -> None:
    body = await _get(
        nav,
        "/Item",
        {"$select": "No,Unit_Price", "$orderby": "Unit_Price desc", "$top": "2", "$skip": "1"},
    )
    assert [set(i) for i in body["value"]] == [{"@odata.etag", "No", "Unit_Price"}] * 2
    assert [i["No"] for i in body["value"]] == ["1001", "1202"]
    assert body["@odata.context"].endswith("/Item(No,Unit_Price)")


async def test_paging_next_links_lead_through_every_row(aiohttp_client: ClientFactory) -> None:
    nav = await _client(aiohttp_client, max_page_size=5)
    url: str | None = f"{BASE}/Item?$orderby=Item_Category_Code desc&$count=true"
    seen: list[str] = []
    while url is not None:
        response = await nav.session.get(
            url if url.startswith("http") else nav.make_url(url), headers=AUTH
        )
        body = await _json(response, 200)
        assert body["@odata.count"] == 12 and len(body["value"]) <= 5
        seen += [item["No"] for item in body["value"]]
        url = body.get("@odata.nextLink")
        if url is not None:
            assert url.startswith(str(nav.make_url(""))) and "$skiptoken=" in url
    # WINE, then WATER, then ACCESSORY; by key within a category.
    assert seen == [*(f"100{n}" for n in range(6)), "1100", "1101", "1102", "1200", "1201", "1202"]


async def test_top_larger_than_a_page_is_honoured_across_pages(
    aiohttp_client: ClientFactory,
) -> None:
    nav = await _client(aiohttp_client, max_page_size=4)
    first = await _get(nav, "/Item", {"$top": "6"})
    assert len(first["value"]) == 4 and "$top=2" in first["@odata.nextLink"]
    second = await _json(await nav.session.get(first["@odata.nextLink"], headers=AUTH), 200)
    assert [i["No"] for i in second["value"]] == ["1004", "1005"]
    assert "@odata.nextLink" not in second


async def test_prefer_maxpagesize_and_count_segment(nav: Client) -> None:
    response = await nav.get(f"{BASE}/Item", headers={**AUTH, "Prefer": "odata.maxpagesize=3"})
    body = await _json(response, 200)
    assert len(body["value"]) == 3 and response.headers["Preference-Applied"]
    params = {"$filter": "Blocked eq false"}
    count = await nav.get(f"{BASE}/Item/$count", headers=AUTH, params=params)
    assert await count.text() == "11"


# --- pricing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("customer", "item", "quantity", "on", "unit", "price"),
    [
        ("10000", "1000", 1, date(2025, 1, 1), None, 13.5),  # the customer's own price
        ("10000", "1000", 24, date(2025, 1, 1), None, 13.2),  # RETAIL tier from 24
        ("30000", "1000", 59, date(2025, 1, 1), None, 14.9),  # nothing applies: list price
        ("30000", "1000", 60, date(2025, 1, 1), None, 13.9),  # All Customers tier from 60
        ("20000", "1002", 1, date(2025, 5, 31), "BOX", 60),  # HORECA before the campaign
        ("20000", "1002", 1, date(2025, 6, 1), "BOX", 55),  # SUMMER25 starts
        ("20000", "1002", 1, date(2025, 8, 31), "BOX", 55),  # ... and ends inclusive
        ("30000", "1002", 1, date(2025, 9, 1), "BOX", 67.2),  # list price x 6 bottles
        ("30000", "1002", 1, date(2025, 9, 1), "BOTTLE", 11.2),  # BOX rows skipped
        ("20000", "1003", 1, date(2025, 1, 1), "BOX", 52),  # customer beats All Customers
        ("99999", "1003", 1, date(2025, 1, 1), "BOX", 56),  # unknown customer: general rows
        ("50000", "1200", 1, date(2030, 1, 1), None, 5.9),  # open-ended campaign
        ("10000", "1201", 1, date(2024, 6, 30), "BOX", 21),  # last day of a customer price
        ("10000", "1201", 1, date(2024, 7, 1), "BOX", 25.2),  # expired: list 4.20 x 6
        ("20000", "1100", 10, date(2025, 1, 1), "BOX", 9.4),  # HORECA 10-box tier
    ],
)
def test_best_unit_price(
    customer: str, item: str, quantity: float, on: date, unit: str | None, price: float
) -> None:
    store = Store()
    assert best_unit_price(store, customer, item, quantity, on, unit_of_measure=unit) == price


def test_best_unit_price_of_an_unknown_item_raises() -> None:
    with pytest.raises(KeyError):
        best_unit_price(Store(), "10000", "nope", 1, date(2025, 1, 1))


# --- SOAP codeunit service ----------------------------------------------------------------

WS = "/DynamicsNAV110/WS/CRONUS"
PRICING = f"{WS}/Codeunit/B2BPricing"
PRICING_NS = "urn:microsoft-dynamics-schemas/codeunit/B2BPricing"
DOCUMENTS = f"{WS}/Codeunit/B2BDocuments"
DOCUMENTS_NS = "urn:microsoft-dynamics-schemas/codeunit/B2BDocuments"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
WSDL_NS = "{http://schemas.xmlsoap.org/wsdl/}"
WSDL_SOAP_NS = "{http://schemas.xmlsoap.org/wsdl/soap/}"
NAV_EXCEPTION = "a:Microsoft.Dynamics.Nav.Types.Exceptions."


def _envelope(operation: str, namespace: str = PRICING_NS, **arguments: str) -> str:
    fields = "".join(f"<{name}>{value}</{name}>" for name, value in arguments.items())
    return (
        f'<soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Body>'
        f'<{operation} xmlns="{namespace}">{fields}</{operation}>'
        "</soap:Body></soap:Envelope>"
    )


async def _soap(
    client: Client,
    operation: str,
    body: str,
    status: int = 200,
    content_type: str = "text/xml; charset=utf-8",
    codeunit: tuple[str, str] = (PRICING, PRICING_NS),
) -> ET.Element:
    path, namespace = codeunit
    headers = {
        **AUTH,
        "Content-Type": content_type,
        "SOAPAction": f'"{namespace}:{operation}"',
    }
    response = await client.post(path, data=body.encode(), headers=headers)
    text = await response.text()
    assert response.status == status, text
    assert response.content_type == "text/xml"
    return ET.fromstring(text)


async def _return_value(client: Client, operation: str, **arguments: str) -> str:
    root = await _soap(client, operation, _envelope(operation, **arguments))
    assert root.tag == f"{{{SOAP_NS}}}Envelope"
    result = root.find(f"{{{SOAP_NS}}}Body/{{{PRICING_NS}}}{operation}_Result")
    assert result is not None
    value = result.find(f"{{{PRICING_NS}}}return_value")
    assert value is not None
    return value.text or ""


async def _fault(client: Client, operation: str, body: str) -> tuple[str, str]:
    root = await _soap(client, operation, body, status=500)
    fault = root.find(f"{{{SOAP_NS}}}Body/{{{SOAP_NS}}}Fault")
    assert fault is not None
    return fault.findtext("faultcode") or "", fault.findtext("faultstring") or ""


async def test_wsdl_is_document_literal_and_points_at_this_host(nav: Client) -> None:
    response = await nav.get(PRICING, headers=AUTH)
    assert response.status == 200 and response.content_type == "text/xml"
    root = ET.fromstring(await response.text())
    assert root.get("targetNamespace") == PRICING_NS
    address = root.find(f"{WSDL_NS}service/{WSDL_NS}port/{WSDL_SOAP_NS}address")
    assert address is not None
    host = f"http://{response.url.host}:{response.url.port}"
    assert address.get("location") == f"{host}{PRICING}"
    bound = root.findall(f"{WSDL_NS}binding/{WSDL_NS}operation/{WSDL_SOAP_NS}operation")
    assert {op.get("style") for op in bound} == {"document"}
    soap_actions = {op.get("soapAction") for op in bound}
    assert soap_actions == {
        f"{PRICING_NS}:{name}"
        for name in (
            "GetCustomerPrice",
            "GetCustomerPrices",
            "GetCustomerPriceLines",
            "GetCustomerUnitPrices",
        )
    }
    bodies = {b.get("use") for b in root.iter(f"{WSDL_SOAP_NS}body")}
    assert bodies == {"literal"}
    xsd = "{http://www.w3.org/2001/XMLSchema}"
    elements = {e.get("name") for e in root.iter(f"{xsd}element")}
    assert {"GetCustomerPrice", "GetCustomerPrice_Result", "customerNo", "return_value"} <= elements


async def test_web_services_need_basic_auth(nav: Client) -> None:
    response = await nav.get(PRICING)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    unauthorised = await nav.post(
        PRICING,
        data=_envelope("GetCustomerPrice", customerNo="10000", itemNo="1000", quantity="5"),
        headers={"Content-Type": "text/xml", "SOAPAction": f"{PRICING_NS}:GetCustomerPrice"},
    )
    assert unauthorised.status == 401


async def test_services_list_names_the_codeunits(nav: Client) -> None:
    response = await nav.get(f"{WS}/Services", headers=AUTH)
    assert response.status == 200
    root = ET.fromstring(await response.text())
    refs = [e.get("ref") for e in root.iter("{http://schemas.xmlsoap.org/disco/scl/}contractRef")]
    host = f"http://{response.url.host}:{response.url.port}"
    assert refs == [f"{host}{PRICING}", f"{host}{DOCUMENTS}"]


@pytest.mark.parametrize(
    "path", [f"{WS}/Codeunit/Nope", "/DynamicsNAV110/WS/OTHER/Codeunit/B2BPricing", f"{WS}/x"]
)
async def test_unknown_service_or_company_is_not_found(nav: Client, path: str) -> None:
    await _assert_error(await nav.get(path, headers=AUTH), 404, "BadRequest_NotFound")


@pytest.mark.parametrize(
    ("customer", "item", "quantity", "price"),
    [
        ("10000", "1000", "5", "13.5"),  # the customer's own price
        ("10000", "1000", "24", "13.2"),  # RETAIL tier
        ("20000", "1002", "1", "55"),  # sales unit BOX, SUMMER25 runs on the work date
        ("30000", "1100", "1", "10.8"),  # no price row: list price x 24 bottles a box
        ("30000", "1000", "60.0", "13.9"),  # All Customers tier, decimal quantity
    ],
)
async def test_get_customer_price_uses_the_best_price_rule(
    nav: Client, customer: str, item: str, quantity: str, price: str
) -> None:
    value = await _return_value(
        nav, "GetCustomerPrice", customerNo=customer, itemNo=item, quantity=quantity
    )
    assert value == price


async def test_get_customer_prices_prices_every_line_in_order(nav: Client) -> None:
    value = await _return_value(
        nav, "GetCustomerPrices", customerNo="20000", lines="1000:24;1002:1; 1003 : 2;"
    )
    assert value == "1000:14.9;1002:55;1003:52"
    assert await _return_value(nav, "GetCustomerPrices", customerNo="20000", lines="") == ""


async def test_get_customer_unit_prices_prices_each_line_in_its_unit(nav: Client) -> None:
    # 1002 by the box (its sales unit) and by the bottle; 1000 in its sales unit, the bottle;
    # 1100 by the box of 24 at list price.
    lines = "1002:1:BOX;1002:6:BOTTLE;1000:24;1100:2:"
    value = await _return_value(nav, "GetCustomerUnitPrices", customerNo="20000", lines=lines)
    assert value == "1002:BOX:55;1002:BOTTLE:11.2;1000:BOTTLE:14.9;1100:BOX:9.9"


async def test_get_customer_unit_prices_refuses_a_unit_the_item_has_not(nav: Client) -> None:
    body = _envelope("GetCustomerUnitPrices", customerNo="20000", lines="1000:1:BOX")
    code, message = await _fault(nav, "GetCustomerUnitPrices", body)
    assert code == f"{NAV_EXCEPTION}NavCSideRecordNotFoundException"
    assert message == (
        "The Item Unit of Measure does not exist. Identification fields and values: "
        "Item No.='1000',Code='BOX'"
    )


@pytest.mark.parametrize(
    ("arguments", "table", "identification"),
    [
        ({"customerNo": "99999", "itemNo": "1000", "quantity": "1"}, "Customer", "No.='99999'"),
        ({"customerNo": "10000", "itemNo": "nope", "quantity": "1"}, "Item", "No.='nope'"),
    ],
)
async def test_unknown_customer_or_item_is_a_record_not_found_fault(
    nav: Client, arguments: dict[str, str], table: str, identification: str
) -> None:
    root = await _soap(
        nav, "GetCustomerPrice", _envelope("GetCustomerPrice", **arguments), status=500
    )
    fault = root.find(f"{{{SOAP_NS}}}Body/{{{SOAP_NS}}}Fault")
    assert fault is not None
    assert fault.findtext("faultcode") == f"{NAV_EXCEPTION}NavCSideRecordNotFoundException"
    assert fault.findtext("faultstring") == (
        f"The {table} does not exist. Identification fields and values: {identification}"
    )
    assert fault.find("detail") is not None


async def test_fault_code_prefix_is_bound_to_the_nav_error_namespace(nav: Client) -> None:
    body = _envelope("GetCustomerPrices", customerNo="10000", lines="1000:1;9999:1")
    response = await nav.post(
        PRICING,
        data=body,
        headers={
            **AUTH,
            "Content-Type": "text/xml",
            "SOAPAction": f"{PRICING_NS}:GetCustomerPrices",
        },
    )
    assert response.status == 500
    text = await response.text()
    assert '<faultcode xmlns:a="urn:microsoft-dynamics-schemas/error">' in text
    assert "No.=&apos;9999&apos;" in text or "No.='9999'" in text


@pytest.mark.parametrize(
    ("operation", "body", "code", "message"),
    [
        (
            "GetCustomerPrice",
            _envelope("GetCustomerPrice", customerNo="10000", itemNo="1000"),
            "a:Microsoft.Dynamics.Nav.Service.WebServices.ServiceBrokerException",
            "Parameter quantity in method GetCustomerPrice in service B2BPricing is null!",
        ),
        (
            "GetCustomerPrice",
            _envelope("GetCustomerPrice", customerNo="10000", itemNo="1000", quantity="many"),
            "a:DeserializationFailed",
            "The formatter threw an exception",
        ),
        (
            "GetCustomerPrices",
            _envelope("GetCustomerPrices", customerNo="10000", lines="1000"),
            f"{NAV_EXCEPTION}NavNCLDialogException",
            "The line '1000' must have the form itemNo:quantity.",
        ),
        (
            "GetCustomerPrice",
            _envelope("GetCustomerPrices", customerNo="10000", lines="1000:1"),
            "a:DeserializationFailed",
            "Expected to find node type 'Element' with name 'GetCustomerPrice'",
        ),
        ("Nope", _envelope("Nope"), "a:ActionNotSupported", f"Action '{PRICING_NS}:Nope'"),
        ("GetCustomerPrice", "<not xml", "s:Client", "not a valid SOAP 1.1 envelope"),
        ("GetCustomerPrice", "<Envelope/>", "s:Client", "not a valid SOAP 1.1 envelope"),
        (
            "GetCustomerPrice",
            f'<soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Body/></soap:Envelope>',
            "s:Client",
            "exactly one element",
        ),
    ],
)
async def test_bad_calls_are_soap_faults(
    nav: Client, operation: str, body: str, code: str, message: str
) -> None:
    fault_code, fault_string = await _fault(nav, operation, body)
    assert fault_code == code
    assert message in fault_string


async def test_document_type_declarations_are_refused_unexpanded(nav: Client) -> None:
    body = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
        + _envelope("GetCustomerPrice", customerNo="&b;", itemNo="1000", quantity="1")
    )
    code, message = await _fault(nav, "GetCustomerPrice", body)
    assert code == "s:Client" and "document type declarations" in message
    assert "aaaa" not in message


async def test_soap_needs_text_xml(nav: Client) -> None:
    body = _envelope("GetCustomerPrice", customerNo="10000", itemNo="1000", quantity="1")
    response = await nav.post(
        PRICING,
        data=body,
        headers={
            **AUTH,
            "Content-Type": "application/soap+xml",
            "SOAPAction": f"{PRICING_NS}:GetCustomerPrice",
        },
    )
    assert response.status == 415
    assert (await nav.delete(PRICING, headers=AUTH)).status == 405


# --- SOAP codeunit B2BDocuments ------------------------------------------------------------

INVOICE_RESULTS = ["number", "documentDate", "amount", "pdfBase64"]
ACT_RESULTS = ["number", "documentDate", "periodStart", "periodEnd", "pdfBase64"]


async def _document_call(
    client: Client, operation: str, arguments: dict[str, str], status: int = 200
) -> ET.Element:
    """Call a ``B2BDocuments`` function: its ``_Result`` element, or its ``Fault`` on 500."""
    body = _envelope(operation, DOCUMENTS_NS, **arguments)
    root = await _soap(client, operation, body, status, codeunit=(DOCUMENTS, DOCUMENTS_NS))
    found = root.find(
        f"{{{SOAP_NS}}}Body/{{{DOCUMENTS_NS}}}{operation}_Result"
        if status == 200
        else f"{{{SOAP_NS}}}Body/{{{SOAP_NS}}}Fault"
    )
    assert found is not None
    return found


async def _issued(client: Client, operation: str, arguments: dict[str, str]) -> dict[str, str]:
    """The results of a successful call by name, in the order NAV wrote them."""
    result = await _document_call(client, operation, arguments)
    return {child.tag.removeprefix(f"{{{DOCUMENTS_NS}}}"): child.text or "" for child in result}


async def _document_fault(
    client: Client, operation: str, arguments: dict[str, str]
) -> tuple[str, str]:
    fault = await _document_call(client, operation, arguments, 500)
    return fault.findtext("faultcode") or "", fault.findtext("faultstring") or ""


def _invoice(
    request_id: str = "R-1", customer: str = "10000", amount: str = "1500"
) -> dict[str, str]:
    return {"customerNo": customer, "amount": amount, "requestId": request_id}


def _act(
    request_id: str = "A-1", customer: str = "20000", year: str = "2025", quarter: str = "2"
) -> dict[str, str]:
    return {"customerNo": customer, "year": year, "quarter": quarter, "requestId": request_id}


def _pdf(result: dict[str, str]) -> bytes:
    pdf = base64.b64decode(result["pdfBase64"], validate=True)
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    return pdf


async def test_documents_wsdl_describes_both_functions_and_their_results(nav: Client) -> None:
    response = await nav.get(DOCUMENTS, headers=AUTH)
    assert response.status == 200 and response.content_type == "text/xml"
    root = ET.fromstring(await response.text())
    assert root.get("targetNamespace") == DOCUMENTS_NS
    address = root.find(f"{WSDL_NS}service/{WSDL_NS}port/{WSDL_SOAP_NS}address")
    assert address is not None
    assert address.get("location") == f"http://{response.url.host}:{response.url.port}{DOCUMENTS}"
    bound = root.findall(f"{WSDL_NS}binding/{WSDL_NS}operation/{WSDL_SOAP_NS}operation")
    assert {op.get("soapAction") for op in bound} == {
        f"{DOCUMENTS_NS}:IssueInvoice",
        f"{DOCUMENTS_NS}:ReconciliationAct",
    }
    xsd = "{http://www.w3.org/2001/XMLSchema}"
    schema = root.find(f"{WSDL_NS}types/{xsd}schema")
    assert schema is not None

    def fields(element: str) -> list[tuple[str | None, str | None]]:
        found = schema.find(f"{xsd}element[@name='{element}']")
        assert found is not None
        return [(e.get("name"), e.get("type")) for e in found.iter(f"{xsd}element")][1:]

    assert fields("IssueInvoice") == [
        ("customerNo", "string"),
        ("amount", "decimal"),
        ("requestId", "string"),
    ]
    assert fields("ReconciliationAct") == [
        ("customerNo", "string"),
        ("year", "int"),
        ("quarter", "int"),
        ("requestId", "string"),
    ]
    # No return value: the results are VAR parameters, named in the _Result element.
    assert fields("IssueInvoice_Result") == [
        ("number", "string"),
        ("documentDate", "date"),
        ("amount", "decimal"),
        ("pdfBase64", "string"),
    ]
    assert [name for name, _ in fields("ReconciliationAct_Result")] == ACT_RESULTS


async def test_issue_invoice_numbers_the_invoice_and_renders_it_as_pdf(nav: Client) -> None:
    first = await _issued(nav, "IssueInvoice", _invoice(amount="1500.005"))
    assert list(first) == INVOICE_RESULTS
    assert first["number"] == "INV-0001"
    assert first["documentDate"] == WORK_DATE.isoformat()
    assert first["amount"] == "1500.01"  # rounded to cents, as NAV rounds amounts in LCY
    pdf = _pdf(first)
    assert b"(Invoice INV-0001 of 2025-07-01)" in pdf and b"Amount: 1500.01 LCY" in pdf
    second = await _issued(nav, "IssueInvoice", _invoice("R-2", "20000", "12.5"))
    assert (second["number"], second["amount"]) == ("INV-0002", "12.5")


async def test_reconciliation_act_covers_the_calendar_quarter(nav: Client) -> None:
    act = await _issued(nav, "ReconciliationAct", _act())
    assert list(act) == ACT_RESULTS
    assert act["number"] == "REC-0001"
    assert (act["periodStart"], act["periodEnd"]) == ("2025-04-01", "2025-06-30")
    assert act["documentDate"] == WORK_DATE.isoformat()
    assert b"Period: 2025-04-01 to 2025-06-30" in _pdf(act)
    # The quarter of the work date has begun: its act can be issued (so far).
    current = await _issued(nav, "ReconciliationAct", _act("A-2", quarter="3"))
    assert (current["number"], current["periodEnd"]) == ("REC-0002", "2025-09-30")
    q4 = await _issued(nav, "ReconciliationAct", _act("A-3", year="2024", quarter="4"))
    assert (q4["periodStart"], q4["periodEnd"]) == ("2024-10-01", "2024-12-31")


async def test_a_repeated_request_id_answers_the_same_document(nav: Client) -> None:
    invoice = await _issued(nav, "IssueInvoice", _invoice())
    assert await _issued(nav, "IssueInvoice", _invoice(amount="1500.00")) == invoice
    act = await _issued(nav, "ReconciliationAct", _act())
    assert await _issued(nav, "ReconciliationAct", _act()) == act
    # Nothing new was issued: the series go on where they were.
    assert (await _issued(nav, "IssueInvoice", _invoice("R-2")))["number"] == "INV-0002"
    assert (await _issued(nav, "ReconciliationAct", _act("A-2")))["number"] == "REC-0002"


async def test_a_repeat_answers_even_once_the_customer_is_blocked(nav: Client) -> None:
    invoice = await _issued(nav, "IssueInvoice", _invoice())
    customer = nav.app[NAV_KEY].store.tables["Customer"].get(("10000",))
    assert customer is not None
    customer.values["Blocked"] = "All"
    assert await _issued(nav, "IssueInvoice", _invoice()) == invoice


@pytest.mark.parametrize(
    ("operation", "arguments"),
    [
        ("IssueInvoice", _invoice(amount="1499")),
        ("IssueInvoice", _invoice(customer="20000")),
        ("ReconciliationAct", _act("R-1")),  # the invoice's request id
    ],
    ids=["other-amount", "other-customer", "other-function"],
)
async def test_a_request_id_reused_for_something_else_is_a_fault(
    nav: Client, operation: str, arguments: dict[str, str]
) -> None:
    await _issued(nav, "IssueInvoice", _invoice())
    code, message = await _document_fault(nav, operation, arguments)
    assert code == f"{NAV_EXCEPTION}NavNCLDialogException"
    assert message == "The request ID R-1 was already used for another document."


@pytest.mark.parametrize("operation", ["IssueInvoice", "ReconciliationAct"])
async def test_an_unknown_customer_is_a_record_not_found_fault(nav: Client, operation: str) -> None:
    arguments = (
        _invoice(customer="99999") if operation == "IssueInvoice" else _act(customer="99999")
    )
    code, message = await _document_fault(nav, operation, arguments)
    assert code == f"{NAV_EXCEPTION}NavCSideRecordNotFoundException"
    assert message == "The Customer does not exist. Identification fields and values: No.='99999'"


@pytest.mark.parametrize("operation", ["IssueInvoice", "ReconciliationAct"])
async def test_a_blocked_customer_is_a_dialog_fault(nav: Client, operation: str) -> None:
    arguments = (
        _invoice(customer="40000") if operation == "IssueInvoice" else _act(customer="40000")
    )
    code, message = await _document_fault(nav, operation, arguments)
    assert code == f"{NAV_EXCEPTION}NavNCLDialogException"
    assert message == (
        "You cannot create this type of document when Customer 40000 is blocked with type All"
    )


@pytest.mark.parametrize(
    ("year", "quarter", "message"),
    [
        ("2025", "4", "The period 2025-10-01..2025-12-31 has not begun yet."),
        ("2026", "1", "The period 2026-01-01..2026-03-31 has not begun yet."),
        ("2025", "5", "Quarter 5 of 2025 is not a calendar quarter."),
        ("2025", "0", "Quarter 0 of 2025 is not a calendar quarter."),
    ],
)
async def test_a_quarter_not_begun_or_not_a_quarter_is_a_fault(
    nav: Client, year: str, quarter: str, message: str
) -> None:
    code, text = await _document_fault(nav, "ReconciliationAct", _act(year=year, quarter=quarter))
    assert (code, text) == (f"{NAV_EXCEPTION}NavNCLDialogException", message)


@pytest.mark.parametrize(("amount", "shown"), [("0", "0.00"), ("-5", "-5.00"), ("0.004", "0.00")])
async def test_an_amount_that_is_not_positive_is_a_fault(
    nav: Client, amount: str, shown: str
) -> None:
    code, message = await _document_fault(nav, "IssueInvoice", _invoice(amount=amount))
    assert code == f"{NAV_EXCEPTION}NavNCLDialogException"
    assert message == f"The amount must be positive, not {shown}."


async def test_refused_calls_take_no_number_and_keep_no_request_id(nav: Client) -> None:
    await _document_fault(nav, "IssueInvoice", _invoice(amount="0"))
    await _document_fault(nav, "ReconciliationAct", _act(quarter="4", year="2030"))
    # The refused request ids are free again, and the series start at their first number.
    assert (await _issued(nav, "IssueInvoice", _invoice()))["number"] == "INV-0001"
    assert (await _issued(nav, "ReconciliationAct", _act()))["number"] == "REC-0001"


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (
            {"customerNo": "10000", "amount": "10"},
            "a:Microsoft.Dynamics.Nav.Service.WebServices.ServiceBrokerException",
            "Parameter requestId in method IssueInvoice in service B2BDocuments is null!",
        ),
        (
            _invoice(request_id=" "),
            f"{NAV_EXCEPTION}NavNCLDialogException",
            "The request ID must have a value. It cannot be empty.",
        ),
        (_invoice(amount="lots"), "a:DeserializationFailed", "cannot be parsed as the type"),
    ],
    ids=["missing", "blank", "not-a-decimal"],
)
async def test_a_missing_blank_or_malformed_argument_is_a_fault(
    nav: Client, arguments: dict[str, str], code: str, message: str
) -> None:
    fault_code, fault_string = await _document_fault(nav, "IssueInvoice", arguments)
    assert fault_code == code and message in fault_string


async def test_documents_need_basic_auth(nav: Client) -> None:
    assert (await nav.get(DOCUMENTS)).status == 401
    response = await nav.post(
        DOCUMENTS,
        data=_envelope("IssueInvoice", DOCUMENTS_NS, **_invoice()),
        headers={
            "Authorization": encode_basic_auth("bus", "wrong"),
            "Content-Type": "text/xml",
            "SOAPAction": f"{DOCUMENTS_NS}:IssueInvoice",
        },
    )
    assert response.status == 401
    assert nav.app[NAV_KEY].store.documents == {}


async def test_reset_forgets_issued_documents(nav: Client) -> None:
    await _issued(nav, "IssueInvoice", _invoice())
    await _issued(nav, "ReconciliationAct", _act())
    assert await _control(nav, "POST", "reset") == {"ok": True}
    # The same request ids are new again, for other arguments too, and numbering starts over.
    invoice = await _issued(nav, "IssueInvoice", _invoice(amount="99"))
    assert (invoice["number"], invoice["amount"]) == ("INV-0001", "99")
    assert (await _issued(nav, "ReconciliationAct", _act(quarter="1")))["number"] == "REC-0001"


# --- faults and control --------------------------------------------------------------------


async def _add_fault(client: Client, **spec: Any) -> list[dict[str, Any]]:
    return list((await _control(client, "POST", "faults", spec))["faults"])


async def test_down_drops_the_connection_without_an_answer(nav: Client) -> None:
    await _add_fault(nav, mode="down")
    with pytest.raises(aiohttp.ClientConnectionError):
        await nav.get(f"{BASE}/Item", headers=AUTH)
    received = (await _control(nav, "GET", "received"))["requests"]
    assert received[-1]["fault"] == "down" and received[-1]["status"] is None


async def test_slow_delays_then_answers(nav: Client) -> None:
    await _add_fault(nav, mode="slow", delay=0.2)
    started = time.monotonic()
    await _get(nav, "/Item('1000')")
    assert time.monotonic() - started >= 0.2


async def test_status_sends_exactly_the_given_body(nav: Client) -> None:
    await _add_fault(nav, mode="status", status=503, body={"oops": 1}, times=1)
    assert await _json(await nav.get(f"{BASE}/Item", headers=AUTH), 503) == {"oops": 1}
    await _add_fault(nav, mode="status", status=502, body="<html>Bad gateway</html>", times=1)
    assert await (await nav.get(f"{BASE}/Item", headers=AUTH)).text() == "<html>Bad gateway</html>"
    await _add_fault(nav, mode="status", status=204)
    empty = await nav.get(f"{BASE}/Item", headers=AUTH)
    assert (empty.status, await empty.read()) == (204, b"")


async def test_error_defaults_to_the_nav_envelope(nav: Client) -> None:
    await _add_fault(nav, mode="error")
    await _assert_error(await nav.get(f"{BASE}/Item", headers=AUTH), 500, "Unknown")


async def test_rate_limit_answers_429_with_retry_after(nav: Client) -> None:
    await _add_fault(nav, mode="rate_limit", retry_after=7)
    response = await nav.get(f"{BASE}/Item", headers=AUTH)
    await _assert_error(response, 429, "Application_TooManyRequests")
    assert response.headers["Retry-After"] == "7"


async def test_drop_after_commit_creates_the_order_but_loses_the_answer(nav: Client) -> None:
    await _add_fault(nav, mode="drop_after_commit", methods=["post"])
    with pytest.raises(aiohttp.ClientConnectionError):
        await nav.post(f"{BASE}/SalesOrder", headers=AUTH, json=_order())
    found = await _get(nav, "/SalesOrder", {"$filter": "External_Document_No eq 'BUS-0001'"})
    assert [o["No"] for o in found["value"]] == ["101001"]


async def test_slow_after_commit_has_committed_before_answering(nav: Client) -> None:
    await _add_fault(nav, mode="slow_after_commit", delay=0.5, methods=["POST"])
    posting = asyncio.create_task(nav.post(f"{BASE}/SalesOrder", headers=AUTH, json=_order()))
    await asyncio.sleep(0.2)
    assert not posting.done()
    assert len((await _get(nav, "/SalesOrder"))["value"]) == 1
    assert (await _json(await posting, 201))["No"] == "101001"


async def test_times_and_match_limit_a_fault(nav: Client) -> None:
    faults = await _add_fault(nav, mode="status", status=502, times=2, match="/Item")
    assert faults[0]["times"] == 2
    assert (await nav.get(f"{BASE}/Customer", headers=AUTH)).status == 200
    statuses = [(await nav.get(f"{BASE}/Item", headers=AUTH)).status for _ in range(3)]
    assert statuses == [502, 502, 200]
    assert (await _control(nav, "GET", "faults"))["faults"] == []


async def test_first_matching_fault_wins_and_faults_can_be_cleared(nav: Client) -> None:
    await _add_fault(nav, mode="status", status=418, methods=["POST"])
    await _add_fault(nav, mode="status", status=503)
    assert (await nav.post(f"{BASE}/SalesOrder", headers=AUTH, json=_order())).status == 418
    assert (await nav.get(f"{BASE}/Item", headers=AUTH)).status == 503
    assert await _control(nav, "DELETE", "faults") == {"faults": []}
    assert (await nav.get(f"{BASE}/Item", headers=AUTH)).status == 200


@pytest.mark.parametrize(
    "spec",
    [
        {"mode": "explode"},
        {"mode": "slow", "delay": -1},
        {"mode": "down", "times": 0},
        {"mode": "status", "status": 42},
        {"mode": "down", "colour": "red"},
        [1],
    ],
)
async def test_invalid_fault_specs_are_refused(nav: Client, spec: Any) -> None:
    response = await nav.post("/_control/faults", json=spec)
    assert response.status == 400
    assert (await _control(nav, "GET", "faults"))["faults"] == []


async def test_received_records_requests_since_a_sequence_number(nav: Client) -> None:
    await nav.get(f"{BASE}/Item", headers=AUTH, params={"$top": "1"})
    first = (await _control(nav, "GET", "received"))["requests"]
    assert len(first) == 1
    await _post(nav, "/SalesOrder", _order())
    newer = (await _control(nav, "GET", f"received?since={first[-1]['seq']}"))["requests"]
    assert len(newer) == 1
    entry = newer[0]
    assert (entry["method"], entry["status"]) == ("POST", 201)
    assert entry["path"] == f"{BASE}/SalesOrder"
    assert entry["body"]["External_Document_No"] == "BUS-0001"
    assert entry["headers"]["Authorization"] == AUTH["Authorization"]
    assert first[0]["query"] == {"$top": "1"} and first[0]["at"] <= entry["at"]
    await _control(nav, "DELETE", "received")
    assert (await _control(nav, "GET", "received"))["requests"] == []


async def test_reset_restores_seed_data_and_clears_faults_and_log(nav: Client) -> None:
    await _post(nav, "/SalesOrder", _order())
    await _add_fault(nav, mode="status", status=500, match="/Customer")
    assert await _control(nav, "POST", "reset") == {"ok": True}
    assert (await _control(nav, "GET", "faults"))["faults"] == []
    assert (await _control(nav, "GET", "received"))["requests"] == []
    assert (await _get(nav, "/SalesOrder"))["value"] == []
    assert (await _post(nav, "/SalesOrder", _order()))["No"] == "101001"
