"""A failure is told to everyone who can act, with every ERP and CRM; and, with
``[storefront] notify = "all"``, so is every delivered step.

An order the ERP refuses for good: the storefront gets ``message.status`` failed with the
ERP's reason, the customer's manager a mail naming the order, the step, the reason and the
message, and the CRM a note on the customer's company (Bitrix24) or account (Creatio). The CRM
order and the manager's order mail stay blocked behind the failed step (the ordering key is the
point), but the people are told. An account whose ERP step fails: the manager and the CRM are
told (the storefront did not send it). A delivered order: the storefront hears each step
delivered, in order, with the ERP's number.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bus.settings import DEV_KEYS
from tests.e2e.conftest import EVERY_PAIR, Simulator, running, stack_dir, wait_until
from tests.e2e.test_segments import MANAGER, _crm_notes, _provision
from tests.e2e.test_systems import TIMINGS, _call
from tests.support.processes import BusClient, Stack

#: What each ERP says when it refuses the order's item for good (a permanent 400).
ORDER_REFUSED = {
    "navision": (
        "Item 1005 is blocked",
        {
            "match": "SalesOrder",
            "methods": ["POST"],
            "body": {
                "error": {"code": "Application_DialogException", "message": "Item 1005 is blocked"}
            },
        },
    ),
    "onec": (
        "Номенклатура 1005 заблокирована",
        {
            "match": "Document_ЗаказКлиента",
            "methods": ["POST"],
            "body": {
                "odata.error": {
                    "code": "2",
                    "message": {"lang": "ru", "value": "Номенклатура 1005 заблокирована"},
                }
            },
        },
    ),
}
#: What each ERP says when it refuses to read customer 30000 for good.
CUSTOMER_REFUSED = {
    "navision": (
        "Customer 30000 may not be read",
        {
            "match": "Customer('30000')",
            "methods": ["GET"],
            "body": {"error": {"code": "Forbidden", "message": "Customer 30000 may not be read"}},
        },
    ),
    "onec": (
        "Нет прав на чтение контрагента",
        {
            "match": "Catalog_Контрагенты",
            "methods": ["GET"],
            "body": {
                "odata.error": {
                    "code": "20",
                    "message": {"lang": "ru", "value": "Нет прав на чтение контрагента"},
                }
            },
        },
    ),
}


@pytest.fixture(scope="module", params=EVERY_PAIR, ids="-".join)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Every pair, storefront told of every change; customer 10000 provisioned with a manager.

    One deployment per pair for the module: each test sends an order or an account of its own,
    and the ERP fault it sets is cleared when it is done (an order's failure holds only that
    order's steps, so a later test's order is not behind it)."""
    erp, crm = request.param
    base = stack_dir(tmp_path_factory, f"{erp}-{crm}")
    env = {
        "BUS_DATABASE_URL": f"sqlite+aiosqlite:///{base / 'bus.db'}",
        **TIMINGS,
        "BUS_STOREFRONT__NOTIFY": "all",
    }
    simulators = (erp, crm, "storefront", "mail")
    deployment = Stack(env, base / "logs", erp=erp, crm=crm, simulators=simulators)
    for provisioned in running(deployment):
        _provision(provisioned, "10000")
        yield provisioned


@pytest.fixture
def bare_stack(stack: Stack) -> Stack:
    """The pair's deployment, for a customer it has not provisioned (30000)."""
    return stack


def _told(stack: Stack, about: str) -> list[dict[str, Any]]:
    """The ``message.status`` calls about ``about`` the storefront received, in arrival order."""
    answer = httpx.get(
        f"{stack.urls['storefront']}/_control/storefront/calls",
        params={"method": "message.status"},
        timeout=10,
    ).json()
    return [
        c["params"] for c in answer["calls"] if not c["repeat"] and c["params"]["about"] == about
    ]


def _manager_mails(stack: Stack, text: str) -> list[dict[str, Any]]:
    found = httpx.get(
        f"{stack.urls['mail']}/_control/mail/messages", params={"to": MANAGER["email"]}, timeout=10
    ).json()["messages"]
    return [m for m in found if text in m["text"]]


def _message(stack: Stack, message_id: str) -> dict[str, Any]:
    ops = BusClient(stack.api_url, DEV_KEYS["ops"])
    try:
        message: dict[str, Any] = ops.call("message.get", {"message_id": message_id})
        return message
    finally:
        ops.close()


