"""The 1C simulator speaks 1C's OData v3 dialect and its HTTP service, and takes faults."""

from __future__ import annotations

import base64
import inspect
import re
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import encode_basic_auth, web
from aiohttp.test_utils import TestClient
from yarl import URL

from simulators.onec import (
    ONEC_KEY,
    contract_ref,
    counterparty_ref,
    create_app,
    item_ref,
    order_ref,
)
from simulators.onec.seed import unit_ref

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[[web.Application], Awaitable[Client]]

AUTH = {"Authorization": encode_basic_auth("bus", "bus-secret")}
ROOT = "/b2b/odata/standard.odata/"
CONTRACTS = "Catalog_ДоговорыКонтрагентов"
HS = "/b2b/hs/b2b/v1/"
NOW = datetime(2026, 11, 22, 10, 0)
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
EMPTY_REF = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
async def onec(aiohttp_client: ClientFactory) -> Client:
    app = create_app()
    app[ONEC_KEY].now = lambda: NOW
    return await aiohttp_client(app)


async def _json(response: aiohttp.ClientResponse, status: int) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


async def _get(client: Client, path: str, params: dict[str, str] | None = None) -> Any:
    return await _json(await client.get(ROOT + path, headers=AUTH, params=params), 200)


async def _post(client: Client, path: str, body: Any, status: int = 201) -> Any:
    return await _json(await client.post(ROOT + path, headers=AUTH, json=body), status)


async def _odata_error(response: aiohttp.ClientResponse, status: int, code: str) -> str:
    body = await _json(response, status)
    error = body["odata.error"]
    assert error["code"] == code
    assert error["message"]["lang"] == "ru"
    return str(error["message"]["value"])


async def _control(client: Client, method: str, path: str, body: Any = None) -> Any:
    return await _json(await client.request(method, f"/_control/{path}", json=body), 200)


def _order(**overrides: Any) -> dict[str, Any]:
    return {
        "Контрагент_Key": counterparty_ref("20000"),
        "НомерПоДаннымКлиента": "MSG-0001",
        "АдресДоставки": "г. Санкт-Петербург, Невский пр., д. 1",
        "Товары": [
            {"LineNumber": "1", "Номенклатура_Key": item_ref("1003"), "Количество": 12},
            {"LineNumber": "2", "Номенклатура_Key": item_ref("1200"), "Количество": 2, "Цена": 600},
        ],
        **overrides,
    }


def _order_path(ref: str, suffix: str = "") -> str:
    return f"Document_ЗаказКлиента(guid'{ref}'){suffix}"


# --- protocol basics ---------------------------------------------------------------------


def test_create_app_takes_keyword_only_settings_with_defaults() -> None:
    parameters = inspect.signature(create_app).parameters
    assert {name: p.default for name, p in parameters.items()} == {
        "username": "bus",
        "password": "bus-secret",
        "publication": "b2b",
    }
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values())


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": encode_basic_auth("bus", "wrong")}, {"Authorization": "Bearer x"}],
)
async def test_odata_without_valid_basic_credentials_gets_401(
    onec: Client, headers: dict[str, str]
) -> None:
    response = await onec.get(ROOT + "Catalog_Контрагенты", headers=headers)
    await _odata_error(response, 401, "20")
    assert response.headers["WWW-Authenticate"] == 'Basic realm="1C"'


