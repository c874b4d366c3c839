"""The customer facts that route orders by segment, as the 1C adapter reads and writes them.

``customer.read`` brings the counterparty's warehouse and its contracts in force (what it buys,
by product type) next to the licence; ``sales_order.create`` sends the delivery address the bus
chose. Real HTTP against the 1C simulator; what landed is read back through its OData interface.
"""

from __future__ import annotations

import pytest

from bus.adapters import Delivery
from bus.errors import PermanentError
from tests.contract.erps import Onec
from tests.contract.pairs import new_id, new_order

pytestmark = pytest.mark.timeout(60)

CONTRACTS = "Catalog_ДоговорыКонтрагентов"


async def test_a_licensed_chain_has_its_licence_warehouse_and_one_alcohol_contract(
    onec: Onec,
) -> None:
    customer = await onec.customer("10000")
    assert customer["licence"] == {
        "number": "77РПА0012345",
        "address": "г. Москва, Рыночная пл., д. 192",
    }
    assert customer["warehouse"] == "Основной склад"
    assert customer["contracts"] == [
        {
            "number": "Д-10000-А",
            "product_type": "alcohol",
            "description": "Договор поставки алкогольной продукции",
        }
    ]
    # The facts are added, nothing the storefront account already took is lost.
    assert (customer["erp_key"], customer["inn"], customer["kpp"]) == (
        "10000",
        "7701234567",
        "770101001",
    )
    assert customer["price_group"] == "Сети"
    assert (customer["addresses"], customer["credit_limit"]) == ([], None)


async def test_an_unlicensed_bistro_has_a_contract_per_product_type(onec: Onec) -> None:
    customer = await onec.customer("20000")
    assert customer["licence"] is None
    assert customer["warehouse"] == "Основной склад"
    contracts = {c["number"]: c["product_type"] for c in customer["contracts"]}
    assert contracts == {
        "Д-20000-А": "alcohol",
        "Д-20000-В": "water",
        "Д-20000-П": "accessories",
    }
    assert all(c["description"] for c in customer["contracts"])


async def test_the_contracts_come_with_one_request(onec: Onec) -> None:
    await onec.customer("20000")
    reads = [r for r in await onec.requests() if r["path"].endswith(f"/{CONTRACTS}")]
    assert len(reads) == 1 and reads[0]["method"] == "GET"
    owner = (await onec.odata("Catalog_Контрагенты", **{"$filter": "Code eq '20000'"}))["value"]
    assert reads[0]["query"]["$filter"] == (
        f"Owner_Key eq guid'{owner[0]['Ref_Key']}' and DeletionMark eq false"
    )


async def test_a_contract_marked_for_deletion_is_left_out(onec: Onec) -> None:
    customer = await onec.customer("50000")
    assert customer["licence"] is None
    assert [(c["number"], c["product_type"]) for c in customer["contracts"]] == [
        ("Д-50000-А", "alcohol"),
        ("Д-50000-В", "water"),
    ]
    # 1C still has it: the adapter, not the seed, leaves it out.
    everything = await onec.odata(CONTRACTS, **{"$filter": "Code eq 'Д-50000-П'"})
    assert [c["DeletionMark"] for c in everything["value"]] == [True]


async def test_a_customer_without_contracts_has_an_empty_list(onec: Onec) -> None:
    customer = await onec.customer("30000")
    assert customer["contracts"] == []
    assert customer["warehouse"] == "Склад Красногорск"


async def test_a_counterparty_marked_for_deletion_is_still_refused(onec: Onec) -> None:
    with pytest.raises(PermanentError):
        await onec.customer("40000")


async def test_the_delivery_address_lands_on_the_customer_order(onec: Onec) -> None:
    address = "г. Москва, Рыночная пл., д. 192"
    order = new_order(delivery={"date": "2026-12-01", "address": address})
    receipt = await onec.adapter.deliver(Delivery(new_id(), "sales_order.create", order))
    created = await onec.odata(
        f"Document_ЗаказКлиента(guid'{receipt.details['ref_key']}')",
        **{"$select": "Number,АдресДоставки,ДатаОтгрузки,Posted"},
    )
    assert created["Number"] == receipt.reference
    assert created["АдресДоставки"] == address
    assert (created["ДатаОтгрузки"], created["Posted"]) == ("2026-12-01T00:00:00", True)


async def test_an_order_without_an_address_leaves_it_blank(onec: Onec) -> None:
    receipt = await onec.adapter.deliver(Delivery(new_id(), "sales_order.create", new_order()))
    created = await onec.odata(
        f"Document_ЗаказКлиента(guid'{receipt.details['ref_key']}')",
        **{"$select": "АдресДоставки"},
    )
    assert created["АдресДоставки"] == ""
    posted = [r for r in await onec.requests() if r["method"] == "POST"]
    assert "АдресДоставки" not in posted[0]["body"]
