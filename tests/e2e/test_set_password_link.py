"""The set-password link reaches the customer's mail after retries and a worker restart.

The link lives in the journal only sealed (the ``user.create`` step's result); the mail step
opens it when it sends. With the mail relay down, the mail step is tried and fails, the worker
is stopped, the relay comes back and a new worker sends the mail: the one link the storefront
issued, opened from the journal, the only state that survived. The link does not depend on the
ERP or the CRM: one deployment (PostgreSQL + Redis, real processes) shows it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.settings import DEV_KEYS
from simulators.mail import extract_links
from tests.e2e.conftest import production_env, wait_until
from tests.e2e.test_systems import TIMINGS
from tests.support.processes import BusClient, Stack
from tests.support.servers import fresh_postgres_database, redis_or_skip

pytestmark = pytest.mark.timeout(180)

#: The mail step is tried every second while the relay is down.
MAIL_RETRY = {"BUS_MAIL__RETRY__BACKOFF_MIN": "0.2", "BUS_MAIL__RETRY__BACKOFF_MAX": "1"}


@pytest.fixture
def stack(log_dir: Path) -> Iterator[Stack]:
    redis_or_skip()
    with fresh_postgres_database() as database_url:
        env = {**production_env(database_url, TIMINGS), **MAIL_RETRY}
        simulators = ("navision", "bitrix24", "storefront", "mail")
        deployment = Stack(env, log_dir, erp="navision", crm="bitrix24", simulators=simulators)
        try:
            for name in ("navision", "bitrix24", "storefront"):  # not the mail relay yet
                deployment.start_simulator(name)
            deployment.start_api()
            yield deployment
        finally:
            deployment.stop()


def _step(ops: BusClient, parent: str, operation: str) -> dict[str, Any]:
    """The step of the route started by ``parent`` that performs ``operation``."""
    children = ops.call("message.get", {"message_id": parent})["children"]
    [child] = [c for c in children if c["operation"] == operation]
    message: dict[str, Any] = ops.call("message.get", {"message_id": child["message_id"]})
    return message


def test_the_mail_sends_the_one_link_after_failed_tries_and_a_new_worker(stack: Stack) -> None:
    contact = {"name": "Olga Smirnova", "email": "olga@10000.example", "primary": True}
    crm = BusClient(stack.api_url, DEV_KEYS["crm"])
    ops = BusClient(stack.api_url, DEV_KEYS["ops"])
    try:
        created = crm.call("account.create", {"erp_key": "10000", "contacts": [contact]})
        first_worker = stack.start_worker("worker-1")
        parent = created["message_id"]

        def mail_tried_twice() -> bool:
            mail = _step(ops, parent, "mail.set_password_link")
            return len(mail["attempts"]) >= 2 and mail["status"] == "retry_wait"

        wait_until(mail_tried_twice, stack, 60, "the mail step failing while the relay is down")
        first_worker.stop()
        stack.start_simulator("mail")
        stack.start_worker("worker-2")

        def delivered() -> bool:
            return bool(_step(ops, parent, "mail.set_password_link")["status"] == "delivered")

        wait_until(delivered, stack, 60, "the mail step after the relay came back")
        mail_step = _step(ops, parent, "mail.set_password_link")
        user_step = _step(ops, parent, "user.create")
    finally:
        crm.close()
        ops.close()
    assert [a["outcome"] for a in mail_step["attempts"]][-1] == "delivered"
    assert len(mail_step["attempts"]) >= 3
    [user] = httpx.get(
        f"{stack.urls['storefront']}/_control/storefront/users", params={"customer": "10000"}
    ).json()["users"]
    [sent] = httpx.get(
        f"{stack.urls['mail']}/_control/mail/messages", params={"to": contact["email"]}
    ).json()["messages"]
    assert extract_links(sent["text"]) == [user["set_password_url"]]
    token = user["set_password_url"].rpartition("token=")[2]
    assert token not in str(user_step) and token not in str(mail_step)
    assert user_step["result"]["set_password_url"].endswith("user=***&token=***")