async def test_http_service_without_credentials_gets_401_in_its_own_shape(onec: Client) -> None:
    response = await onec.get(HS + "balance", params={"customer": "10000"})
    assert "error" in await _json(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Basic realm="1C"'


async def test_other_publications_do_not_exist_and_control_needs_no_auth(onec: Client) -> None:
    response = await onec.get("/other/odata/standard.odata/", headers=AUTH)
    await _odata_error(response, 404, "6")
    assert await _control(onec, "GET", "health") == {"ok": True}


async def test_publication_name_is_configurable(aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(create_app(publication="ut", username="Админ", password="п"))
    auth = {"Authorization": encode_basic_auth("Админ", "п")}
    response = await client.get("/ut/odata/standard.odata/Catalog_Номенклатура", headers=auth)
    assert response.status == 200


async def test_service_document_lists_the_published_objects(onec: Client) -> None:
    response = await onec.get(ROOT, headers=AUTH)
    body = await _json(response, 200)
    assert response.headers["DataServiceVersion"] == "3.0"
    assert response.content_type == "application/json"
    origin = f"http://{response.url.host}:{response.url.port}"
    assert body["odata.metadata"] == f"{origin}{ROOT}$metadata"
    assert [s["name"] for s in body["value"]] == [
        "Catalog_Контрагенты",
        "Catalog_ДоговорыКонтрагентов",
        "Catalog_Номенклатура",
        "Catalog_ЕдиницыИзмерения",
        "Document_ЗаказКлиента",
        "Document_ЗаказКлиента_Товары",
        "InformationRegister_ЦеныНоменклатуры",
        "AccumulationRegister_ТоварыНаСкладах",
    ]


async def test_metadata_is_edmx_v3_in_the_standard_odata_namespace(onec: Client) -> None:
    response = await onec.get(ROOT + "$metadata", headers=AUTH)
    assert response.status == 200 and response.content_type == "application/xml"
    root = ET.fromstring(await response.read())
    edm = "{http://schemas.microsoft.com/ado/2009/11/edm}"
    schema = root.find(f".//{edm}Schema")
    assert schema is not None and schema.get("Namespace") == "StandardODATA"
    types = {t.get("Name"): t for t in schema.findall(f"{edm}EntityType")}
    assert set(types) >= {"Catalog_Контрагенты", "Document_ЗаказКлиента"}

    def properties(name: str) -> dict[str | None, str | None]:
        return {p.get("Name"): p.get("Type") for p in types[name].findall(f"{edm}Property")}

    assert properties("Catalog_Контрагенты")["ИНН"] == "Edm.String"
    assert properties("Document_ЗаказКлиента")["Date"] == "Edm.DateTime"
    assert properties("Document_ЗаказКлиента")["Контрагент_Key"] == "Edm.Guid"
    assert properties("Document_ЗаказКлиента")["Товары"] == (
        "Collection(StandardODATA.Document_ЗаказКлиента_Товары_RowType)"
    )
    assert properties("Document_ЗаказКлиента_Товары")["LineNumber"] == "Edm.Int64"
    navigation = [
        n.get("Name") for n in types["Document_ЗаказКлиента"].iter(f"{edm}NavigationProperty")
    ]
    assert navigation == ["Контрагент"]
    assert properties("Catalog_Контрагенты")["ОсновнойСклад"] == "Edm.String"


async def test_metadata_publishes_the_contracts_catalog(onec: Client) -> None:
    root = ET.fromstring(await (await onec.get(ROOT + "$metadata", headers=AUTH)).read())
    edm = "{http://schemas.microsoft.com/ado/2009/11/edm}"
    contract = root.find(f".//{edm}EntityType[@Name='{CONTRACTS}']")
    assert contract is not None
    properties = {p.get("Name"): p.get("Type") for p in contract.findall(f"{edm}Property")}
    assert properties == {
        "Ref_Key": "Edm.Guid",
        "DataVersion": "Edm.String",
        "DeletionMark": "Edm.Boolean",
        "Code": "Edm.String",
        "Description": "Edm.String",
        "Owner_Key": "Edm.Guid",
        "ВидДоговора": "Edm.String",
        "ВидПродукции": "Edm.String",
        "Склад": "Edm.String",
        "Predefined": "Edm.Boolean",
        "PredefinedDataName": "Edm.String",
    }
    assert [n.get("Name") for n in contract.iter(f"{edm}NavigationProperty")] == ["Owner"]
    sets = {e.get("Name"): e.get("EntityType") for e in root.iter(f"{edm}EntitySet")}
    assert sets[CONTRACTS] == f"StandardODATA.{CONTRACTS}"
    owner = root.find(f".//{edm}Association[@Name='{CONTRACTS}_Owner']")
    assert owner is not None
    ends = {end.get("Role"): end.get("Type") for end in owner.findall(f"{edm}End")}
    assert ends["End"] == "StandardODATA.Catalog_Контрагенты"


async def test_collection_is_json_light_v3_with_1c_conventions(onec: Client) -> None:
    response = await onec.get(ROOT + "Catalog_Контрагенты", headers=AUTH)
    body = await _json(response, 200)
    origin = f"http://{response.url.host}:{response.url.port}"
    assert body["odata.metadata"] == f"{origin}{ROOT}$metadata#Catalog_Контрагенты"
    folder, first = body["value"][0], body["value"][1]
    assert folder["IsFolder"] is True and folder["Description"] == "Покупатели"
    assert first["Ref_Key"] == counterparty_ref("10000")
    assert first["Parent_Key"] == folder["Ref_Key"]
    assert first["Parent@navigationLinkUrl"] == (
        f"Catalog_Контрагенты(guid'{first['Ref_Key']}')/Parent"
    )
    assert re.fullmatch(r"[A-Za-z0-9+/]{11}=", first["DataVersion"])
    assert (first["Code"], first["ИНН"], first["КПП"]) == ("10000", "7701234567", "770101001")
    assert first["ЛицензияНаАлкоголь"] and first["АдресЛицензии"]
    assert first["Predefined"] is False and first["PredefinedDataName"] == ""
    codes = {c["Code"]: c for c in body["value"] if not c["IsFolder"]}
    assert list(codes) == ["10000", "20000", "30000", "40000", "50000"]
    assert codes["40000"]["DeletionMark"] is True
    assert codes["30000"]["ЛицензияНаАлкоголь"] and not codes["20000"]["ЛицензияНаАлкоголь"]
    assert {code: c["ОсновнойСклад"] for code, c in codes.items()} == {
        "10000": "Основной склад",
        "20000": "Основной склад",
        "30000": "Склад Красногорск",
        "40000": "Основной склад",
        "50000": "Основной склад",
    }


async def test_contracts_belong_to_counterparties_and_say_what_they_sell(onec: Client) -> None:
    contracts = (await _get(onec, CONTRACTS))["value"]
    assert [(c["Code"], c["ВидПродукции"], c["DeletionMark"]) for c in contracts] == [
        ("Д-10000-А", "alcohol", False),
        ("Д-20000-В", "water", False),
        ("Д-20000-А", "alcohol", False),
        ("Д-20000-П", "accessories", False),
        ("Д-50000-В", "water", False),
        ("Д-50000-А", "alcohol", False),
        ("Д-50000-П", "accessories", True),
    ]
    first = contracts[1]
    assert first["Ref_Key"] == contract_ref("Д-20000-В")
    assert first["Owner_Key"] == counterparty_ref("20000")
    assert first["Owner@navigationLinkUrl"] == f"{CONTRACTS}(guid'{first['Ref_Key']}')/Owner"
    assert (first["ВидДоговора"], first["Склад"]) == ("СПокупателем", "Основной склад")
    assert first["Description"] and re.fullmatch(r"[A-Za-z0-9+/]{11}=", first["DataVersion"])
    one = await _get(onec, f"{CONTRACTS}(guid'{contract_ref('Д-10000-А')}')", {"$expand": "Owner"})
    assert one["Owner"]["Code"] == "10000"


@pytest.mark.parametrize(
    ("customer", "codes"),
    [
        ("20000", ["Д-20000-В", "Д-20000-А", "Д-20000-П"]),
        ("10000", ["Д-10000-А"]),
        ("50000", ["Д-50000-В", "Д-50000-А"]),  # its accessories one is marked for deletion
        ("30000", []),
    ],
)
async def test_contracts_are_found_by_owner_and_deletion_mark(
    onec: Client, customer: str, codes: list[str]
) -> None:
    owner = counterparty_ref(customer).upper()  # 1C reads a GUID literal in either case
    found = await _get(
        onec,
        CONTRACTS,
        {
            "$filter": f"Owner_Key eq guid'{owner}' and DeletionMark eq false",
            "$select": "Code,ВидПродукции",
        },
    )
    assert [c["Code"] for c in found["value"]] == codes
    assert all(set(c) == {"Code", "ВидПродукции"} for c in found["value"])


async def test_contracts_refuse_an_unknown_product_type_or_owner(onec: Client) -> None:
    body = {"Code": "Д-1", "Owner_Key": counterparty_ref("30000"), "ВидПродукции": "wine"}
    response = await onec.post(ROOT + CONTRACTS, headers=AUTH, json=body)
    assert "ВидПродукции" in await _odata_error(response, 400, "4")
    body = {**body, "ВидПродукции": "alcohol", "Owner_Key": EMPTY_REF.replace("0", "1")}
    response = await onec.post(ROOT + CONTRACTS, headers=AUTH, json=body)
    assert "Owner_Key" in await _odata_error(response, 400, "4")
    created = await _post(onec, CONTRACTS, {**body, "Owner_Key": counterparty_ref("30000")})
    assert (created["ВидДоговора"], created["ВидПродукции"]) == ("СПокупателем", "alcohol")


async def test_percent_encoded_cyrillic_names_and_quotes_work(onec: Client) -> None:
    path = quote(f"{ROOT}Catalog_Номенклатура(guid'{item_ref('1100')}')", safe="/")
    response = await onec.get(URL(path, encoded=True), headers=AUTH)
    body = await _json(response, 200)
    assert body["odata.metadata"].endswith("$metadata#Catalog_Номенклатура/@Element")
    assert (body["Code"], body["ВидНоменклатуры"], body["КратностьУпаковки"]) == (
        "1100",
        "Вода",
        24,
    )


async def test_items_mix_kinds_and_pack_sizes(onec: Client) -> None:
    items = (await _get(onec, "Catalog_Номенклатура"))["value"]
    assert [i["Code"] for i in items] == [
        *("1000", "1001", "1002", "1003", "1004", "1005"),
        *("1100", "1101", "1102", "1200", "1201", "1202"),
    ]
    assert {i["ВидНоменклатуры"] for i in items} == {"Вода", "Алкоголь", "Аксессуары"}
    assert {i["ЕдиницаИзмерения"] for i in items} == {"шт", "уп"}
    assert any(i["КратностьУпаковки"] > 1 for i in items)


# --- queries -------------------------------------------------------------------------------


async def test_filter_with_guid_and_datetime_literals(onec: Client) -> None:
    customer = counterparty_ref("10000")
    found = await _get(
        onec,
        "Document_ЗаказКлиента",
        {
            "$filter": f"Контрагент_Key eq guid'{customer}' "
            "and Date ge datetime'2026-11-15T00:00:00'",
            "$format": "json",
            "allowedOnly": "true",
        },
    )
    assert [o["Number"] for o in found["value"]] == ["УТ-000102"]
    before = "Date lt datetime'2026-11-15T00:00:00' and Posted eq true"
    older = await _get(onec, "Document_ЗаказКлиента", {"$filter": before})
    assert [o["Number"] for o in older["value"]] == ["УТ-000101"]


async def test_filter_operators_strings_numbers_and_functions(onec: Client) -> None:
    async def codes(expression: str) -> list[str]:
        body = await _get(onec, "Catalog_Номенклатура", {"$filter": expression, "$select": "Code"})
        return [row["Code"] for row in body["value"]]

    assert await codes("КратностьУпаковки gt 1 and not (ВидНоменклатуры eq 'Вода')") == [
        "1002",
        "1003",
    ]
    assert await codes("Code eq '1200' or ЕдиницаИзмерения eq 'уп'") == ["1200", "1201"]
    # 1C compares strings without case.
    assert await codes("ВидНоменклатуры eq 'аксессуары' and Code ne '1201'") == ["1200", "1202"]
    assert await codes("substringof('газированная', Description)") == ["1100", "1101", "1102"]
    assert await codes("startswith(Description, 'Вода') eq true and Code le '1100'") == ["1100"]
    assert await codes("DeletionMark eq true") == ["1005"]


@pytest.mark.parametrize(
    "expression",
    [
        f"Ref_Key eq '{EMPTY_REF}'",  # a reference needs guid'…'
        "Date eq '2026-01-01'",
        "Code eq 1000",
        "Нет eq 1",
        "Code eq",
        "Code eq 'unclosed",
        "Ref_Key eq guid'not-a-guid'",
    ],
)
async def test_invalid_filters_are_refused_with_code_14(onec: Client, expression: str) -> None:
    field = "Date" if expression.startswith("Date") else "Code"
    entity = "Document_ЗаказКлиента" if field == "Date" else "Catalog_Номенклатура"
    response = await onec.get(ROOT + entity, headers=AUTH, params={"$filter": expression})
    await _odata_error(response, 400, "14")


async def test_inlinecount_top_skip_orderby_and_select(onec: Client) -> None:
    body = await _get(
        onec,
        "Catalog_Номенклатура",
        {
            "$filter": "ВидНоменклатуры eq 'Алкоголь'",
            "$orderby": "Code desc",
            "$top": "2",
            "$skip": "1",
            "$select": "Code,Description",
            "$inlinecount": "allpages",
        },
    )
    assert body["odata.count"] == "6"
    assert body["odata.metadata"].endswith("#Catalog_Номенклатура&$select=Code,Description")
    assert [list(row) for row in body["value"]] == [["Code", "Description"]] * 2
    assert [row["Code"] for row in body["value"]] == ["1004", "1003"]
    count = await onec.get(ROOT + "Catalog_Номенклатура/$count", headers=AUTH)
    assert await count.text() == "12"


@pytest.mark.parametrize(
    "params",
    [{"$inlinecount": "yes"}, {"$top": "-1"}, {"$select": "Нет"}, {"$search": "x"}],
)
async def test_invalid_query_options_are_refused(onec: Client, params: dict[str, str]) -> None:
    response = await onec.get(ROOT + "Catalog_Номенклатура", headers=AUTH, params=params)
    await _odata_error(response, 400, "14")


async def test_only_the_json_representation_is_served(onec: Client) -> None:
    response = await onec.get(
        ROOT + "Catalog_Номенклатура", headers=AUTH, params={"$format": "atom"}
    )
    await _odata_error(response, 400, "3")


async def test_key_access_and_missing_objects(onec: Client) -> None:
    ref = counterparty_ref("30000")
    body = await _get(onec, f"Catalog_Контрагенты(guid'{ref}')", {"$select": "Code,ИНН"})
    assert body == {
        "odata.metadata": body["odata.metadata"],
        "Code": "30000",
        "ИНН": "5024123456",
    }
    assert body["odata.metadata"].endswith("#Catalog_Контрагенты/@Element&$select=Code,ИНН")
    missing = await onec.get(ROOT + f"Catalog_Контрагенты(guid'{order_ref('x')}')", headers=AUTH)
    assert "не найден" in await _odata_error(missing, 404, "9")
    malformed = await onec.get(ROOT + "Catalog_Контрагенты(guid'zz')", headers=AUTH)
    await _odata_error(malformed, 400, "6")


async def test_unknown_entity_set_is_404_in_the_envelope(onec: Client) -> None:
    response = await onec.get(ROOT + "Catalog_Склады", headers=AUTH)
    message = await _odata_error(response, 404, "8")
    assert "Catalog_Склады" in message


async def test_expand_inlines_the_referenced_object(onec: Client) -> None:
    order = await _get(
        onec,
        _order_path(order_ref("УТ-000101")),
        {"$expand": "Контрагент", "$select": "Number,Контрагент_Key"},
    )
    assert order["Контрагент"]["Code"] == "10000"
    assert "Контрагент@navigationLinkUrl" not in order


async def test_orders_carry_rows_inline_with_string_line_numbers(onec: Client) -> None:
    order = await _get(onec, _order_path(order_ref("УТ-000101")))
    assert (order["Number"], order["Date"], order["Posted"]) == (
        "УТ-000101",
        "2026-11-10T12:00:00",
        True,
    )
    assert order["Статус"] == "КОбеспечению"
    rows = order["Товары"]
    assert [row["LineNumber"] for row in rows] == ["1", "2"]
    assert rows[0]["Номенклатура_Key"] == item_ref("1000")
    assert rows[0]["Сумма"] == rows[0]["Количество"] * rows[0]["Цена"]
    assert order["СуммаДокумента"] == sum(row["Сумма"] for row in rows)
    others = await _get(onec, "Document_ЗаказКлиента", {"$filter": "Posted eq false"})
    assert [o["Number"] for o in others["value"]] == ["УТ-000102"]


# --- writes ----------------------------------------------------------------------------------


async def test_create_order_with_rows(onec: Client) -> None:
    response = await onec.post(ROOT + "Document_ЗаказКлиента", headers=AUTH, json=_order())
    order = await _json(response, 201)
    assert GUID.match(order["Ref_Key"])
    assert response.headers["Location"].endswith(_order_path(order["Ref_Key"]))
    assert order["odata.metadata"].endswith("#Document_ЗаказКлиента/@Element")
    assert order["Number"] == "УТ-000103"
    assert order["Date"] == "2026-11-22T10:00:00"
    assert (order["Posted"], order["Статус"]) == (False, "КСогласованию")
    rows = order["Товары"]
    # 20000 has an individual Prosecco price (900); the corkscrew row kept the price it sent.
    assert [(r["LineNumber"], r["Цена"], r["Сумма"]) for r in rows] == [
        ("1", 900, 10800),
        ("2", 600, 1200),
    ]
    assert order["СуммаДокумента"] == 12000
    again = await _post(onec, "Document_ЗаказКлиента", _order(НомерПоДаннымКлиента="MSG-0002"))
    assert again["Number"] == "УТ-000104" and again["DataVersion"] != order["DataVersion"]


async def test_a_row_in_boxes_is_priced_per_box_by_the_units_coefficient(onec: Client) -> None:
    box = unit_ref("1003", "BOX")
    units = await _get(
        onec, "Catalog_ЕдиницыИзмерения", {"$filter": f"Owner_Key eq guid'{item_ref('1003')}'"}
    )
    assert [(u["Ref_Key"], u["Code"], u["Коэффициент"]) for u in units["value"]] == [
        (box, "BOX", 6)
    ]
    rows = [
        # Two boxes of Prosecco: 20000's individual price of a bottle (900) times six.
        {
            "LineNumber": "1",
            "Номенклатура_Key": item_ref("1003"),
            "Количество": 2,
            "ЕдиницаИзмерения_Key": box,
        },
        # The same item in bottles: the base unit, coefficient 1.
        {"LineNumber": "2", "Номенклатура_Key": item_ref("1003"), "Количество": 3},
        # A coefficient the client sends is kept, and so is a price it sends.
        {
            "LineNumber": "3",
            "Номенклатура_Key": item_ref("1003"),
            "Количество": 1,
            "ЕдиницаИзмерения_Key": box,
            "Коэффициент": 12,
            "Цена": 10000,
        },
    ]
    order = await _post(onec, "Document_ЗаказКлиента", _order(Товары=rows))
    assert [
        (r["ЕдиницаИзмерения_Key"], r["Коэффициент"], r["Количество"], r["Цена"], r["Сумма"])
        for r in order["Товары"]
    ] == [(box, 6, 2, 5400, 10800), (EMPTY_REF, 1, 3, 900, 2700), (box, 12, 1, 10000, 10000)]
    assert order["СуммаДокумента"] == 23500
    expanded = await _get(
        onec,
        "Document_ЗаказКлиента_Товары",
        {"$filter": f"Ref_Key eq guid'{order['Ref_Key']}'", "$expand": "ЕдиницаИзмерения"},
    )
    assert [(r["ЕдиницаИзмерения"] or {}).get("Code") for r in expanded["value"]] == [
        "BOX",
        None,
        "BOX",
    ]


async def test_the_delivery_address_is_kept_as_sent(onec: Client) -> None:
    address = "Московская обл., г. Красногорск, ул. Высокая, д. 10, склад «Б»"
    created = await _post(onec, "Document_ЗаказКлиента", _order(АдресДоставки=address))
    assert created["АдресДоставки"] == address
    read = await _get(onec, _order_path(created["Ref_Key"]), {"$select": "Number,АдресДоставки"})
    assert read == {
        "odata.metadata": read["odata.metadata"],
        "Number": "УТ-000103",
        "АдресДоставки": address,
    }
    found = await _get(
        onec, "Document_ЗаказКлиента", {"$filter": "substringof('склад «б»', АдресДоставки)"}
    )
    assert [o["Ref_Key"] for o in found["value"]] == [created["Ref_Key"]]
    blank = await _post(onec, "Document_ЗаказКлиента", _order(АдресДоставки=None))
    assert blank["АдресДоставки"] == ""


async def test_order_is_found_by_the_clients_reference(onec: Client) -> None:
    created = await _post(onec, "Document_ЗаказКлиента", _order())
    found = await _get(
        onec,
        "Document_ЗаказКлиента",
        {"$filter": "НомерПоДаннымКлиента eq 'MSG-0001'", "$select": "Ref_Key,Number,Posted"},
    )
    assert found["value"] == [
        {"Ref_Key": created["Ref_Key"], "Number": "УТ-000103", "Posted": False}
    ]
    none = await _get(onec, "Document_ЗаказКлиента", {"$filter": "НомерПоДаннымКлиента eq 'NOPE'"})
    assert none["value"] == []


async def test_a_row_without_line_number_is_refused(onec: Client) -> None:
    body = _order(Товары=[{"Номенклатура_Key": item_ref("1000"), "Количество": 1}])
    response = await onec.post(ROOT + "Document_ЗаказКлиента", headers=AUTH, json=body)
    assert "LineNumber" in await _odata_error(response, 400, "5")
    # Nothing was written and no number was used up.
    assert (await _post(onec, "Document_ЗаказКлиента", _order()))["Number"] == "УТ-000103"


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"Контрагент_Key": order_ref("nobody")}, "4"),
        (
            {"Товары": [{"LineNumber": 1, "Номенклатура_Key": counterparty_ref("10000")}]},
            "4",
        ),
        ({"Статус": "Выдуманный"}, "4"),
        ({"Date": "22.11.2026"}, "4"),
        ({"Поле": 1}, "10"),
        ({"Товары": [{"LineNumber": 1}, {"LineNumber": "1"}]}, "4"),
    ],
)
async def test_invalid_orders_are_refused(
    onec: Client, overrides: dict[str, Any], code: str
) -> None:
    response = await onec.post(
        ROOT + "Document_ЗаказКлиента", headers=AUTH, json=_order(**overrides)
    )
    await _odata_error(response, 400, code)


