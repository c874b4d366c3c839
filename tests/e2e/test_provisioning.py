"""Account provisioning end to end: Creatio's business process calls the bus, the bus fills the
customer's data from the ERP, creates the storefront user and mails the set-password link."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.settings import DEV_KEYS
from simulators.creatio.store import seed_id
from simulators.mail import extract_links
from tests.e2e.conftest import DONE, running, wait_until
from tests.e2e.test_systems import TIMINGS
from tests.support.processes import BusClient, Stack


@pytest.fixture(params=["navision", "onec"])
def stack(request: pytest.FixtureRequest, log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    erp: str = request.param
    env = {"BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}", **TIMINGS}
    simulators = (erp, "creatio", "storefront", "mail")
    yield from running(Stack(env, log_dir, erp=erp, crm="creatio", simulators=simulators))


def _steps_delivered(stack: Stack, message_id: str, steps: int) -> dict[str, Any]:
    """Wait until the message and all its later steps are delivered; the message."""
    ops = BusClient(stack.api_url, DEV_KEYS["ops"])
    seen: dict[str, Any] = {}

    def done() -> bool:
        message = ops.call("message.get", {"message_id": message_id})
        seen.update(message)
        children = message["children"]
        return (
            message["status"] == "delivered"
            and len(children) == steps - 1
            and all(c["status"] in DONE for c in children)
        )

    try:
        wait_until(done, stack, 40, f"the {steps} steps of {message_id}")
    except AssertionError as timeout:
        steps_seen = [
            ops.call("message.get", {"message_id": c["message_id"]}) for c in seen["children"]
        ]
        raise AssertionError(f"{seen}\n{steps_seen}") from timeout
    finally:
        ops.close()
    return seen


def test_a_crm_account_becomes_a_storefront_user_with_erp_data_and_a_password_mail(
    stack: Stack,
) -> None:
    creatio, storefront, mail = (stack.urls[n] for n in ("creatio", "storefront", "mail"))
    shop = BusClient(stack.api_url, DEV_KEYS["storefront"])
    try:  # an order placed online before the account exists: it belongs in the history
        placed = shop.call(
            "order.submit",
            {
                "order_id": "W-HIST-1",
                "customer": "10000",
                "lines": [{"item": "1000", "quantity": 3}],
            },
        )
    finally:
        shop.close()
    # ERP, CRM and the manager's mail step (the customer is not provisioned yet: it says so)
    _steps_delivered(stack, placed["message_id"], steps=3)
    hook = {"url": f"{stack.api_url}/rpc", "key": DEV_KEYS["crm"]}
    httpx.post(f"{creatio}/_control/creatio/hook", json=hook).raise_for_status()
    called = httpx.post(
        f"{creatio}/_control/creatio/account_created",
        json={"account_id": seed_id("Account:10000")},
    ).json()
    message_id = called["response"]["result"]["message_id"]

    _steps_delivered(stack, message_id, steps=8)

    [user] = httpx.get(
        f"{storefront}/_control/storefront/users", params={"customer": "10000"}
    ).json()["users"]
    assert user["active"] and user["name"] == "Adatum Corporation"  # the CRM's name wins
    assert user["inn"]  # filled from the ERP
    assert user["warehouse"] and user["licence"]["number"]  # and so are its routing facts
    assert [c["product_type"] for c in user["contracts"]] == ["alcohol"]
    primary = user["email"]
    [sent] = httpx.get(f"{mail}/_control/mail/messages", params={"to": primary}).json()["messages"]
    assert sent["subject"] == "Your B2B store account"
    assert extract_links(sent["text"]) == [user["set_password_url"]]
    online = [o for o in user["order_history"] if o["channel"] == "online"]
    assert len(online) == 1 and online[0]["lines"][0]["item"] == "1000"  # the order placed above
    if stack.erp == "navision":
        assert online[0]["order_id"] == "W-HIST-1"
    reported = httpx.get(f"{creatio}/_control/received").json()["requests"]
    patches = [r for r in reported if r["method"] == "PATCH" and "/Account(" in r["path"]]
    assert len(patches) == 1 and "Storefront account ready" in patches[0]["body"]["Notes"]


def test_messages_of_a_customer_wait_while_the_erp_is_down_and_land_in_order(
    stack: Stack,
) -> None:
    [erp] = [p for p in stack.processes if p.name == stack.erp]
    erp.stop()
    crm = BusClient(stack.api_url, DEV_KEYS["crm"])
    try:
        contact = {"name": "Olga Smirnova", "email": "olga@fabrikam.example", "primary": True}
        created = crm.call("account.create", {"erp_key": "30000", "contacts": [contact]})
        deactivated = crm.call("account.deactivate", {"erp_key": "30000"})
    finally:
        crm.close()
    assert deactivated["status"] == "blocked"  # behind the create
    stack.start_simulator()
    _steps_delivered(stack, created["message_id"], steps=8)
    _steps_delivered(stack, deactivated["message_id"], steps=3)  # directory, storefront, CRM
    storefront = stack.urls["storefront"]
    [user] = httpx.get(
        f"{storefront}/_control/storefront/users", params={"customer": "30000"}
    ).json()["users"]
    assert not user["active"]  # created first, then deactivated
