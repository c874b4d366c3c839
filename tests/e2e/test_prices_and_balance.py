"""``prices.get`` and ``balance.get`` end to end, for each ERP: the bus and the ERP's simulator as
real processes, called as the storefront calls them.

Neither query involves the CRM, so each ERP runs once (with no CRM simulator at all).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bus.settings import DEV_KEYS
from tests.e2e.conftest import running
from tests.support.processes import BusClient, Stack

#: Per ERP: why an item and a customer may not be ordered, and an item on promotion.
ERPS: dict[str, dict[str, str]] = {
    "navision": {
        "item": "item_blocked",
        "customer": "customer_blocked",
        "promo_item": "1200",
        "promo_kind": "Campaign",
    },
    "onec": {
        "item": "item_deleted",
        "customer": "customer_deleted",
        "promo_item": "1002",
        "promo_kind": "Акция",
    },
}


@pytest.fixture(params=sorted(ERPS))
def erp_stack(request: pytest.FixtureRequest, log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    erp: str = request.param
    env = {"BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}"}
    yield from running(Stack(env, log_dir, erp=erp, simulators=(erp,)))


def _call(stack: Stack, method: str, params: dict[str, Any]) -> Any:
    client = BusClient(stack.api_url, DEV_KEYS["storefront"])
    try:
        return client.call(method, params)
    finally:
        client.close()


def test_prices_flag_what_may_not_be_ordered_and_mark_promotions(erp_stack: Stack) -> None:
    expected = ERPS[erp_stack.erp]
    items = [{"item": "1005"}, {"item": expected["promo_item"]}, {"item": "1000"}]
    answer = _call(erp_stack, "prices.get", {"customer": "10000", "items": items})
    assert (answer["orderable"], answer["reason"]) == (True, None)
    refused, promo, regular = answer["prices"]
    assert (refused["orderable"], refused["reason"]) == (False, expected["item"])
    assert refused["price"] > 0
    assert (promo["promo"], promo["kind"], promo["orderable"]) == (
        True,
        expected["promo_kind"],
        True,
    )
    assert (regular["promo"], regular["orderable"], regular["reason"]) == (False, True, None)

    blocked = _call(erp_stack, "prices.get", {"customer": "40000", "items": [{"item": "1000"}]})
    assert (blocked["orderable"], blocked["reason"]) == (False, expected["customer"])
    assert [(p["orderable"], p["reason"]) for p in blocked["prices"]] == [
        (False, expected["customer"])
    ]


def test_balance_gives_overdue_debt_and_payments_in_progress(erp_stack: Stack) -> None:
    # 20000 owes money past its due date; 10000 has paid money not yet set against its debt.
    overdue = _call(erp_stack, "balance.get", {"customer": "20000"})
    paying = _call(erp_stack, "balance.get", {"customer": "10000"})
    for answer in (overdue, paying):
        assert not answer["stale"]
        assert answer["balance"] == pytest.approx(
            answer["receivables"] - answer["payments_in_progress"]
        )
    assert overdue["overdue"] > 0 and overdue["payments_in_progress"] == 0
    assert paying["payments_in_progress"] > 0 and paying["overdue"] == 0
