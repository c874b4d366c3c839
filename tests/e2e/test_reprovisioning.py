"""Re-provisioning, deactivation and the manager, end to end with every ERP and CRM (issue 10).

A manager re-saving an account in the CRM sends ``account.create`` again, with a new idempotency
key: it is an upsert. The storefront user is updated (one user, the new settings), the CRM hears
the outcome again and nothing after it waits. Deactivating a customer that has no storefront user
is "nothing to deactivate", said to the CRM, and a create after a deactivation re-enables the user.

Creatio keeps the manager (the account's ``Owner``) and the storefront settings (the account's
``UsrStorefrontGreeting`` and its ``UsrStorefrontMenuItem`` detail): the bus reads them, so the
orders of Creatio's customers mail their manager. A customer without a manager is a visible outcome
of its order's mail step (skipped, saying why), never a step dropped silently.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.settings import DEV_KEYS
from simulators.creatio.store import seed_id
from simulators.mail import extract_links
from tests.e2e.conftest import DONE, EVERY_PAIR, running, stack_dir, wait_until
from tests.e2e.test_systems import TIMINGS, _call, _creatio_patch
from tests.support.processes import BusClient, Stack

#: The manager the CRM names in the calls these tests make themselves.
MANAGER = {"name": "Irina Volkova", "email": "irina.volkova@b2b.example"}
#: The Owner of Creatio's account 10000 in the simulator's seed, and what it keeps for the
#: storefront.
CREATIO_OWNER = {"name": "Marina Sokolova", "email": "m.sokolova@wholesale.example"}
CREATIO_SETTINGS = {"greeting": "Добрый день, Adatum!", "menu": ["catalog", "orders", "documents"]}
#: Creatio's value of an unset lookup.
NO_OWNER = "00000000-0000-0000-0000-000000000000"
#: A step that waits for an operator: the test stops at once and shows why.
STUCK = {"failed", "cancelled"}


def _stack(log_dir: Path, tmp_path: Path, erp: str, crm: str) -> Iterator[Stack]:
    env = {
        "BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}",
        # Orders are routed by the profile provisioning just wrote, not one cached before it.
        "BUS_DIRECTORY_TTL": "0.1",
        **TIMINGS,
    }
    simulators = (erp, crm, "storefront", "mail")
    yield from running(Stack(env, log_dir, erp=erp, crm=crm, simulators=simulators))


@pytest.fixture(scope="module", params=EVERY_PAIR, ids="-".join)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One deployment per pair for the tests that take it: one provisions customer 10000, the
    other 30000, and each reads only its customer's users, reports and mails."""
    erp, crm = request.param
    base = stack_dir(tmp_path_factory, f"{erp}-{crm}")
    yield from _stack(base / "logs", base, erp, crm)