async def test_malformed_bodies_are_refused_with_code_2(onec: Client) -> None:
    response = await onec.post(ROOT + "Document_ЗаказКлиента", headers=AUTH, data=b"{oops")
    await _odata_error(response, 400, "2")


async def test_posting_rows_directly_fails_with_code_13(onec: Client) -> None:
    row = {"Ref_Key": order_ref("УТ-000102"), "LineNumber": "3", "Количество": 1}
    response = await onec.post(ROOT + "Document_ЗаказКлиента_Товары", headers=AUTH, json=row)
    assert "табличных частей" in await _odata_error(response, 400, "13")


async def test_tabular_section_is_readable_as_its_own_set(onec: Client) -> None:
    ref = order_ref("УТ-000102")
    rows = await _get(onec, "Document_ЗаказКлиента_Товары", {"$filter": f"Ref_Key eq guid'{ref}'"})
    assert [(r["Ref_Key"], r["LineNumber"]) for r in rows["value"]] == [(ref, "1"), (ref, "2")]
    row = await _get(onec, f"Document_ЗаказКлиента_Товары(Ref_Key=guid'{ref}', LineNumber=2)")
    assert row["Номенклатура_Key"] == item_ref("1200")
    everything = await _get(onec, "Document_ЗаказКлиента_Товары", {"$inlinecount": "allpages"})
    assert everything["odata.count"] == "4"


