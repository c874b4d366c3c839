"""An order's identity is its storefront order id, end to end with every ERP and CRM (issue 10).

A storefront sends an order again when it cannot tell whether the first call arrived: a lost
answer, a timeout, a restart on its side, a key it did not keep. However it sends it (no key, its
old key, a new one, several at once), the same order with the same content is the same message:
one ERP order, one CRM order or deal, one mail to the manager, and the same answer each time. The
same order id with other content is refused (``-32010``, naming ``order_id`` and the message the
order is), and nothing is journaled or sent. A cart split by contract behaves the same.

Everything is counted where it lands: the journal (its SQLite file, read-only), each ERP and CRM
through its own API, the mail server's record.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.settings import DEV_KEYS
from tests.e2e.conftest import EVERY_PAIR, running
from tests.e2e.test_provisioning import _steps_delivered
from tests.e2e.test_segments import CONTRACTS, MANAGER, _provision
from tests.e2e.test_systems import TIMINGS, _creatio_session
from tests.support.processes import Stack

#: A licensed customer (its order goes ERP -> CRM -> mail) and an unlicensed one with a water
#: and an alcohol contract (its cart is split into one pick-up order per contract, CRM -> mail).
LICENSED, BY_CONTRACT = "10000", "50000"
LINES = [
    {"item": "1000", "quantity": 6, "product_type": "alcohol"},
    {"item": "1100", "quantity": 24, "product_type": "water"},
]


@pytest.fixture(params=EVERY_PAIR, ids="-".join)
def stack(request: pytest.FixtureRequest, log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    erp, crm = request.param
    env = {"BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}", **TIMINGS}
    simulators = (erp, crm, "storefront", "mail")
    stack = Stack(env, log_dir, erp=erp, crm=crm, simulators=simulators)
    for provisioned in running(stack):
        for erp_key in (LICENSED, BY_CONTRACT):
            _provision(provisioned, erp_key)  # the directory knows their licence and contracts
        yield provisioned


def test_an_order_sent_again_is_one_order_and_other_content_is_refused(stack: Stack) -> None:
    licensed = {"order_id": "DUP-1", "customer": LICENSED, "lines": LINES}
    split = {"order_id": "DUP-2", "customer": BY_CONTRACT, "lines": LINES}
    answers = {
        order["order_id"]: _submitted_again_and_again(stack, order) for order in (licensed, split)
    }
    first, parent = answers["DUP-1"], answers["DUP-2"]
    assert first["route"] == "licensed" and "orders" not in first
    assert parent["route"] == "by_contract" and len(parent["orders"]) == 2

    message = _steps_delivered(stack, first["message_id"], steps=3)  # ERP, CRM, mail
    assert [c["target"] for c in message["children"]] == [stack.crm, "mail"]
    # Two orders, each priced by the ERP, made in the CRM and mailed.
    _steps_delivered(stack, parent["message_id"], steps=7)

    for order, answer in ((licensed, first), (split, parent)):
        _other_content_is_refused(stack, order, answer["message_id"])
    # An order id that reads like a later step of another order's key is an order of its own.
    [own] = _rpc(stack, [{**licensed, "order_id": "DUP-1#2"}])
    assert own["result"]["message_id"] != first["message_id"], own

    # Counted after the refusals: each journaled once, each effect once, nothing more sent.
    assert _journaled(stack, "DUP-1") == {"orders": 1, "steps": 2}  # CRM, mail after the ERP
    assert _journaled(stack, "DUP-2") == {"orders": 1, "steps": 6}  # 2 x (quote, CRM, mail)
    assert _erp_orders(stack, "DUP-1") == 1
    assert _crm_orders(stack, "DUP-1") == 1
    assert len(_manager_mails(stack, "DUP-1")) == 1
    assert _erp_orders(stack, "DUP-2") == 0  # the ERP priced the split, holds no order
    for contract in CONTRACTS[stack.erp].values():
        assert _crm_orders(stack, f"DUP-2/{contract}") == 1
        assert len(_manager_mails(stack, f"DUP-2/{contract}")) == 1


def _submitted_again_and_again(stack: Stack, order: dict[str, Any]) -> dict[str, Any]:
    """Send ``order`` three times without a key (two of them together, in one batch, so they may
    meet in one group commit before either is journaled), then with a key never used: every
    answer names the same message, and but for the status it is the first answer."""
    replies = _rpc(stack, [order, order])
    replies += _rpc(stack, [order])
    replies += _rpc(stack, [{**order, "idempotency_key": f"{order['order_id']}-new-key"}])
    answers = [reply["result"] for reply in replies]
    assert len({answer["message_id"] for answer in answers}) == 1, answers
    without_status = [{k: v for k, v in answer.items() if k != "status"} for answer in answers]
    assert all(answer == without_status[0] for answer in without_status), answers
    assert _journaled(stack, order["order_id"])["orders"] == 1  # created once
    return answers[0]


def _other_content_is_refused(stack: Stack, order: dict[str, Any], message_id: str) -> None:
    """Another quantity, without a key and with a new one: -32010 naming the order and its
    message; the journal holds not one message more."""
    before = _journaled(stack, order["order_id"])
    changed = {**order, "lines": [{**LINES[0], "quantity": 7}, LINES[1]]}
    for other in (changed, {**changed, "idempotency_key": f"{order['order_id']}-v2"}):
        [reply] = _rpc(stack, [other])
        error = reply["error"]
        assert error["code"] == -32010, reply
        assert error["data"]["field"] == "order_id"
        assert error["data"]["order_id"] == order["order_id"]
        assert error["data"]["message_id"] == message_id
        assert order["order_id"] in error["data"]["reason"]
    assert _journaled(stack, order["order_id"]) == before


def _rpc(stack: Stack, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``order.submit`` of each of ``orders`` from the storefront, in one HTTP request (a batch
    when there are several); the JSON-RPC responses, in order."""
    calls = [
        {"jsonrpc": "2.0", "id": number, "method": "order.submit", "params": order}
        for number, order in enumerate(orders)
    ]
    response = httpx.post(
        f"{stack.api_url}/rpc",
        headers={"Authorization": f"Bearer {DEV_KEYS['storefront']}"},
        json=calls if len(calls) > 1 else calls[0],
        timeout=30,
    )
    response.raise_for_status()
    body = response.json()
    replies: list[dict[str, Any]] = body if isinstance(body, list) else [body]
    return sorted(replies, key=lambda reply: int(reply["id"]))