@pytest.fixture(params=["navision", "onec"])
def creatio_stack(request: pytest.FixtureRequest, log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    yield from _stack(log_dir, tmp_path, request.param, "creatio")


def _route(stack: Stack, message_id: str) -> list[dict[str, Any]]:
    """The message and each later step of its route (as ``message.get`` shows them), once every
    one is delivered; a step that fails or is cancelled fails the test at once, with its error."""
    ops = BusClient(stack.api_url, DEV_KEYS["ops"])
    steps: list[dict[str, Any]] = []

    def delivered() -> bool:
        top = ops.call("message.get", {"message_id": message_id})
        # message.get names the operation of a message's children only.
        children = [
            {**ops.call("message.get", {"message_id": c["message_id"]}), "operation": op}
            for c, op in ((c, c["operation"]) for c in top["children"])
        ]
        steps[:] = [{**top, "operation": None}, *children]
        stuck = [s for s in steps if s["status"] in STUCK]
        if stuck:
            shown = [(s["target"], s["operation"], s["status"], s["last_error"]) for s in stuck]
            raise AssertionError(f"a step of {message_id} waits for an operator: {shown}")
        return all(s["status"] in DONE for s in steps)

    try:
        wait_until(delivered, stack, 60, f"every step of {message_id}")
    except AssertionError as timeout:
        shown = [(s["target"], s["operation"], s["status"], s["last_error"]) for s in steps]
        raise AssertionError(f"{shown}\n{timeout}") from None
    finally:
        ops.close()
    return steps


def _step(steps: list[dict[str, Any]], operation: str) -> dict[str, Any]:
    [step] = [s for s in steps if s["operation"] == operation]
    return step


def _account(erp_key: str, key: str | None = None, **settings: Any) -> dict[str, Any]:
    """``account.create`` params as a CRM sends them."""
    contact = {"name": "Olga Smirnova", "email": f"olga@{erp_key}.example", "primary": True}
    params: dict[str, Any] = {"erp_key": erp_key, "contacts": [contact], "settings": settings}
    if key is not None:
        params["idempotency_key"] = key
    return params


def _users(stack: Stack, erp_key: str) -> list[dict[str, Any]]:
    found = httpx.get(
        f"{stack.urls['storefront']}/_control/storefront/users", params={"customer": erp_key}
    ).json()["users"]
    return list(found)


def _mails(stack: Stack, to: str) -> list[dict[str, Any]]:
    found = httpx.get(f"{stack.urls['mail']}/_control/mail/messages", params={"to": to}).json()
    return list(found["messages"])


def _crm_reports(stack: Stack, erp_key: str) -> list[str]:
    """What the bus told the CRM about the customer's account, oldest first.

    Creatio: every ``Notes`` the bus wrote on the account (each report replaces the text, so the
    simulator's record of requests shows them all); Bitrix24: the company's timeline comments.
    """
    url = stack.urls[stack.crm]
    if stack.crm == "creatio":
        account = f"/Account({seed_id(f'Account:{erp_key}')})"
        received = httpx.get(f"{url}/_control/received").json()["requests"]
        return [
            str(r["body"]["Notes"])
            for r in received
            if r["method"] == "PATCH" and r["path"].endswith(account) and "Notes" in r["body"]
        ]
    rest = f"{url}/rest/1/bus-webhook-code"
    [company] = httpx.post(
        f"{rest}/crm.company.list.json", json={"filter": {"ORIGIN_ID": erp_key}, "select": ["ID"]}
    ).json()["result"]
    comments = httpx.post(
        f"{rest}/crm.timeline.comment.list.json",
        json={
            "filter": {"ENTITY_ID": company["ID"], "ENTITY_TYPE": "company"},
            "order": {"ID": "ASC"},
        },
    ).json()["result"]
    return [str(c["COMMENT"]) for c in comments if "bus message" in str(c["COMMENT"])]


def _order(stack: Stack, erp_key: str) -> tuple[str, list[dict[str, Any]]]:
    """Submit an order of a licensed customer (ERP, CRM, the manager's mail); its id and steps."""
    order_id = f"M-{uuid.uuid4().hex[:6]}"
    lines = [{"item": "1000", "quantity": 6, "product_type": "alcohol"}]
    params = {"order_id": order_id, "customer": erp_key, "lines": lines}
    accepted = _call(stack, "storefront", "order.submit", params)
    return order_id, _route(stack, accepted["message_id"])


def test_a_manager_re_saving_an_account_updates_its_user_and_blocks_nothing(
    stack: Stack,
) -> None:
    first = _call(
        stack,
        "crm",
        "account.create",
        _account("10000", "resave-1", greeting="Добрый день!", menu=["catalog"], manager=MANAGER),
    )
    _route(stack, first["message_id"])
    [created] = _users(stack, "10000")
    email = created["email"]
    assert len(_mails(stack, email)) == 1  # the set-password link

    # The manager changes the settings and saves again: the CRM calls with a new key.
    other = {"name": "Pavel Orlov", "email": "p.orlov@b2b.example"}
    menu = ["catalog", "orders", "documents"]
    second = _call(
        stack,
        "crm",
        "account.create",
        _account("10000", "resave-2", greeting="С возвращением!", menu=menu, manager=other),
    )
    steps = _route(stack, second["message_id"])

    [user] = _users(stack, "10000")  # one user, updated
    assert user["user_id"] == created["user_id"] and user["active"]
    assert user["settings"] == {"greeting": "С возвращением!", "menu": menu}
    assert user["manager"] == other
    assert "updated" in str(_step(steps, "user.create")["result"])
    # The user keeps the password it set: no second link, and the step says why.
    assert len(_mails(stack, email)) == 1
    link = _step(steps, "mail.set_password_link")
    assert link["status"] == "skipped" and "password" in link["result"]["skipped"]
    reports = _crm_reports(stack, "10000")
    assert len(reports) == 2
    assert "Storefront account ready" in reports[0] and "Irina Volkova" in reports[0]
    assert "Storefront account updated" in reports[1] and "Pavel Orlov" in reports[1]

    # Nothing waits behind it: the account is deactivated, then created again (re-activated).
    deactivate = {"erp_key": "10000", "idempotency_key": "resave-3"}
    steps = _route(stack, _call(stack, "crm", "account.deactivate", deactivate)["message_id"])
    assert [s["target"] for s in steps] == ["directory", "storefront", stack.crm]
    [user] = _users(stack, "10000")
    assert not user["active"]
    assert "deactivated" in _crm_reports(stack, "10000")[2]

    again = _account("10000", "resave-4", greeting="Снова с нами!", manager=MANAGER)
    _route(stack, _call(stack, "crm", "account.create", again)["message_id"])
    [user] = _users(stack, "10000")
    assert user["user_id"] == created["user_id"] and user["active"]
    # The call names no menu: Creatio's account 10000 has one, which the bus reads.
    menu = CREATIO_SETTINGS["menu"] if stack.crm == "creatio" else None
    assert user["settings"] == {"greeting": "Снова с нами!", "menu": menu}
    mails = _mails(stack, email)
    assert len(mails) == 2 and mails[1]["text"].startswith("Снова с нами!")
    assert extract_links(mails[1]["text"]) == [user["set_password_url"]]  # a new link
    assert extract_links(mails[0]["text"]) != [user["set_password_url"]]
    reports = _crm_reports(stack, "10000")
    assert len(reports) == 4 and "Storefront account ready" in reports[3]


def test_deactivating_a_customer_without_a_user_is_nothing_to_deactivate(stack: Stack) -> None:
    assert _users(stack, "30000") == []
    deactivated = _call(stack, "crm", "account.deactivate", {"erp_key": "30000"})
    steps = _route(stack, deactivated["message_id"])
    assert [s["target"] for s in steps] == ["directory", "storefront", stack.crm]
    assert "nothing to deactivate" in str(steps[1]["result"]).lower()
    [report] = _crm_reports(stack, "30000")
    assert "Nothing to deactivate" in report

    # It holds nothing: the account is created after it, by a CRM that names no manager (and
    # Creatio's account 30000 has no Owner).
    created = _call(stack, "crm", "account.create", _account("30000", greeting="Hello"))
    _route(stack, created["message_id"])
    [user] = _users(stack, "30000")
    assert user["active"] and user["manager"] is None
    report = _crm_reports(stack, "30000")[-1]
    assert "Storefront account ready" in report and "No manager" in report

    # Its order mails nobody, and its mail step says so instead of vanishing from the route.
    order_id, steps = _order(stack, "30000")
    mail = _step(steps, "mail.order_waiting")
    assert mail["status"] == "skipped" and "no manager" in mail["result"]["skipped"]
    assert "30000" in mail["result"]["skipped"]
    mails = httpx.get(f"{stack.urls['mail']}/_control/mail/messages").json()["messages"]
    assert not [m for m in mails if order_id in m["subject"]]


def test_creatio_names_the_manager_and_the_settings_of_its_accounts(creatio_stack: Stack) -> None:
    stack = creatio_stack
    creatio = stack.urls["creatio"]
    hook = {"url": f"{stack.api_url}/rpc", "key": DEV_KEYS["crm"]}
    httpx.post(f"{creatio}/_control/creatio/hook", json=hook).raise_for_status()
    account = seed_id("Account:10000")

    def saved() -> list[dict[str, Any]]:
        """Creatio's business process on the account's save: it calls ``account.create``."""
        called = httpx.post(
            f"{creatio}/_control/creatio/account_created", json={"account_id": account}
        ).json()
        return _route(stack, called["response"]["result"]["message_id"])

    saved()
    [user] = _users(stack, "10000")
    assert user["manager"] == CREATIO_OWNER
    assert user["settings"] == CREATIO_SETTINGS
    [welcome] = _mails(stack, user["email"])
    assert welcome["text"].startswith(CREATIO_SETTINGS["greeting"])
    assert CREATIO_OWNER["name"] in _crm_reports(stack, "10000")[0]

    # Its orders mail the account's Owner.
    order_id, steps = _order(stack, "10000")
    assert _step(steps, "mail.order_waiting")["status"] == "delivered"
    [mail] = [m for m in _mails(stack, CREATIO_OWNER["email"]) if order_id in m["subject"]]
    assert mail["text"].startswith(f"Hello, {CREATIO_OWNER['name']}!")

    # The manager clears the Owner, changes the greeting and saves: the user follows, and the
    # next order's mail step says that nobody is mailed, and why.
    _creatio_patch(
        creatio,
        f"Account({account})",
        {"OwnerId": NO_OWNER, "UsrStorefrontGreeting": "Здравствуйте!"},
    )
    saved()
    [user] = _users(stack, "10000")
    assert user["manager"] is None
    assert user["settings"] == {**CREATIO_SETTINGS, "greeting": "Здравствуйте!"}
    assert "No manager" in _crm_reports(stack, "10000")[-1]
    order_id, steps = _order(stack, "10000")
    mailed = _step(steps, "mail.order_waiting")
    assert mailed["status"] == "skipped" and "no manager" in mailed["result"]["skipped"]
    assert not [m for m in _mails(stack, CREATIO_OWNER["email"]) if order_id in m["subject"]]
