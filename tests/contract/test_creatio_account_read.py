"""``account.read`` against the Creatio simulator: what Creatio keeps on an account for the
storefront, which its business process does not send. The manager is the account's ``Owner`` (a
``Contact``: ``Name``, ``Email``); the greeting the account's ``UsrStorefrontGreeting``; the menu
the ``UsrStorefrontMenuItem`` detail, by ``UsrPosition``. An account without a manager says why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bus.adapters import Delivery
from bus.errors import PermanentError
from simulators.creatio import seed_id
from tests.contract.consoles import CreatioConsole as Crm
from tests.contract.pairs import PAIRS, new_id, running

pytestmark = pytest.mark.timeout(60)

ACCOUNT_10000 = seed_id("Account:10000")
MARINA = {"name": "Marina Sokolova", "email": "m.sokolova@wholesale.example"}


@pytest.fixture
async def crm(aiohttp_server: Any) -> AsyncIterator[Crm]:
    [pair] = [p for p in PAIRS if p.name == "creatio"]
    async with running(pair, aiohttp_server) as served:
        yield Crm(served.base, served.adapter, served.control)


def read(erp_key: str, **settings: Any) -> Delivery:
    """The first step of ``account.create``, as the CRM's call journaled it."""
    payload = {"erp_key": erp_key, "contacts": [], "settings": settings}
    return Delivery(new_id(), "account.read", payload)


async def test_the_owner_greeting_and_menu_of_the_account_found_by_code(
    crm: Crm,
) -> None:
    receipt = await crm.adapter.deliver(read("10000"))
    assert receipt.reference == ACCOUNT_10000
    assert receipt.details == {
        "crm_settings": {
            "crm_id": ACCOUNT_10000,
            "manager": MARINA,
            "greeting": "Добрый день, Adatum!",
            "menu": ["catalog", "orders", "documents"],
        }
    }
    assert await crm.adapter.lookup(read("10000")) is None  # a read: nothing to find


async def test_the_account_the_crm_named_and_its_menu_in_the_managers_order(
    crm: Crm,
) -> None:
    account = seed_id("Account:20000")
    for position, item in ((2, "prices"), (1, "orders"), (3, "")):  # an empty row is no item
        row = {"UsrName": item, "UsrPosition": position, "UsrAccountId": account}
        await crm.odata("POST", "UsrStorefrontMenuItem", row)
    receipt = await crm.adapter.deliver(read("10000", crm_id=account.upper()))
    settings = receipt.details["crm_settings"]
    assert settings["crm_id"] == account and settings["menu"] == ["orders", "prices"]
    assert settings["greeting"] is None
    assert settings["manager"] == {"name": "Pavel Orlov", "email": "p.orlov@wholesale.example"}


async def test_an_account_without_an_owner_has_no_manager_and_says_why(crm: Crm) -> None:
    settings = (await crm.adapter.deliver(read("30000"))).details["crm_settings"]
    assert settings["manager"] is None and settings["menu"] is None
    assert settings["no_manager"] == f"creatio account {seed_id('Account:30000')} has no Owner"


async def test_an_owner_without_an_email_is_no_manager_to_mail(crm: Crm) -> None:
    await crm.odata("PATCH", f"Contact({seed_id('Owner:Marina Sokolova')})", {"Email": ""})
    settings = (await crm.adapter.deliver(read("10000"))).details["crm_settings"]
    assert settings["manager"] is None
    assert settings["no_manager"].endswith("Owner 'Marina Sokolova' has no email")


@pytest.mark.parametrize(
    ("delivery", "reason"),
    [
        (read("99999"), "creatio has no account with Code '99999'"),
        (read("10000", crm_id=seed_id("Account:99999")), "creatio has no account"),
        (read("10000", crm_id=f"{ACCOUNT_10000})/Owner("), "is not a GUID"),
    ],
    ids=["unknown-code", "unknown-crm-id", "crm-id-no-guid"],
)
async def test_an_account_creatio_does_not_have_is_permanent(
    crm: Crm, delivery: Delivery, reason: str
) -> None:
    with pytest.raises(PermanentError) as refused:
        await crm.adapter.deliver(delivery)
    assert reason in refused.value.detail
