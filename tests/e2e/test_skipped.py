"""A step skipped because the step before it was cancelled says ``skipped`` everywhere an operator
or the storefront looks: ``message.get``, ``bus messages list`` and ``show``. Real processes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bus.settings import DEV_KEYS
from tests.e2e.conftest import FAST, Simulator, order, running, statuses, wait_until
from tests.e2e.test_cli import NAV_REJECTS
from tests.support.processes import BusClient, Stack

#: Each ``bus`` command is a process of its own: a few seconds each on a busy machine.
pytestmark = pytest.mark.timeout(240)

#: Orders go to NAV, then to the CRM: the CRM step waits for NAV's.
ERP_THEN_CRM = '[{"name": "erp", "steps": ["erp:sales_order.create", "crm:order.create"]}]'


@pytest.fixture
def stack(log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    env = {
        "BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}",
        **FAST,
        "BUS_ORDER_ROUTES": ERP_THEN_CRM,
    }
    yield from running(Stack(env, log_dir, simulators=("navision", "storefront")))


def test_the_step_after_a_cancelled_one_is_listed_and_shown_as_skipped(stack: Stack) -> None:
    ops, storefront = (BusClient(stack.api_url, DEV_KEYS[key]) for key in ("ops", "storefront"))
    nav = Simulator(stack.sim_url)
    nav.fault(**NAV_REJECTS)
    submitted = storefront.call("order.submit", order(1))["message_id"]
    wait_until(
        lambda: statuses(ops, [submitted]) == {submitted: "failed"}, stack, 30, "NAV's refusal"
    )
    [crm_step] = [
        c["message_id"]
        for c in ops.call("message.get", {"message_id": submitted})["children"]
        if c["operation"] == "order.create"
    ]

    cancelled = stack.run_cli("messages", "cancel", submitted, "--reason", "customer withdrew")
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    wait_until(
        lambda: statuses(ops, [crm_step]) == {crm_step: "skipped"}, stack, 30, "the CRM step"
    )

    step = ops.call("message.get", {"message_id": crm_step})
    assert step["result"]["skipped"] == "the step before was cancelled"
    assert [a["outcome"] for a in step["attempts"]] == ["skipped"]
    listed = stack.run_cli("messages", "list", "--key", "order:E-1", "--json")
    assert {m["id"]: m["status"] for m in json.loads(listed.stdout)} == {
        submitted: "cancelled",
        crm_step: "skipped",
    }
    plain = stack.run_cli("messages", "list", "--key", "order:E-1")
    assert plain.returncode == 0 and "skipped" in plain.stdout and "delivered" not in plain.stdout
    shown = stack.run_cli("messages", "show", crm_step)
    assert "skipped" in shown.stdout and "the step before was cancelled" in shown.stdout
    for client in (ops, storefront):
        client.close()
    nav.http.close()