async def test_patch_replaces_rows_and_checks_the_data_version(onec: Client) -> None:
    order = await _post(onec, "Document_ЗаказКлиента", _order())
    path = ROOT + _order_path(order["Ref_Key"])
    body = {
        "Комментарий": "Срочно",
        "Товары": [{"LineNumber": "1", "Номенклатура_Key": item_ref("1100"), "Количество": 48}],
    }
    response = await onec.patch(path, headers={**AUTH, "If-Match": order["DataVersion"]}, json=body)
    patched = await _json(response, 200)
    assert patched["Комментарий"] == "Срочно"
    # HoReCa price for still water: 40 × 48.
    assert [(r["LineNumber"], r["Сумма"]) for r in patched["Товары"]] == [("1", 1920)]
    assert patched["СуммаДокумента"] == 1920
    assert patched["Number"] == order["Number"] and patched["DataVersion"] != order["DataVersion"]
    stale = await onec.patch(
        path, headers={**AUTH, "If-Match": f'W/"{order["DataVersion"]}"'}, json={"Комментарий": "x"}
    )
    await _odata_error(stale, 412, "0")
    merged = await onec.request(
        "MERGE",
        path,
        headers={**AUTH, "If-Match": patched["DataVersion"]},
        json={"Комментарий": "y"},
    )
    assert (await _json(merged, 200))["Комментарий"] == "y"
    tunnelled = await onec.post(
        path, headers={**AUTH, "X-HTTP-Method": "MERGE"}, json={"АдресДоставки": "самовывоз"}
    )
    assert (await _json(tunnelled, 200))["АдресДоставки"] == "самовывоз"


