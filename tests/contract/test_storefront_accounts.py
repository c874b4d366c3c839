"""The storefront adapter's account operations against the storefront simulator.

``user.create`` is an upsert: a new customer's user is created, a deactivated one re-activated, and
an active one ("user exists") updated with the same data, its CRM fields the account no longer has
cleared. ``user.deactivate`` of a customer without a user is "nothing to deactivate", not an error.
The storefront's own record of calls shows what reached it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bus.adapters import Adapter, Delivery, Receipt
from bus.errors import PermanentError, TransientError
from bus.sealing import Sealer
from tests.contract.pairs import HTTP_FAULTS, PAIRS, new_id, running

pytestmark = pytest.mark.timeout(60)

MANAGER = {"name": "Irina Volkova", "email": "irina.volkova@b2b.example"}
#: The ERP's customer, as ``customer.read`` hands it to the storefront step.
CUSTOMER = {"name": "Adatum Corporation", "inn": "7712345678", "price_group": "RETAIL"}


@dataclass
class Shop:
    """The storefront simulator, the adapter under test, and a client of its control API."""

    base: str
    adapter: Adapter
    control: httpx.AsyncClient

    async def users(self, customer: str) -> list[dict[str, Any]]:
        found = await self.control.get(
            f"{self.base}/_control/storefront/users", params={"customer": customer}
        )
        return list(found.raise_for_status().json()["users"])

    async def calls(self, message_id: str) -> list[tuple[str, bool, Any]]:
        """``(method, repeat, error code)`` of every call the message made."""
        found = await self.control.get(
            f"{self.base}/_control/storefront/calls", params={"message_id": message_id}
        )
        return [
            (c["method"], c["repeat"], (c["error"] or {}).get("code"))
            for c in found.raise_for_status().json()["calls"]
        ]


@pytest.fixture
async def shop(aiohttp_server: Any) -> AsyncIterator[Shop]:
    [pair] = [p for p in PAIRS if p.name == "storefront"]
    async with running(pair, aiohttp_server) as served:
        yield Shop(served.base, served.adapter, served.control)


def create(erp_key: str, **settings: Any) -> Delivery:
    """The storefront step of ``account.create``, after the CRM's read and the ERP's."""
    contact = {"name": "Olga Smirnova", "email": f"olga@{erp_key}.example", "primary": True}
    payload = {"erp_key": erp_key, "contacts": [contact], "settings": settings}
    customer = {"erp_key": erp_key, **CUSTOMER}
    facts = {"reference": erp_key, "customer": customer, "context": {"crm_settings": {}}}
    return Delivery(new_id(), "user.create", payload, facts)


def link(receipt: Receipt) -> str:
    """The set-password link a ``user.create`` result keeps sealed, opened."""
    return Sealer.development().open(receipt.details["set_password_link"])


def deactivate(erp_key: str) -> Delivery:
    return Delivery(new_id(), "user.deactivate", {"erp_key": erp_key})


async def test_a_second_create_updates_the_one_user_clearing_what_the_crm_dropped(
    shop: Shop,
) -> None:
    first = await shop.adapter.deliver(create("10000", greeting="Hello", manager=MANAGER))
    assert first.details["user_outcome"] == "created" and first.details["set_password_link"]
    again = create("10000", greeting="Welcome back", menu=["orders"])
    second = await shop.adapter.deliver(again)
    assert second == Receipt(
        first.reference,
        details={
            "user_id": first.reference,
            "active": True,
            "updated": ["manager", "settings"],
            "user_outcome": "updated",
        },
    )
    [user] = await shop.users("10000")
    assert user["settings"] == {"greeting": "Welcome back", "menu": ["orders"]}
    assert user["manager"] is None and user["name"] == CUSTOMER["name"]
    assert user["set_password_url"] == link(first)  # same password
    assert await shop.calls(again.message_id) == [
        ("user.create", False, -32050),
        ("user.update", False, None),
    ]


async def test_a_repeated_update_after_a_lost_answer_lands_once(shop: Shop) -> None:
    await shop.adapter.deliver(create("10000", greeting="Hello"))
    again = create("10000", greeting="Welcome back")
    path, spec = HTTP_FAULTS["answer_lost"]
    # The second call of the message is the update: it lands, its answer is lost.
    aimed = {**spec, "match": "/rpc", "every": 2}
    (await shop.control.post(shop.base + path, json=aimed)).raise_for_status()
    with pytest.raises(TransientError):  # repeating is harmless: no unknown outcome
        await shop.adapter.deliver(again)
    updated = await shop.adapter.deliver(again)
    assert updated.details["user_outcome"] == "updated"
    assert await shop.calls(again.message_id) == [
        ("user.create", False, -32050),
        ("user.update", False, None),
        ("user.create", False, -32050),  # refused again: an error is not kept
        ("user.update", True, None),  # answered from the first: no second effect
    ]
    assert len(await shop.users("10000")) == 1


async def test_a_deactivated_user_is_reactivated_by_a_create(shop: Shop) -> None:
    created = await shop.adapter.deliver(create("10000"))
    done = await shop.adapter.deliver(deactivate("10000"))
    assert done.details == {
        "user_id": created.reference,
        "active": False,
        "user_outcome": "deactivated",
    }
    back = await shop.adapter.deliver(create("10000", greeting="Again"))
    assert back.reference == created.reference
    assert back.details["user_outcome"] == "reactivated"
    assert link(back) != link(created)
    [user] = await shop.users("10000")
    assert user["active"]


async def test_the_set_password_link_is_kept_only_sealed_and_shown_without_its_token(
    shop: Shop,
) -> None:
    created = await shop.adapter.deliver(create("10000"))
    [user] = await shop.users("10000")
    token = user["set_password_url"].rpartition("token=")[2]
    assert link(created) == user["set_password_url"]
    assert created.details["set_password_url"] == (
        "https://b2b.example/auth/set-password?user=***&token=***"
    )
    assert token not in json.dumps(created.details)


async def test_deactivating_a_customer_without_a_user_is_nothing_to_deactivate(
    shop: Shop,
) -> None:
    delivery = deactivate("30000")
    done = await shop.adapter.deliver(delivery)
    assert done == Receipt(
        "",
        details={
            "user_id": None,
            "user_outcome": "nothing_to_deactivate",
            "note": "nothing to deactivate: customer 30000 has no storefront user",
        },
    )
    assert await shop.calls(delivery.message_id) == [("user.deactivate", False, -32044)]
    assert await shop.users("30000") == []


async def test_other_refusals_of_a_create_stay_permanent(shop: Shop) -> None:
    refused = create("10000")
    refused.payload["contacts"][0]["email"] = "not an address"
    with pytest.raises(PermanentError) as error:
        await shop.adapter.deliver(refused)
    assert "-32602" in error.value.detail
    assert await shop.users("10000") == []  # and no update was tried
