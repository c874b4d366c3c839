"""The mail adapter's provisioning and manager mails against the mail simulator (SMTP).

A mail with nobody to go to is not sent, and its step is done saying why instead of failing (a
failure would hold the messages after it): the set-password link of a user the storefront updated
(it keeps its password), and the manager's mail of an order whose customer has no manager. The
greeting of the set-password mail is the account's, the CRM's read included. The link comes
sealed from the storefront's step and is opened only into the mail.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from bus.adapters import Adapter, Delivery, Receipt
from bus.errors import PermanentError
from bus.sealing import Sealer
from tests.contract.pairs import PAIRS, new_id, running

pytestmark = pytest.mark.timeout(60)

CONTACT = {"name": "Olga Smirnova", "email": "olga@10000.example", "primary": True}
ACCOUNT = {"erp_key": "10000", "contacts": [CONTACT], "settings": {}}
LINK = "https://b2b.example/auth/set-password?user=u-0003&token=t"


@dataclass
class Relay:
    """The mail simulator, the adapter under test, and a client of the simulator's mailbox."""

    base: str
    adapter: Adapter
    control: httpx.AsyncClient

    async def messages(self) -> list[dict[str, Any]]:
        listed = await self.control.get(f"{self.base}/_control/mail/messages")
        return list(listed.raise_for_status().json()["messages"])


@pytest.fixture
async def relay(aiohttp_server: Any) -> AsyncIterator[Relay]:
    [pair] = [p for p in PAIRS if p.name == "mail"]
    async with running(pair, aiohttp_server) as served:
        yield Relay(served.base, served.adapter, served.control)


def link_mail(outcome: str, sealer: Sealer | None = None, **read: Any) -> Delivery:
    """``mail.set_password_link`` after the storefront's user step (``outcome``), whose result
    keeps the link sealed (by ``sealer``; ``None``: in clear, as results journaled before)."""
    link: dict[str, Any] = {"set_password_url": LINK}
    if sealer is not None:
        shown = "https://b2b.example/auth/set-password?user=***&token=***"
        link = {"set_password_url": shown, "set_password_link": sealer.seal(LINK)}
    facts = {
        "reference": "",
        "imported": 0,
        "context": {
            "crm_settings": read,
            "user_id": "u-0003",
            "user_outcome": outcome,
            **(link if outcome != "updated" else {"set_password_url": None}),
        },
    }
    return Delivery(new_id(), "mail.set_password_link", ACCOUNT, facts)


def order_mail(**order: Any) -> Delivery:
    payload = {
        "order_id": "W-1",
        "customer": "30000",
        "lines": [{"item": "1000", "quantity": 6.0, "unit": None}],
        "delivery": {},
        **order,
    }
    return Delivery(new_id(), "mail.order_waiting", payload, {"reference": "deal-1"})


async def test_a_new_user_gets_its_link_with_the_greeting_creatio_keeps(relay: Relay) -> None:
    created = link_mail("created", Sealer.development(), greeting="Добрый день!")
    receipt = await relay.adapter.deliver(created)
    assert receipt.reference.endswith("@bus>")
    [sent] = await relay.messages()
    assert sent["text"].startswith("Добрый день!\r\n") and LINK in sent["text"]


async def test_a_retried_mail_sends_the_same_link_opened_from_its_seal(relay: Relay) -> None:
    delivery = link_mail("created", Sealer.development())
    await relay.adapter.deliver(delivery)
    await relay.adapter.deliver(delivery)  # the answer was lost: the step is tried again
    sent = await relay.messages()
    assert len(sent) == 2 and all(LINK in mail["text"] for mail in sent)


async def test_a_link_kept_in_clear_before_links_were_sealed_is_still_sent(relay: Relay) -> None:
    await relay.adapter.deliver(link_mail("created"))
    [sent] = await relay.messages()
    assert LINK in sent["text"]


async def test_a_link_sealed_under_a_key_the_bus_no_longer_has_fails_saying_so(
    relay: Relay,
) -> None:
    other = Sealer([Fernet.generate_key().decode()])
    with pytest.raises(PermanentError, match="cannot open the set-password link"):
        await relay.adapter.deliver(link_mail("created", other))
    assert await relay.messages() == []


async def test_an_updated_user_keeps_its_password_and_gets_no_link(relay: Relay) -> None:
    receipt = await relay.adapter.deliver(link_mail("updated"))
    assert receipt == Receipt(
        "", details={"skipped": "user u-0003 was active already and keeps its password: no link"}
    )
    assert await relay.messages() == []


async def test_an_order_without_a_manager_mails_nobody_and_says_why(relay: Relay) -> None:
    why = "customer 30000 has no manager (creatio account X has no Owner)"
    receipt = await relay.adapter.deliver(order_mail(no_manager=why))
    assert receipt.details == {"skipped": f"no manager mailed about order W-1: {why}"}
    # An order journaled before routing gave the reason still says whose manager is missing.
    older = await relay.adapter.deliver(order_mail())
    assert older.details["skipped"].endswith("customer 30000 has no manager")
    assert await relay.messages() == []


async def test_an_order_with_a_manager_mails_the_manager(relay: Relay) -> None:
    manager = {"name": "Marina Sokolova", "email": "m.sokolova@wholesale.example"}
    await relay.adapter.deliver(order_mail(manager=manager))
    [sent] = await relay.messages()
    assert sent["to"] == manager["email"] and sent["text"].startswith("Hello, Marina Sokolova!")