async def test_post_and_unpost(onec: Client) -> None:
    order = await _post(onec, "Document_ЗаказКлиента", _order())
    post = ROOT + _order_path(order["Ref_Key"], "/Post")
    response = await onec.post(post, headers=AUTH, params={"PostingModeOperational": "false"})
    assert response.status == 200 and await response.read() == b""
    posted = await _get(onec, _order_path(order["Ref_Key"]))
    assert posted["Posted"] is True and posted["DataVersion"] != order["DataVersion"]
    unpost = await onec.post(ROOT + _order_path(order["Ref_Key"], "/Unpost"), headers=AUTH)
    assert unpost.status == 200
    assert (await _get(onec, _order_path(order["Ref_Key"])))["Posted"] is False
    stale = await onec.post(post, headers={**AUTH, "If-Match": order["DataVersion"]})
    await _odata_error(stale, 412, "0")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"Товары": []}, "Товары"),
        ({"Контрагент_Key": counterparty_ref("40000")}, "помечен на удаление"),
        ({"Контрагент_Key": None}, "Контрагент"),
        (
            {
                "Товары": [
                    {
                        "LineNumber": "1",
                        "Номенклатура_Key": item_ref("1000"),
                        "Количество": 1,
                        "ЕдиницаИзмерения_Key": unit_ref("1002", "BOX"),
                    }
                ]
            },
            "не относится к номенклатуре",
        ),
    ],
)
async def test_posting_is_refused_like_the_posting_handler_does(
    onec: Client, overrides: dict[str, Any], reason: str
) -> None:
    order = await _post(onec, "Document_ЗаказКлиента", _order(**overrides))
    response = await onec.post(ROOT + _order_path(order["Ref_Key"], "/Post"), headers=AUTH)
    message = await _odata_error(response, 500, "-1")
    assert message.startswith("Не удалось провести") and reason in message
    assert (await _get(onec, _order_path(order["Ref_Key"])))["Posted"] is False


async def test_marking_a_posted_order_for_deletion_unposts_it(onec: Client) -> None:
    path = ROOT + _order_path(order_ref("УТ-000101"))
    response = await onec.patch(path, headers=AUTH, json={"DeletionMark": True})
    order = await _json(response, 200)
    assert (order["DeletionMark"], order["Posted"]) == (True, False)


async def test_delete_is_physical(onec: Client) -> None:
    path = ROOT + _order_path(order_ref("УТ-000102"))
    assert (await onec.delete(path, headers=AUTH)).status == 204
    await _odata_error(await onec.get(path, headers=AUTH), 404, "9")


async def test_catalog_objects_can_be_created_and_changed(onec: Client) -> None:
    created = await _post(
        onec,
        "Catalog_Контрагенты",
        {"Description": "Новый клиент", "ИНН": "7700000001", "odata.metadata": "ignored"},
    )
    assert created["Code"] == "50001" and created["IsFolder"] is False
    path = ROOT + f"Catalog_Контрагенты(guid'{created['Ref_Key']}')"
    changed = await onec.patch(
        path, headers={**AUTH, "1C_OData_DataLoadMode": "true"}, json={"ГруппаЦен": "Сети"}
    )
    assert (await _json(changed, 200))["ГруппаЦен"] == "Сети"
    chosen = await _post(
        onec, "Catalog_Номенклатура", {"Ref_Key": order_ref("mine"), "Description": "Лёд"}
    )
    assert (chosen["Ref_Key"], chosen["Code"]) == (order_ref("mine"), "1203")
    taken = await onec.post(
        ROOT + "Catalog_Номенклатура", headers=AUTH, json={"Ref_Key": order_ref("mine")}
    )
    await _odata_error(taken, 400, "15")


