"""Order routing by customer segment: the rules of ``settings.order_routes`` as data."""

from __future__ import annotations

from typing import Any

import pytest

from bus.errors import InvalidParams
from bus.order_routing import OrderPlan, OrderRouter, plan_order
from bus.settings import OrderRoute, Settings
from schemas.steps import CustomerProfile

MANAGER = {"name": "Olga", "email": "olga@b2b.example"}
LICENSED = {
    "licence": {"number": "77RPA0012345", "address": "Moscow, Tverskaya 1"},
    "contracts": [{"number": "D-A", "product_type": "alcohol"}],
    "manager": MANAGER,
}
BY_CONTRACT = {
    "licence": None,
    "contracts": [
        {"number": "D-W", "product_type": "water"},
        {"number": "D-A", "product_type": "alcohol"},
        {"number": "D-X", "product_type": "accessories"},
    ],
    "manager": MANAGER,
}


def _plan(order: dict[str, Any], profile: dict[str, Any] | None, settings: Settings) -> OrderPlan:
    """The plan of ``order`` for a customer whose directory profile is ``profile`` (as stored)."""
    kept = None if profile is None else CustomerProfile.model_validate(profile)
    return plan_order(order, kept, settings)


def _order(*types: str | None) -> dict[str, Any]:
    return {
        "order_id": "W-1",
        "customer": "20000",
        "lines": [
            {"item": f"I{n}", "quantity": 1, "unit": None, "product_type": kind}
            for n, kind in enumerate(types)
        ],
        "delivery": {"date": "2026-12-01", "address_code": "SHOP"},
    }


def test_a_licensed_customer_orders_through_the_erp_to_the_licence_address() -> None:
    plan = _plan(_order("alcohol", "water"), LICENSED, Settings())
    assert plan.route == "licensed" and not plan.branches
    assert plan.steps == (
        ("navision", "sales_order.create"),
        ("bitrix24", "order.create"),
        ("mail", "mail.order_waiting"),
    )
    assert plan.payload["delivery"] == {"date": "2026-12-01", "address": "Moscow, Tverskaya 1"}
    assert plan.payload["manager"] == MANAGER


def test_an_unlicensed_customer_with_contracts_gets_one_pickup_order_per_contract() -> None:
    plan = _plan(_order("water", "alcohol", "water"), BY_CONTRACT, Settings(crm="creatio"))
    assert plan.route == "by_contract" and plan.steps == ()
    orders = {b.name: b.payload for b in plan.branches}
    assert sorted(orders) == ["D-A", "D-W"]  # no accessories in this cart: no third order
    assert [line["item"] for line in orders["D-W"]["lines"]] == ["I0", "I2"]
    assert orders["D-W"]["order_id"] == "W-1/D-W" and orders["D-W"]["parent_order_id"] == "W-1"
    assert orders["D-W"]["delivery"]["pickup"] is True
    assert all(
        b.steps
        == (
            ("navision", "order.quote"),  # the ERP prices the CRM's order, holding none
            ("creatio", "order.create"),
            ("mail", "mail.order_waiting"),
        )
        for b in plan.branches
    )
    assert plan.summary()["orders"][0] == {
        "order_id": "W-1/D-W",
        "contract": {"number": "D-W", "product_type": "water"},
        "lines": 2,
    }


def test_a_split_names_each_line_it_cannot_place() -> None:
    with pytest.raises(InvalidParams) as refused:
        _plan(_order("water", None, "tobacco"), BY_CONTRACT, Settings())
    fields = {f["field"]: f["message"] for f in refused.value.data["fields"]}
    assert sorted(fields) == ["lines.1.product_type", "lines.2.product_type"]
    assert "no contract for 'tobacco'" in fields["lines.2.product_type"]


def test_a_customer_the_directory_does_not_know_takes_the_last_rule_its_mail_saying_why() -> None:
    plan = _plan(_order("alcohol"), None, Settings(erp="onec"))
    assert plan.route == "default"
    assert plan.steps == (
        ("onec", "sales_order.create"),
        ("bitrix24", "order.create"),
        ("mail", "mail.order_waiting"),  # kept: it tells that nobody is mailed
    )
    assert plan.payload["delivery"] == _order()["delivery"]  # as ordered
    assert "manager" not in plan.payload
    assert "20000 is not in the bus's directory" in plan.payload["no_manager"]


def test_a_customer_without_a_manager_keeps_the_mail_step_with_the_crms_reason() -> None:
    profile = {**LICENSED, "manager": None, "no_manager": "creatio account X has no Owner"}
    plan = _plan(_order("alcohol"), profile, Settings())
    assert plan.steps[-1] == ("mail", "mail.order_waiting")
    assert plan.payload["no_manager"] == (
        "customer 20000 has no manager (creatio account X has no Owner)"
    )
    split = _plan(_order("water", "alcohol"), {**BY_CONTRACT, "manager": None}, Settings())
    for branch in split.branches:
        assert branch.steps[-1] == ("mail", "mail.order_waiting")
        assert branch.payload["no_manager"] == "customer 20000 has no manager (the CRM named none)"


def test_one_contract_is_not_a_split() -> None:
    single = {**BY_CONTRACT, "contracts": BY_CONTRACT["contracts"][:1]}
    assert _plan(_order("water"), single, Settings()).route == "default"


def test_routes_are_configuration_and_the_last_must_take_everyone() -> None:
    erp_only = Settings(order_routes=(OrderRoute(name="erp", steps=("erp:sales_order.create",)),))
    assert _plan(_order("water"), LICENSED, erp_only).steps == (("navision", "sales_order.create"),)
    with pytest.raises(ValueError, match="last order route"):
        Settings(order_routes=(OrderRoute(name="x", licensed=True, steps=("erp:a",)),))
    with pytest.raises(ValueError, match="role:operation"):
        OrderRoute(name="x", steps=("warehouse:pick",))


class CountingDirectory:
    """A customer directory in memory that counts how often it is read."""

    def __init__(self, profiles: dict[str, dict[str, Any]]) -> None:
        self.profiles = profiles
        self.reads = 0

    async def get(self, name: str) -> dict[str, Any] | None:
        self.reads += 1
        return self.profiles.get(name)

    async def put(self, name: str, value: dict[str, Any]) -> None:
        self.profiles[name] = value


async def test_the_router_reads_a_profile_once_and_an_unknown_customer_each_time() -> None:
    directory = CountingDirectory({"20000": BY_CONTRACT})
    router = OrderRouter(Settings(), directory)
    for _ in range(3):
        order = _order("water")
        assert router.plan(order, await router.profile("20000")).route == "by_contract"
    assert directory.reads == 1
    unknown = {**_order("water"), "customer": "77777"}
    assert router.plan(unknown, await router.profile("77777")).route == "default"
    await directory.put("77777", LICENSED)  # provisioned meanwhile
    assert router.plan(unknown, await router.profile("77777")).route == "licensed"
    assert directory.reads == 3
