"""The 1C simulator keeps stock in the accumulation register ``ТоварыНаСкладах`` and publishes it
as the standard OData interface does: the register's record sets, and its ``Balance`` virtual
table with ``Period``, ``Condition`` and ``Dimensions``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from simulators.onec import item_ref
from simulators.onec.seed import KRASNOGORSK_WAREHOUSE, MAIN_WAREHOUSE
from tests.simulators.test_onec import AUTH, ROOT, Client, _get, _json, _odata_error
from tests.simulators.test_onec import onec as onec  # noqa: F401 (the fixture)

STOCK = "AccumulationRegister_ТоварыНаСкладах"
EDM = "{http://schemas.microsoft.com/ado/2009/11/edm}"


def _by_item_and_warehouse(rows: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    return {(r["Номенклатура_Key"], r["Склад"]): r["ВНаличииBalance"] for r in rows}


async def test_metadata_describes_the_register_and_its_balance(onec: Client) -> None:
    root = ET.fromstring(await (await onec.get(ROOT + "$metadata", headers=AUTH)).read())
    sets = {e.get("Name"): e.get("EntityType") for e in root.iter(f"{EDM}EntitySet")}
    assert sets[STOCK] == f"StandardODATA.{STOCK}"
    register = root.find(f".//{EDM}EntityType[@Name='{STOCK}']")
    assert register is not None
    assert [r.get("Name") for r in register.iter(f"{EDM}PropertyRef")] == [
        "Recorder",
        "Recorder_Type",
    ]
    properties = {p.get("Name"): p.get("Type") for p in register.findall(f"{EDM}Property")}
    assert properties["RecordSet"] == f"Collection(StandardODATA.{STOCK}_RowType)"
    complex_types = {t.get("Name"): t for t in root.iter(f"{EDM}ComplexType")}
    rows = {p.get("Name"): p.get("Type") for p in complex_types[f"{STOCK}_RowType"]}
    assert (rows["Номенклатура_Key"], rows["Склад"], rows["ВНаличии"]) == (
        "Edm.Guid",
        "Edm.String",
        "Edm.Double",
    )
    assert rows["RecordType"] == "Edm.String" and rows["Period"] == "Edm.DateTime"
    balance = {p.get("Name"): p.get("Type") for p in complex_types[f"{STOCK}_Balance"]}
    assert balance == {
        "Номенклатура_Key": "Edm.Guid",
        "Склад": "Edm.String",
        "ВНаличииBalance": "Edm.Double",
    }
    function = next(
        f
        for f in root.iter(f"{EDM}FunctionImport")
        if f.get("Name") == "Balance"
        and f.get("ReturnType") == f"Collection(StandardODATA.{STOCK}_Balance)"
    )
    parameters = {p.get("Name"): p.get("Type") for p in function.iter(f"{EDM}Parameter")}
    assert parameters == {
        "bindingParameter": f"Collection(StandardODATA.{STOCK})",
        "Period": "Edm.DateTime",
        "Condition": "Edm.String",
        "Dimensions": "Edm.String",
    }


async def test_the_register_lists_its_record_sets_by_recorder(onec: Client) -> None:
    record_sets = (await _get(onec, STOCK))["value"]
    assert [r["Recorder_Type"] for r in record_sets] == [
        "StandardODATA.Document_ПриобретениеТоваровУслуг",
        "StandardODATA.Document_ПриобретениеТоваровУслуг",
        "StandardODATA.Document_РеализацияТоваровУслуг",
        "StandardODATA.Document_СписаниеНедостачТоваров",
    ]
    shipment = record_sets[2]
    assert [
        (r["LineNumber"], r["RecordType"], r["Номенклатура_Key"], r["Склад"], r["ВНаличии"])
        for r in shipment["RecordSet"]
    ] == [
        ("1", "Expense", item_ref("1000"), MAIN_WAREHOUSE, 12),
        ("2", "Expense", item_ref("1100"), MAIN_WAREHOUSE, 48),
    ]
    assert all(r["Active"] and r["Period"] == "2026-11-12T10:00:00" for r in shipment["RecordSet"])
    one = await _get(
        onec,
        f"{STOCK}(Recorder='{shipment['Recorder']}', Recorder_Type='{shipment['Recorder_Type']}')",
    )
    assert one["RecordSet"] == shipment["RecordSet"]


async def test_the_balance_sums_receipts_less_expenses_per_item_and_warehouse(
    onec: Client,
) -> None:
    answer = await _get(onec, f"{STOCK}/Balance()")
    assert answer["odata.metadata"].endswith(f"$metadata#{STOCK}_Balance")
    balances = _by_item_and_warehouse(answer["value"])
    assert balances[(item_ref("1000"), MAIN_WAREHOUSE)] == 480  # 492 received, 12 shipped
    assert balances[(item_ref("1200"), MAIN_WAREHOUSE)] == 120
    assert balances[(item_ref("1200"), KRASNOGORSK_WAREHOUSE)] == 30
    # Written off to nothing: a zero balance is no row at all, as in 1C.
    assert not any(key[0] == item_ref("1005") for key in balances)
    assert set(answer["value"][0]) == {"Номенклатура_Key", "Склад", "ВНаличииBalance"}


async def test_the_balance_at_a_period_leaves_out_later_movements(onec: Client) -> None:
    before = await _get(onec, f"{STOCK}/Balance(Period=datetime'2026-11-12T10:00:00')")
    balances = _by_item_and_warehouse(before["value"])
    assert balances[(item_ref("1000"), MAIN_WAREHOUSE)] == 492  # shipped at that very moment
    assert balances[(item_ref("1005"), MAIN_WAREHOUSE)] == 36  # not yet written off
    nothing_yet = await _get(onec, f"{STOCK}/Balance(Period=datetime'2026-10-01T00:00:00')")
    assert nothing_yet["value"] == []


async def test_condition_and_dimensions_give_one_row_per_item(onec: Client) -> None:
    # A string argument in the path: its own quotes doubled.
    condition = " or ".join(
        f"Номенклатура_Key eq guid''{item_ref(code)}''" for code in ("1200", "1005")
    )
    answer = await _get(
        onec, f"{STOCK}/Balance(Condition='{condition}', Dimensions='Номенклатура')"
    )
    assert answer["value"] == [{"Номенклатура_Key": item_ref("1200"), "ВНаличииBalance": 150}]
    by_warehouse = await _get(onec, f"{STOCK}/Balance(Dimensions='Склад')")
    totals = {r["Склад"]: r["ВНаличииBalance"] for r in by_warehouse["value"]}
    assert totals[KRASNOGORSK_WAREHOUSE] == 50  # 20 champagne, 30 corkscrews


async def test_query_options_apply_to_the_balance_rows(onec: Client) -> None:
    answer = await _get(
        onec,
        f"{STOCK}/Balance(Dimensions='Номенклатура')",
        {
            "$filter": "ВНаличииBalance gt 5000",
            "$select": "Номенклатура_Key,ВНаличииBalance",
            "$orderby": "ВНаличииBalance desc",
        },
    )
    assert [(r["Номенклатура_Key"], r["ВНаличииBalance"]) for r in answer["value"]] == [
        (item_ref("1100"), 9600),
        (item_ref("1101"), 7200),
    ]


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        (f"{STOCK}/Balance(Dimensions='Цвет')", 400, "6"),
        (f"{STOCK}/Balance(Period='2026')", 400, "6"),
        (f"{STOCK}/Balance(Condition='Цвет eq 1')", 400, "14"),
        (f"{STOCK}/Balance(Dimensions='Номенклатура')?$filter=Склад eq 'x'", 400, "14"),
        (f"{STOCK}/Turnovers()", 400, "11"),
        ("InformationRegister_ЦеныНоменклатуры/Balance()", 400, "11"),
    ],
)
async def test_a_malformed_balance_request_is_refused(
    onec: Client, path: str, status: int, code: str
) -> None:
    await _odata_error(await onec.get(ROOT + path, headers=AUTH), status, code)


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
async def test_the_register_is_written_by_posting_only(onec: Client, method: str) -> None:
    record_set = (await _get(onec, STOCK))["value"][0]
    path = (
        STOCK
        if method == "POST"
        else f"{STOCK}(Recorder='{record_set['Recorder']}', "
        f"Recorder_Type='{record_set['Recorder_Type']}')"
    )
    response = await onec.request(method, ROOT + path, headers=AUTH, json={})
    await _odata_error(response, 405, "19")
    assert (await _json(await onec.get(ROOT + STOCK, headers=AUTH), 200))["value"][0] == record_set