async def test_the_price_register_and_its_slice_last(onec: Client) -> None:
    item = item_ref("1000")
    condition = f"Номенклатура_Key eq guid'{item}' and ВидЦены eq 'Базовая'"
    history = await _get(
        onec, "InformationRegister_ЦеныНоменклатуры", {"$filter": condition, "$orderby": "Period"}
    )
    assert [(r["Period"], r["Цена"], r["Валюта"]) for r in history["value"]] == [
        ("2025-01-01T00:00:00", 1390, "RUB"),
        ("2026-01-01T00:00:00", 1490, "RUB"),
    ]
    latest = await _get(
        onec, "InformationRegister_ЦеныНоменклатуры/SliceLast()", {"$filter": condition}
    )
    assert [r["Цена"] for r in latest["value"]] == [1490]
    by_kind = await _get(
        onec,
        "InformationRegister_ЦеныНоменклатуры/SliceLast(Period=datetime'2025-12-31T00:00:00')",
        {"$filter": f"Номенклатура_Key eq guid'{item}'", "$orderby": "ВидЦены"},
    )
    assert [(r["ВидЦены"], r["Цена"]) for r in by_kind["value"]] == [
        ("Базовая", 1390),
        ("Индивидуальная", 1380),
    ]
    conditioned = await onec.get(
        ROOT + "InformationRegister_ЦеныНоменклатуры/SliceLast(Condition='ВидЦены eq ''Акция''')",
        headers=AUTH,
    )
    assert {r["ВидЦены"] for r in (await _json(conditioned, 200))["value"]} == {"Акция"}


async def test_unknown_actions_and_methods(onec: Client) -> None:
    path = ROOT + _order_path(order_ref("УТ-000101"), "/Провести")
    await _odata_error(await onec.post(path, headers=AUTH), 400, "11")
    register = ROOT + "InformationRegister_ЦеныНоменклатуры"
    await _odata_error(await onec.post(register, headers=AUTH, json={}), 405, "19")
    metadata = await onec.post(ROOT + "$metadata", headers=AUTH)
    await _odata_error(metadata, 405, "19")
    slice_with_text_period = register + "/SliceLast(Period='2026')"
    await _odata_error(await onec.get(slice_with_text_period, headers=AUTH), 400, "6")
    await _odata_error(await onec.get(register + "/SliceFirst()", headers=AUTH), 400, "11")


# --- HTTP service ----------------------------------------------------------------------------


async def _hs(client: Client, method: str, path: str, status: int, **kwargs: Any) -> Any:
    return await _json(await client.request(method, HS + path, headers=AUTH, **kwargs), status)


async def test_prices_follow_the_best_price_rule(onec: Client) -> None:
    params = {"customer": "10000", "items": "1000,1002,1004,1100,1200", "quantities": "5,6,1,48,2"}
    body = await _hs(onec, "GET", "prices", 200, params=params)
    assert (body["customer"], body["currency"]) == ("10000", "RUB")
    assert [
        (p["item"], p["quantity"], p["price"], p["kind"], p["promo"]) for p in body["prices"]
    ] == [
        # Individual price beats the group, the base and a higher November promotion.
        ("1000", 5, 1350, "Индивидуальная", False),
        # No group price: the open-ended Rioja promotion is below the base price.
        ("1002", 6, 1080, "Акция", True),
        ("1004", 1, 3490, "Акция", True),
        ("1100", 48, 42, "Сети", False),
        # The corkscrew promotion ended in 2025.
        ("1200", 2, 650, "Базовая", False),
    ]


async def test_prices_in_a_unit_are_the_base_price_times_its_coefficient(onec: Client) -> None:
    params = {
        "customer": "10000",
        "items": "1002,1002,1000,1100",
        "quantities": "2,6,5,1",
        "units": "BOX,,шт,box",
    }
    body = await _hs(onec, "GET", "prices", 200, params=params)
    assert [(p["item"], p["unit"], p["price"]) for p in body["prices"]] == [
        ("1002", "BOX", 6480),  # six bottles at the Rioja promotion's 1080
        ("1002", "шт", 1080),
        ("1000", "шт", 1350),  # the base unit named explicitly
        ("1100", "BOX", 1008),  # 24 bottles at the group's 42; unit codes ignore case
    ]
    unknown = {"customer": "10000", "items": "1000", "units": "BOX"}
    refused = await _hs(onec, "GET", "prices", 404, params=unknown)
    assert "BOX" in refused["error"] and "1000" in refused["error"]


async def test_prices_for_another_group_and_date(onec: Client) -> None:
    horeca = await _hs(onec, "GET", "prices", 200, params={"customer": "20000", "items": "1002"})
    assert [(p["price"], p["kind"], p["quantity"]) for p in horeca["prices"]] == [
        (1010, "HoReCa", 1)
    ]
    summer = await _hs(
        onec,
        "GET",
        "prices",
        200,
        params={"customer": "30000", "items": "1000,1200", "date": "2025-07-01"},
    )
    assert [(p["price"], p["promo"]) for p in summer["prices"]] == [(1390, False), (490, True)]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"customer": "99999", "items": "1000"}, 404),
        ({"customer": "10000", "items": "9999"}, 404),
        ({"items": "1000"}, 400),
        ({"customer": "10000"}, 400),
        ({"customer": "10000", "items": "1000,1001", "quantities": "1"}, 400),
        ({"customer": "10000", "items": "1000", "quantities": "x"}, 400),
        ({"customer": "10000", "items": "1000", "date": "22.11.2026"}, 400),
        ({"customer": "10000", "items": "1000,1002", "units": "BOX"}, 400),
    ],
)
async def test_price_requests_are_validated(
    onec: Client, params: dict[str, str], status: int
) -> None:
    body = await _hs(onec, "GET", "prices", status, params=params)
    assert isinstance(body["error"], str) and body["error"]


def _assert_pdf(encoded: str) -> None:
    pdf = base64.b64decode(encoded)
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    start = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert pdf[start:].startswith(b"xref")
    entries = pdf[start:].split(b"\n")[3:9]
    for number, entry in enumerate(entries, start=1):
        assert pdf[int(entry[:10]) :].startswith(b"%d 0 obj" % number)


