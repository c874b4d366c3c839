"""The ERP's customer facts and the directory's profile are types (``schemas.steps``).

``customer.read`` hands ``customer.remember`` a :class:`CustomerFacts`; the directory keeps a
:class:`CustomerProfile` as JSON, which order routing, the order checks and the delivery dates
read. Facts that are not facts are refused for good, naming the field; profiles kept before
they were typed read as they did.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bus.adapters.base import Delivery
from bus.adapters.directory import DirectoryAdapter
from bus.adapters.storefront import StorefrontAdapter
from bus.errors import PermanentError
from bus.order_routing import OrderRouter
from bus.settings import Settings, StorefrontSettings
from schemas.steps import CustomerFacts, CustomerProfile
from tests.support.documents import MemoryDocuments

MANAGER = {"name": "Olga", "email": "olga@b2b.example"}
ACCOUNT = {"erp_key": "20000", "segment": "horeca", "contacts": [], "settings": {}}
FACTS = {
    "erp_key": "20000",
    "name": "Bistro",
    "inn": None,
    "kpp": None,
    "licence": None,
    "price_group": None,
    "addresses": [{"code": "MAIN", "address": "Moscow, Arbat 1"}],
    "credit_limit": 1000,
    "warehouse": "EAST",
    "contracts": [
        {"number": "D-W", "product_type": "water", "description": None},
        {"number": "D-A", "product_type": "alcohol", "description": "Wine"},
    ],
}


def remember(customer: dict[str, Any] | None, **settings: Any) -> Delivery:
    context = {"crm_settings": settings, **({"customer": customer} if customer else {})}
    previous = {"reference": "20000", "context": context}
    return Delivery("01M81CZA5PRBW5YNXYBG64HDFF", "customer.remember", ACCOUNT, previous)


async def test_the_directory_keeps_the_erps_facts_and_the_crms_manager_as_a_profile() -> None:
    store = MemoryDocuments()
    await DirectoryAdapter(store).deliver(remember(FACTS, manager=MANAGER))
    profile = CustomerProfile.model_validate(store.kept["20000"])
    assert [c.number for c in profile.contracts] == ["D-W", "D-A"]
    assert (profile.warehouse, profile.segment, profile.licensed) == ("EAST", "horeca", False)
    assert profile.manager is not None and profile.manager.email == MANAGER["email"]
    router = OrderRouter(Settings(), store)
    order = {
        "order_id": "W-1",
        "customer": "20000",
        "lines": [{"item": "1", "quantity": 1.0, "unit": None, "product_type": "water"}],
        "delivery": None,
        "comment": None,
    }
    plan = router.plan(order, await router.profile("20000"))
    assert plan.route == "by_contract" and [b.name for b in plan.branches] == ["D-W"]


@pytest.mark.parametrize(
    ("broken", "field"),
    [
        ({"contracts": [{"product_type": "water"}]}, "contracts.0.number"),
        ({"licence": {"address": "Moscow"}}, "licence.number"),
        ({"erp_key": None}, "erp_key"),
        ({"addresses": [{"code": "MAIN"}]}, "addresses.0.address"),
    ],
)
async def test_facts_that_are_not_the_erps_customer_are_refused_naming_the_field(
    broken: dict[str, Any], field: str
) -> None:
    store = MemoryDocuments()
    with pytest.raises(PermanentError, match=rf"the ERP's customer is unreadable: {field}: "):
        await DirectoryAdapter(store).deliver(remember({**FACTS, **broken}, manager=MANAGER))
    assert store.kept == {}


async def test_a_profile_kept_before_profiles_were_typed_routes_and_refuses_as_it_did() -> None:
    store = MemoryDocuments()
    store.kept["10000"] = {
        "name": "Chain",
        "segment": None,
        "licence": {"number": "77RPA0012345", "address": "Moscow, Tverskaya 1"},
        "contracts": [{"number": "D-A", "product_type": "alcohol"}],
        "warehouse": None,
        "manager": None,
        "no_manager": "creatio account X has no Owner",
        "deactivated": {"message_id": "m-1", "at": "2026-11-23T10:00:00+00:00"},
    }
    profile = await OrderRouter(Settings(), store).profile("10000")
    assert profile is not None and profile.licensed
    assert profile.deactivated is not None and profile.deactivated.message_id == "m-1"
    assert profile.no_manager == "creatio account X has no Owner"


async def test_a_customer_never_provisioned_is_deactivated_with_a_profile_that_says_only_that() -> (
    None
):
    store = MemoryDocuments()
    delivery = Delivery("01M81CZA5PRBW5YNXYBG64HDFG", "customer.deactivate", {"erp_key": "30000"})
    await DirectoryAdapter(store).deliver(delivery)
    assert list(store.kept["30000"]) == ["deactivated"]
    kept = CustomerProfile.model_validate(store.kept["30000"])
    assert kept.deactivated is not None and kept.deactivated.message_id == delivery.message_id
    assert kept.contracts == [] and kept.licence is None


def test_the_erps_facts_are_handed_on_as_they_were_stored() -> None:
    facts = CustomerFacts.model_validate(FACTS)
    assert facts.as_fact() == {"customer": {**FACTS, "credit_limit": 1000.0}}


async def test_the_storefront_user_is_not_made_from_facts_that_are_not_the_erps_customer() -> None:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(599)

    account = {**ACCOUNT, "contacts": [{"name": "Olga", "email": "olga@bistro.example"}]}
    broken = {**FACTS, "contracts": [{"product_type": "water"}]}
    previous = {"reference": "20000", "context": {"crm_settings": {}, "customer": broken}}
    delivery = Delivery("01M81CZA5PRBW5YNXYBG64HDFH", "user.create", account, previous)
    settings = StorefrontSettings(url="http://127.0.0.1:9/rpc")
    async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as client:
        with pytest.raises(PermanentError, match=r"contracts\.0\.number: Field required"):
            await StorefrontAdapter(settings, client).deliver(delivery)
    assert sent == []