@contextlib.contextmanager
def _erp_refusing(stack: Stack, fault: dict[str, Any]) -> Iterator[None]:
    """The stack's ERP refuses what ``fault`` matches for good (a 400) while in the block."""
    erp = Simulator(stack.urls[stack.erp])
    try:
        erp.fault(mode="error", status=400, **fault)
        yield
    finally:
        erp.clear_faults()
        erp.http.close()


def test_an_order_the_erp_refuses_is_told_to_the_storefront_the_manager_and_the_crm(
    stack: Stack,
) -> None:
    reason, fault = ORDER_REFUSED[stack.erp]
    with _erp_refusing(stack, fault):
        order_id = f"F-{uuid.uuid4().hex[:6]}"
        order = {
            "order_id": order_id,
            "customer": "10000",
            "lines": [{"item": "1000", "quantity": 6}],
        }
        message_id = _call(stack, "storefront", "order.submit", order)["message_id"]

        wait_until(lambda: bool(_told(stack, message_id)), stack, 40, "the storefront told")
        [failed] = _told(stack, message_id)
        assert (failed["status"], failed["step"], failed["order_id"]) == (
            "failed",
            message_id,
            order_id,
        )
        assert failed["operation"] == "sales_order.create" and reason in failed["reason"]

        wait_until(lambda: bool(_manager_mails(stack, message_id)), stack, 40, "the manager mailed")
        [mail] = _manager_mails(stack, message_id)
        assert order_id in mail["subject"] and "failed" in mail["subject"]
        assert reason in mail["text"] and "sales_order.create" in mail["text"]

        def noted() -> list[str]:
            return [n for n in _crm_notes(stack, "10000") if message_id in n]

        wait_until(lambda: bool(noted()), stack, 40, "the CRM told")
        [note] = noted()
        assert order_id in note and reason in note and "sales_order.create" in note

        # The CRM order and the order mail wait behind the failed step, for an operator.
        later = _message(stack, message_id)["children"]
        steps = [c for c in later if c["method"] == "order.submit"]
        assert [c["status"] for c in steps] == ["blocked", "blocked"]


def test_a_delivered_order_is_told_step_by_step_with_the_erp_number(stack: Stack) -> None:
    order_id = f"D-{uuid.uuid4().hex[:6]}"
    order = {"order_id": order_id, "customer": "10000", "lines": [{"item": "1000", "quantity": 6}]}
    message_id = _call(stack, "storefront", "order.submit", order)["message_id"]

    wait_until(lambda: len(_told(stack, message_id)) == 3, stack, 60, "three steps told")
    told = _told(stack, message_id)
    message = _message(stack, message_id)
    route = [message_id] + [
        c["message_id"] for c in message["children"] if c["method"] == "order.submit"
    ]
    assert [n["step"] for n in told] == route  # in the order the steps were delivered
    assert {n["status"] for n in told} == {"delivered"}
    number = message["result"]["erp_receipt"]["number"]
    assert number and [n["erp_number"] for n in told] == [number] * 3
    assert [n["operation"] for n in told] == [
        "sales_order.create",
        "order.create",
        "mail.order_waiting",
    ]


def test_an_account_the_erp_refuses_is_told_to_the_crm_and_the_manager(bare_stack: Stack) -> None:
    stack = bare_stack
    reason, fault = CUSTOMER_REFUSED[stack.erp]
    with _erp_refusing(stack, fault):
        contact = {"name": "Olga Smirnova", "email": "olga@fabrikam.example", "primary": True}
        params = {"erp_key": "30000", "contacts": [contact], "settings": {"manager": MANAGER}}
        message_id = _call(stack, "crm", "account.create", params)["message_id"]

        def failed_step() -> str | None:
            message = _message(stack, message_id)
            return next(
                (
                    c["message_id"]
                    for c in [message, *message["children"]]
                    if c["status"] == "failed"
                ),
                None,
            )

        wait_until(lambda: failed_step() is not None, stack, 40, "the ERP step to fail")
        step = failed_step()
        assert step is not None

        wait_until(lambda: bool(_manager_mails(stack, step)), stack, 40, "the manager mailed")
        [mail] = _manager_mails(stack, step)
        assert "customer 30000" in mail["subject"] and "customer.read" in mail["subject"]
        assert reason in mail["text"]

        def noted() -> list[str]:
            return [n for n in _crm_notes(stack, "30000") if step in n]

        wait_until(lambda: bool(noted()), stack, 40, "the CRM told")
        [note] = noted()
        assert "account.create" in note and "customer.read" in note and reason in note
        assert _told(stack, message_id) == []  # the CRM sent it: the storefront hears nothing