async def test_invoices_are_idempotent_by_request_id(onec: Client) -> None:
    request = {"customer": "10000", "amount": 12345.5, "request_id": "req-1"}
    first = await _hs(onec, "POST", "invoices", 201, json=request)
    assert (first["number"], first["date"], first["amount"]) == (
        "СЧ-000001",
        "2026-11-22T10:00:00",
        12345.5,
    )
    _assert_pdf(first["pdf_base64"])
    assert await _hs(onec, "POST", "invoices", 201, json=request) == first
    other = await _hs(onec, "POST", "invoices", 201, json={**request, "request_id": "req-2"})
    assert other["number"] == "СЧ-000002"
    conflict = await _hs(onec, "POST", "invoices", 409, json={**request, "amount": 1})
    assert "req-1" in conflict["error"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"customer": "99999", "amount": 1, "request_id": "r"}, 404),
        ({"customer": "40000", "amount": 1, "request_id": "r"}, 409),
        ({"customer": "10000", "amount": 0, "request_id": "r"}, 400),
        ({"customer": "10000", "amount": "1", "request_id": "r"}, 400),
        ({"customer": "10000", "amount": 1}, 400),
        ([], 400),
    ],
)
async def test_invoice_requests_are_validated(onec: Client, body: Any, status: int) -> None:
    assert "error" in await _hs(onec, "POST", "invoices", status, json=body)


async def test_reconciliation_acts(onec: Client) -> None:
    request = {"customer": "20000", "year": 2026, "quarter": 3, "request_id": "act-1"}
    act = await _hs(onec, "POST", "reconciliation-acts", 201, json=request)
    assert act["number"] == "АС-000001"
    assert act["period"] == {"from": "2026-07-01", "to": "2026-09-30"}
    _assert_pdf(act["pdf_base64"])
    assert await _hs(onec, "POST", "reconciliation-acts", 201, json=request) == act
    q4 = await _hs(
        onec, "POST", "reconciliation-acts", 201, json={**request, "quarter": 4, "request_id": "a2"}
    )
    assert q4["period"] == {"from": "2026-10-01", "to": "2026-12-31"}
    future = {**request, "year": 2027, "quarter": 1, "request_id": "a3"}
    await _hs(onec, "POST", "reconciliation-acts", 422, json=future)
    await _hs(onec, "POST", "reconciliation-acts", 400, json={**request, "quarter": 5})
    await _hs(onec, "POST", "reconciliation-acts", 404, json={**request, "customer": "1"})


async def test_balance(onec: Client) -> None:
    body = await _hs(onec, "GET", "balance", 200, params={"customer": "10000"})
    assert body == {
        "balance": 162350.5,
        "credit_limit": 2500000,
        "receivables": 177350.5,
        "overdue": 0,
        "payments_in_progress": 15000,
    }
    assert body["balance"] == body["receivables"] - body["payments_in_progress"]
    await _hs(onec, "GET", "balance", 404, params={"customer": "77777"})
    await _hs(onec, "GET", "balance", 400)


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _fake_clock(client: Client) -> FakeClock:
    clock = FakeClock()
    client.app[ONEC_KEY].clock = clock
    return clock


async def _preparing(client: Client, path: str, body: Any) -> int:
    """Assert the service is still preparing ``body``'s document; the Retry-After seconds."""
    response = await client.post(HS + path, headers=AUTH, json=body)
    assert await _json(response, 202) == {"status": "preparing", "request_id": body["request_id"]}
    return int(response.headers["Retry-After"])


async def test_a_new_invoice_is_prepared_then_issued_once(onec: Client) -> None:
    clock = _fake_clock(onec)
    assert await _control(onec, "POST", "onec/documents", {"preparing_for": 2.5}) == {
        "preparing_for": 2.5
    }
    assert await _control(onec, "GET", "onec/documents") == {"preparing_for": 2.5}
    request = {"customer": "10000", "amount": 100, "request_id": "slow-1"}
    assert await _preparing(onec, "invoices", request) == 3
    clock.now += 1.2
    assert await _preparing(onec, "invoices", request) == 2
    clock.now += 1.2
    # 0.1 s left: the header says at least a whole second.
    assert await _preparing(onec, "invoices", request) == 1
    # Another request_id starts its own wait.
    other = {**request, "request_id": "slow-2"}
    assert await _preparing(onec, "invoices", other) == 3
    clock.now += 0.1
    invoice = await _hs(onec, "POST", "invoices", 201, json=request)
    assert invoice["number"] == "СЧ-000001"
    _assert_pdf(invoice["pdf_base64"])
    assert await _hs(onec, "POST", "invoices", 201, json=request) == invoice
    assert await _preparing(onec, "invoices", other) == 3


async def test_a_new_reconciliation_act_is_prepared_too(onec: Client) -> None:
    clock = _fake_clock(onec)
    await _control(onec, "POST", "onec/documents", {"preparing_for": 1})
    request = {"customer": "20000", "year": 2026, "quarter": 3, "request_id": "act-slow"}
    assert await _preparing(onec, "reconciliation-acts", request) == 1
    clock.now += 1
    act = await _hs(onec, "POST", "reconciliation-acts", 201, json=request)
    assert act["number"] == "АС-000001"
    assert await _hs(onec, "POST", "reconciliation-acts", 201, json=request) == act


async def test_documents_issued_before_are_not_prepared_again(onec: Client) -> None:
    request = {"customer": "10000", "amount": 5, "request_id": "early"}
    invoice = await _hs(onec, "POST", "invoices", 201, json=request)
    await _control(onec, "POST", "onec/documents", {"preparing_for": 60})
    assert await _hs(onec, "POST", "invoices", 201, json=request) == invoice


async def test_invalid_document_requests_fail_at_once_while_preparing(onec: Client) -> None:
    await _control(onec, "POST", "onec/documents", {"preparing_for": 60})
    invoice = {"customer": "10000", "amount": 1, "request_id": "bad"}
    await _hs(onec, "POST", "invoices", 404, json={**invoice, "customer": "99999"})
    await _hs(onec, "POST", "invoices", 409, json={**invoice, "customer": "40000"})
    await _hs(onec, "POST", "invoices", 400, json={**invoice, "amount": 0})
    act = {"customer": "20000", "year": 2027, "quarter": 1, "request_id": "bad-act"}
    await _hs(onec, "POST", "reconciliation-acts", 422, json=act)
    await _hs(onec, "POST", "reconciliation-acts", 400, json={**act, "quarter": 5})
    # A request_id in preparation is taken: asked for something else, it is a conflict.
    await _preparing(onec, "invoices", invoice)
    conflict = await _hs(onec, "POST", "invoices", 409, json={**invoice, "amount": 2})
    assert "bad" in conflict["error"]


@pytest.mark.parametrize(
    "body", [{"preparing_for": -1}, {"preparing_for": "5"}, {"preparing_for": True}, {}, [1]]
)
async def test_the_preparation_time_is_validated(onec: Client, body: Any) -> None:
    response = await onec.post("/_control/onec/documents", json=body)
    assert "error" in await _json(response, 400)
    assert await _control(onec, "GET", "onec/documents") == {"preparing_for": 0}