def _journaled(stack: Stack, order_id: str) -> dict[str, int]:
    """The ``order.submit`` messages of ``order_id`` in the journal: the orders (messages the
    storefront was answered with) and their steps (the later steps and split orders too)."""
    path = stack.env["BUS_DATABASE_URL"].split("///", 1)[1]
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as journal:
        orders, steps = journal.execute(
            "SELECT count(*) FILTER (WHERE parent_id IS NULL), count(*) FILTER (WHERE parent_id"
            " IS NOT NULL) FROM messages WHERE method = 'order.submit' AND"
            " json_extract(payload, '$.order_id') = ?",
            (order_id,),
        ).fetchone()
        # A split's orders carry their own order ids (DUP-2/<contract>), their parent's too.
        (split,) = journal.execute(
            "SELECT count(*) FROM messages WHERE method = 'order.submit' AND"
            " json_extract(payload, '$.parent_order_id') = ?",
            (order_id,),
        ).fetchone()
    return {"orders": orders, "steps": steps + split}


def _erp_orders(stack: Stack, order_id: str) -> int:
    """The ERP's sales orders for the storefront's ``order_id``, whichever message made them."""
    url = stack.urls[stack.erp]
    if stack.erp == "navision":
        found = httpx.get(
            f"{url}/DynamicsNAV110/ODataV4/Company('CRONUS')/SalesOrder",
            params={"$filter": f"Your_Reference eq '{order_id}'"},
            auth=("bus", "bus-secret"),
        )
    else:  # 1C keeps the storefront's order id in the comment only: "Заказ <id> с сайта"
        found = httpx.get(
            f"{url}/b2b/odata/standard.odata/Document_ЗаказКлиента",
            params={
                "$format": "json",
                "$filter": f"substringof('Заказ {order_id} с сайта', Комментарий)",
            },
            auth=("bus", "bus-secret"),
        )
    found.raise_for_status()
    return len(found.json()["value"])


def _crm_orders(stack: Stack, order_id: str) -> int:
    """The CRM's orders (Creatio) or deals (Bitrix24) for the storefront's ``order_id``."""
    url = stack.urls[stack.crm]
    if stack.crm == "creatio":
        found = httpx.get(
            f"{url}/0/odata/Order",
            params={"$filter": f"Number eq '{order_id}'"},
            headers=_creatio_session(url),
        ).json()["value"]
        return len(found)
    # The bus's deals carry ORIGIN_ID "<order id>/<message id>", whichever message made them.
    deals = httpx.post(
        f"{url}/rest/1/bus-webhook-code/crm.deal.list.json",
        json={
            "filter": {"=ORIGINATOR_ID": "bus", "=%ORIGIN_ID": f"{order_id}/%"},
            "select": ["ID", "ORIGIN_ID"],
        },
    ).json()["result"]
    return len([deal for deal in deals if deal["ORIGIN_ID"].rpartition("/")[0] == order_id])


def _manager_mails(stack: Stack, order_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(
        f"{stack.urls['mail']}/_control/mail/messages", params={"to": MANAGER["email"]}
    ).json()["messages"]
    return [mail for mail in found if mail["subject"].startswith(f"New order {order_id} from ")]
