"""A message that fails for good is not silent: the storefront is told, through the journal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.settings import DEV_KEYS
from tests.e2e.conftest import FAST, Simulator, order, running, statuses, wait_until
from tests.e2e.test_cli import NAV_REJECTS
from tests.support.processes import BusClient, Stack


@pytest.fixture
def stack(log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    """The embedded stack with NAV and the storefront (which hears of failures)."""
    env = {"BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}", **FAST}
    yield from running(Stack(env, log_dir, simulators=("navision", "storefront")))


def notices(stack: Stack) -> list[dict[str, Any]]:
    """The ``message.status`` calls the storefront received (first calls, not repeats)."""
    answer = httpx.get(
        f"{stack.urls['storefront']}/_control/storefront/calls",
        params={"method": "message.status"},
        timeout=10,
    ).json()
    return [call["params"] for call in answer["calls"] if not call["repeat"]]


def test_the_storefront_is_told_when_its_order_fails_and_again_after_a_failed_replay(
    stack: Stack,
) -> None:
    client = BusClient(stack.api_url, DEV_KEYS["storefront"])
    nav = Simulator(stack.sim_url)
    nav.fault(**NAV_REJECTS)
    message_id = client.call("order.submit", order(1))["message_id"]
    wait_until(lambda: len(notices(stack)) == 1, stack, 30, "the storefront to be told")
    [told] = notices(stack)
    assert told["about"] == told["step"] == message_id
    assert (told["status"], told["method"], told["order_id"]) == ("failed", "order.submit", "E-1")
    assert "credit limit" in told["reason"]
    viewed = client.call("message.get", {"message_id": message_id})
    [notice] = viewed["children"]
    assert (notice["method"], notice["target"]) == ("message.status", "storefront")
    ops = BusClient(stack.api_url, DEV_KEYS["ops"])  # the notice is the bus's, not the caller's
    wait_until(
        lambda: statuses(ops, [notice["message_id"]]) == {notice["message_id"]: "delivered"},
        stack,
        30,
        "the notice delivered",
    )
    ops.close()

    replayed = stack.run_cli("messages", "replay", message_id, "--reason", "try again", "--json")
    assert json.loads(replayed.stdout)[0]["ok"], replayed.stdout + replayed.stderr
    wait_until(lambda: len(notices(stack)) == 2, stack, 30, "the second failure told")
    nav.clear_faults()
    client.close()
    nav.http.close()


def test_a_delivered_order_tells_nothing(stack: Stack) -> None:
    client = BusClient(stack.api_url, DEV_KEYS["storefront"])
    message_id = client.call("order.submit", order(2))["message_id"]
    wait_until(
        lambda: statuses(client, [message_id]) == {message_id: "delivered"},
        stack,
        30,
        "the order delivered",
    )
    assert notices(stack) == []
    assert client.call("message.get", {"message_id": message_id})["children"] == []
    client.close()