async def test_reset_prepares_documents_at_once_again(onec: Client) -> None:
    await _control(onec, "POST", "onec/documents", {"preparing_for": 60})
    request = {"customer": "10000", "amount": 1, "request_id": "r"}
    await _preparing(onec, "invoices", request)
    await _control(onec, "POST", "reset")
    assert await _control(onec, "GET", "onec/documents") == {"preparing_for": 0}
    assert (await _hs(onec, "POST", "invoices", 201, json=request))["number"] == "СЧ-000001"


def _request(**overrides: Any) -> dict[str, Any]:
    request = {
        "request_id": "q-1",
        "customer": "10000",
        "kind": "delivery_address",
        "details": {"address": "г. Москва, ул. Складская, д. 5"},
    }
    return {**request, **overrides}


async def test_customer_requests_are_registered_with_sequential_numbers(onec: Client) -> None:
    first = await _hs(onec, "POST", "requests", 201, json=_request())
    assert first == {"number": "ЗП-000001", "status": "registered", "request_id": "q-1"}
    employee = _request(request_id="q-2", kind="employee", details={"name": "Иванова А. А."})
    second = await _hs(onec, "POST", "requests", 201, json=employee)
    assert second["number"] == "ЗП-000002"
    listed = await _control(onec, "GET", "onec/requests")
    assert listed["requests"] == [
        {
            "number": "ЗП-000001",
            "request_id": "q-1",
            "customer": "10000",
            "kind": "delivery_address",
            "details": {"address": "г. Москва, ул. Складская, д. 5"},
            "status": "registered",
            "registered_at": "2026-11-22T10:00:00",
        },
        {
            "number": "ЗП-000002",
            "request_id": "q-2",
            "customer": "10000",
            "kind": "employee",
            "details": {"name": "Иванова А. А."},
            "status": "registered",
            "registered_at": "2026-11-22T10:00:00",
        },
    ]


async def test_a_repeated_request_gets_the_same_number(onec: Client) -> None:
    first = await _hs(onec, "POST", "requests", 201, json=_request())
    assert await _hs(onec, "POST", "requests", 201, json=_request()) == first
    conflict = await _hs(onec, "POST", "requests", 409, json=_request(details={"address": "x"}))
    assert "q-1" in conflict["error"]
    await _hs(onec, "POST", "requests", 409, json=_request(kind="employee"))
    assert len((await _control(onec, "GET", "onec/requests"))["requests"]) == 1


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"customer": "99999"}, 404),
        ({"customer": "40000"}, 409),
        ({"kind": "discount"}, 400),
        ({"details": "адрес"}, 400),
        ({"details": None}, 400),
        ({"request_id": ""}, 400),
        ({"customer": None}, 400),
    ],
)
async def test_customer_requests_are_validated(
    onec: Client, overrides: dict[str, Any], status: int
) -> None:
    body = {k: v for k, v in _request(**overrides).items() if v is not None}
    refused = await _hs(onec, "POST", "requests", status, json=body)
    assert isinstance(refused["error"], str) and refused["error"]
    assert (await _control(onec, "GET", "onec/requests"))["requests"] == []


async def test_a_request_with_a_body_that_is_not_an_object_is_400(onec: Client) -> None:
    assert "error" in await _hs(onec, "POST", "requests", 400, json=["q-1"])
    response = await onec.post(HS + "requests", headers=AUTH, data=b"{")
    assert "error" in await _json(response, 400)


async def test_reset_forgets_the_requests(onec: Client) -> None:
    await _hs(onec, "POST", "requests", 201, json=_request())
    await _control(onec, "POST", "reset")
    assert (await _control(onec, "GET", "onec/requests"))["requests"] == []
    again = await _hs(onec, "POST", "requests", 201, json=_request(request_id="q-9"))
    assert again["number"] == "ЗП-000001"


async def test_unknown_routes_and_methods_of_the_http_service(onec: Client) -> None:
    assert "error" in await _hs(onec, "GET", "orders", 404)
    assert "error" in await _hs(onec, "GET", "invoices", 405)


# --- faults and control ----------------------------------------------------------------------


async def test_down_drops_the_connection(onec: Client) -> None:
    await _control(onec, "POST", "faults", {"mode": "down", "times": 1})
    with pytest.raises(aiohttp.ClientError):
        await onec.get(ROOT + "Catalog_Контрагенты", headers=AUTH)
    assert (await onec.get(ROOT + "Catalog_Контрагенты", headers=AUTH)).status == 200


async def test_injected_errors_default_to_the_odata_error_envelope(onec: Client) -> None:
    await _control(onec, "POST", "faults", {"mode": "error", "status": 404, "times": 1})
    await _control(onec, "POST", "faults", {"mode": "status", "status": 503, "match": "/odata/"})
    await _odata_error(await onec.get(ROOT + "Catalog_Контрагенты", headers=AUTH), 404, "9")
    await _odata_error(await onec.get(ROOT + "Catalog_Контрагенты", headers=AUTH), 503, "-1")
    assert (await onec.get(HS + "balance?customer=10000", headers=AUTH)).status == 200


async def test_drop_after_commit_creates_the_order_but_loses_the_answer(onec: Client) -> None:
    await _control(onec, "POST", "faults", {"mode": "drop_after_commit", "methods": ["POST"]})
    with pytest.raises(aiohttp.ClientError):
        await onec.post(ROOT + "Document_ЗаказКлиента", headers=AUTH, json=_order())
    await _control(onec, "DELETE", "faults")
    found = await _get(
        onec, "Document_ЗаказКлиента", {"$filter": "НомерПоДаннымКлиента eq 'MSG-0001'"}
    )
    assert [o["Number"] for o in found["value"]] == ["УТ-000103"]


async def test_an_unexpected_failure_is_code_minus_one(
    onec: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("simulators.onec.handlers.run_query", explode)
    response = await onec.get(ROOT + "Catalog_Контрагенты", headers=AUTH)
    assert "внутренняя ошибка" in await _odata_error(response, 500, "-1")


async def test_reset_restores_the_seed(onec: Client) -> None:
    await _post(onec, "Document_ЗаказКлиента", _order())
    await _hs(
        onec, "POST", "invoices", 201, json={"customer": "10000", "amount": 1, "request_id": "r"}
    )
    await onec.delete(ROOT + _order_path(order_ref("УТ-000101")), headers=AUTH)
    assert await _control(onec, "POST", "reset") == {"ok": True}
    numbers = [o["Number"] for o in (await _get(onec, "Document_ЗаказКлиента"))["value"]]
    assert numbers == ["УТ-000101", "УТ-000102"]
    assert (await _post(onec, "Document_ЗаказКлиента", _order()))["Number"] == "УТ-000103"
    again = {"customer": "10000", "amount": 2, "request_id": "r"}
    assert (await _hs(onec, "POST", "invoices", 201, json=again))["number"] == "СЧ-000001"
