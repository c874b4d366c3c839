"""A message that fails for good is not silent: the storefront is told, through the journal."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.settings import DEV_KEYS
from tests.e2e.conftest import FAST, Simulator, order, running, statuses, wait_until
from tests.e2e.test_cli import NAV_REJECTS, cli_json
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


def test_the_storefront_is_told_when_its_order_fails_of_the_replay_and_of_the_second_failure(
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
    [notice] = [c for c in viewed["children"] if c["method"] == "message.status"]
    assert notice["target"] == "storefront"
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
    # The replay is told, then the second failure, in that order (one key per told message).
    wait_until(lambda: len(notices(stack)) == 3, stack, 30, "the replay and the second failure")
    told_in_order = [(n["status"], n.get("action"), n["reason"]) for n in notices(stack)]
    assert [status for status, _, _ in told_in_order] == ["failed", "accepted", "failed"]
    assert told_in_order[1][1:] == ("replay", "try again")
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


def test_a_notice_that_fails_begets_no_notice(stack: Stack) -> None:
    client = BusClient(stack.api_url, DEV_KEYS["storefront"])
    nav, storefront = Simulator(stack.sim_url), Simulator(stack.urls["storefront"])
    nav.fault(**NAV_REJECTS)
    storefront.fault(mode="error", status=400, match="/rpc", methods=["POST"])
    message_id = client.call("order.submit", order(3))["message_id"]
    ops = BusClient(stack.api_url, DEV_KEYS["ops"])

    def told() -> list[dict[str, Any]]:
        found = cli_json(stack, "messages", "list", "--method", "message.status")
        assert isinstance(found, list)
        return found

    wait_until(lambda: [m["status"] for m in told()] == ["failed"], stack, 30, "the notice to fail")
    # Long enough for several sweeps and deliveries: a notice about the notice would be here.
    time.sleep(3)
    [notice] = told()
    viewed = ops.call("message.get", {"message_id": notice["id"]})
    assert viewed["children"] == []  # nothing is told about the storefront's own refusal
    assert statuses(ops, [message_id]) == {message_id: "failed"}
    for sim in (nav, storefront):
        sim.clear_faults()
        sim.http.close()
    ops.close()
    client.close()


def test_an_operators_cancel_is_told_after_the_failure(stack: Stack) -> None:
    client = BusClient(stack.api_url, DEV_KEYS["storefront"])
    nav = Simulator(stack.sim_url)
    nav.fault(**NAV_REJECTS)
    message_id = client.call("order.submit", order(4))["message_id"]
    wait_until(lambda: len(notices(stack)) == 1, stack, 30, "the failure told")
    cancelled = stack.run_cli("messages", "cancel", message_id, "--reason", "customer called")
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    wait_until(lambda: len(notices(stack)) == 2, stack, 30, "the cancel told")
    failed, cancel = notices(stack)
    assert (failed["status"], cancel["status"]) == ("failed", "cancelled")
    assert (cancel["action"], cancel["reason"], cancel["about"]) == (
        "cancel",
        "customer called",
        message_id,
    )
    nav.clear_faults()
    nav.http.close()
    client.close()
