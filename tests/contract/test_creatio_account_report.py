"""``account.report`` against the Creatio simulator: the provisioning's outcome in the account's
``Notes``. A PATCH sets the whole text, so repeating it is harmless and there is nothing to look
up; the account is the CRM's ``settings.crm_id`` when it sent one, which must be an ``Id`` (a GUID)
before it goes into a URL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bus.adapters import Delivery
from bus.errors import PermanentError
from simulators.creatio import seed_id
from tests.contract.consoles import CreatioConsole
from tests.contract.pairs import PAIRS, new_id, running

pytestmark = pytest.mark.timeout(60)

#: What the steps before the report produced: the storefront user and the imported orders.
PROVISIONED = {"reference": "mail-1", "context": {"user_id": "u-0003", "imported": 2}}
OUTCOME = (
    "Storefront account ready: user u-0003, 2 past orders imported, set-password mail sent."
    " No manager (the CRM named none): new orders mail nobody until one is set."
)


class Crm(CreatioConsole):
    """The Creatio simulator, the adapter under test, and a client that reads it directly."""

    async def notes(self, account_id: str) -> str | None:
        response = await self.odata("GET", f"Account({account_id})")
        notes: str | None = response.json().get("Notes")
        return notes

    async def requests(self) -> list[dict[str, Any]]:
        received = await self.control.get(f"{self.base}/_control/received")
        requests: list[dict[str, Any]] = received.raise_for_status().json()["requests"]
        return requests


@pytest.fixture
async def crm(aiohttp_server: Any) -> AsyncIterator[Crm]:
    [pair] = [p for p in PAIRS if p.name == "creatio"]
    async with running(pair, aiohttp_server) as served:
        yield Crm(served.base, served.adapter, served.control)


def report(erp_key: str, **settings: Any) -> Delivery:
    """An ``account.report`` of a provisioned customer, as the route's last step gets it."""
    payload = {"erp_key": erp_key, "contacts": [], "settings": settings}
    return Delivery(new_id(), "account.report", payload, PROVISIONED)


async def test_the_report_lands_on_the_account_found_by_code(crm: Crm) -> None:
    receipt = await crm.adapter.deliver(report("30000"))
    assert receipt.reference == seed_id("Account:30000")
    assert await crm.notes(seed_id("Account:30000")) == OUTCOME
    assert await crm.adapter.lookup(report("30000")) is None  # a PATCH: nothing to find


async def test_the_report_lands_on_the_account_the_crm_named(crm: Crm) -> None:
    named = seed_id("Account:20000")
    await crm.adapter.deliver(report("10000", crm_id=named.upper()))
    assert await crm.notes(named) == OUTCOME
    assert await crm.notes(seed_id("Account:10000")) != OUTCOME


@pytest.mark.parametrize(
    "crm_id",
    ["2", f"{seed_id('Account:20000')})/PrimaryContact(", f"{seed_id('Account:20000')}?x=1"],
    ids=["a-number", "a-path", "a-query"],
)
async def test_a_crm_id_that_is_no_guid_is_refused_before_any_request(
    crm: Crm, crm_id: str
) -> None:
    with pytest.raises(PermanentError) as refused:
        await crm.adapter.deliver(report("10000", crm_id=crm_id))
    assert "is not a GUID" in refused.value.detail
    assert [r for r in await crm.requests() if r["method"] == "PATCH"] == []
    assert await crm.notes(seed_id("Account:20000")) != OUTCOME


@pytest.mark.parametrize(
    ("facts", "notes"),
    [
        (
            {"user_id": "u-0003", "user_outcome": "deactivated"},
            "Storefront account deactivated: user u-0003 can no longer sign in.",
        ),
        (
            {"user_id": None, "user_outcome": "nothing_to_deactivate"},
            "Nothing to deactivate: customer 30000 has no storefront user.",
        ),
    ],
    ids=["deactivated", "nothing-to-deactivate"],
)
async def test_a_deactivation_is_reported_on_the_account_found_by_code(
    crm: Crm, facts: dict[str, Any], notes: str
) -> None:
    delivery = Delivery(new_id(), "account.report", {"erp_key": "30000"}, facts)
    await crm.adapter.deliver(delivery)
    assert await crm.notes(seed_id("Account:30000")) == notes


async def test_an_update_names_what_changed_and_the_manager_the_crm_read(crm: Crm) -> None:
    # The steps before: the account read from Creatio (its Owner), the storefront's update.
    manager = {"name": "Marina Sokolova", "email": "m.sokolova@wholesale.example"}
    read = {"crm_settings": {"manager": manager, "crm_id": seed_id("Account:10000")}}
    facts = {
        "reference": "",
        "skipped": "no link",
        "context": {
            **read,
            "user_id": "u-0003",
            "user_outcome": "updated",
            "updated": ["manager", "settings"],
            "imported": 0,
        },
    }
    delivery = Delivery(new_id(), "account.report", {"erp_key": "10000", "contacts": []}, facts)
    receipt = await crm.adapter.deliver(delivery)
    assert receipt.reference == seed_id("Account:10000")  # the read's Id: no lookup by Code
    assert [r["method"] for r in await crm.requests()] == ["POST", "PATCH"]  # login, report
    assert await crm.notes(seed_id("Account:10000")) == (
        "Storefront account updated: user u-0003 (changed: manager, settings), 0 past orders"
        " imported; the user keeps its password, so no set-password mail."
        " Manager: Marina Sokolova <m.sokolova@wholesale.example>."
    )
