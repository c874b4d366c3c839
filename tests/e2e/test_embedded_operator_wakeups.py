"""On the embedded deployment (SQLite, the queue inside ``bus serve``) the operator's CLI runs in
a process of its own and cannot reach the queue: what its actions make runnable is woken by the
sweeper of ``bus serve``. Every such message moves within the same few seconds: the replayed
orders, the storefront's notices of the replays, cancels and edit, and the cancelled order's
next step, all well before ``queue.requeue_after`` (the bound for a wake-up that was lost).

Real processes: ``bus serve`` with its embedded queue, NAV and the storefront simulators, and
the CLI run as an operator runs it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.settings import DEV_KEYS
from tests.e2e.conftest import FAST, Simulator, order, running, statuses, wait_until
from tests.e2e.test_cli import NAV_REJECTS
from tests.support.processes import BusClient, Stack

pytestmark = pytest.mark.timeout(240)

#: A lost wake-up's bound, far above what the test allows the operator's messages.
REQUEUE_AFTER = 60.0
#: How long after the operator's commands every message they journaled must have moved: the
#: sweeper's round (0.5 s), its grace for a fresh message (1 s), a delivery, with room for a
#: loaded machine; a quarter of REQUEUE_AFTER.
WITHIN = 15.0


@pytest.fixture
def stack(log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    """The embedded stack with NAV and the storefront; a lost wake-up is found after 60 s."""
    env = {
        "BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}",
        **FAST,
        "BUS_QUEUE__REQUEUE_AFTER": str(REQUEUE_AFTER),
    }
    yield from running(Stack(env, log_dir, simulators=("navision", "storefront")))


def storefront_calls(stack: Stack, method: str) -> list[dict[str, Any]]:
    """The params of the ``method`` calls the storefront received (first calls, not repeats)."""
    answer = httpx.get(
        f"{stack.urls['storefront']}/_control/storefront/calls",
        params={"method": method},
        timeout=10,
    ).json()
    return [call["params"] for call in answer["calls"] if not call["repeat"]]


def told(stack: Stack, action: str) -> set[str]:
    """The storefront messages whose operator ``action`` the storefront was told of."""
    return {
        n["about"] for n in storefront_calls(stack, "message.status") if n.get("action") == action
    }


def cli(stack: Stack, *args: str) -> str:
    done = stack.run_cli(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


def test_everything_an_operators_replay_cancel_and_edit_journal_moves_within_seconds(
    stack: Stack, tmp_path: Path
) -> None:
    client = BusClient(stack.api_url, DEV_KEYS["storefront"])
    ops, erp = (BusClient(stack.api_url, DEV_KEYS[key]) for key in ("ops", "erp"))
    nav = Simulator(stack.sim_url)
    nav.fault(**NAV_REJECTS)
    orders = [client.call("order.submit", order(n))["message_id"] for n in range(1, 8)]
    replayed, cancelled, [edited] = orders[:4], orders[4:6], orders[6:]
    # The ERP's status change of a cancelled order waits behind it, for the storefront.
    change = erp.call("order.status_changed", {"order_id": "E-6", "status": "shipped"})
    behind = change["message_id"]
    wait_until(
        lambda: (
            set(statuses(ops, orders).values()) == {"failed"}
            and statuses(ops, [behind]) == {behind: "blocked"}
        ),
        stack,
        30,
        "the orders failed and the status change blocked",
    )
    wait_until(
        lambda: len(storefront_calls(stack, "message.status")) == len(orders),
        stack,
        30,
        "the storefront told of each failure",
    )
    nav.clear_faults()
    payload = json.loads(cli(stack, "messages", "show", edited, "--json"))["payload"]
    payload["lines"][0]["quantity"] = 5
    edit_file = tmp_path / "edited.json"
    edit_file.write_text(json.dumps(payload))

    started = time.monotonic()
    cli(stack, "messages", "replay", *replayed, "--reason", "credit limit raised")
    cli(stack, "messages", "cancel", *cancelled, "--reason", "customer withdrew them")
    edit_said = cli(
        stack, "messages", "edit", edited, "--reason", "five", "--payload-file", str(edit_file)
    )
    [edit] = re.findall(r"edited as (\w+)", edit_said)

    def waiting() -> list[str]:
        """What has not moved yet."""
        expected = {
            "replays told": (told(stack, "replay"), set(replayed)),
            "cancels told": (told(stack, "cancel"), set(cancelled)),
            "edit told": (told(stack, "edit"), {edited}),
            "E-6's change at the storefront": (
                [c["order_id"] for c in storefront_calls(stack, "order.update")],
                ["E-6"],
            ),
            "delivered": (
                statuses(ops, [*replayed, edit, behind]),
                dict.fromkeys([*replayed, edit, behind], "delivered"),
            ),
        }
        return [f"{what}: {got} != {want}" for what, (got, want) in expected.items() if got != want]

    while (still := waiting()) and time.monotonic() - started < WITHIN:
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    assert not still, f"after {elapsed:.1f}s, still waiting: {still}\n{stack.logs()}"
    assert elapsed < WITHIN < REQUEUE_AFTER
    for bus_client in (client, ops, erp):
        bus_client.close()
    nav.http.close()
