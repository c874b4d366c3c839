"""An integration engineer finds a failed message and replays it from the ``bus`` CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bus.settings import DEV_KEYS
from tests.e2e.conftest import (
    FAST,
    Simulator,
    all_delivered,
    order,
    running,
    statuses,
    wait_until,
)
from tests.support.processes import BusClient, Stack

NAV_REJECTS = {
    "mode": "error",
    "status": 400,
    "match": "SalesOrder",
    "methods": ["POST"],
    "body": {
        "error": {
            "code": "Application_DialogException",
            "message": "Customer 10000 is over its credit limit.  CorrelationId:  x.",
        }
    },
}


def cli_json(stack: Stack, *args: str) -> object:
    done = stack.run_cli(*args, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_a_failed_order_is_found_and_replayed_from_the_cli(
    redis_stack: Stack, client: BusClient, simulator: Simulator
) -> None:
    redis_stack.start_worker()
    simulator.fault(**NAV_REJECTS)
    message_id = client.call("order.submit", order(1))["message_id"]
    wait_until(
        lambda: client.call("message.get", {"message_id": message_id})["status"] == "failed",
        redis_stack,
        30,
        "the order to fail",
    )

    listed = cli_json(redis_stack, "messages", "list", "--status", "failed", "--error", "credit")
    assert [m["id"] for m in listed] == [message_id]  # type: ignore[union-attr,index]
    shown = cli_json(redis_stack, "messages", "show", message_id)
    [attempt] = shown["attempts_log"]  # type: ignore[index]
    assert attempt["outcome"] == "permanent" and attempt["http_status"] == 400
    assert "credit limit" in attempt["error"]
    assert attempt["request"][0]["headers"]["authorization"] == "***"  # no secrets stored

    dry = cli_json(redis_stack, "messages", "replay", "--status", "failed", "--dry-run")
    assert [m["id"] for m in dry["would_replay"]] == [message_id]  # type: ignore[index]
    assert client.call("message.get", {"message_id": message_id})["status"] == "failed"

    refused = redis_stack.run_cli("messages", "replay", message_id)
    assert refused.returncode != 0 and "--reason" in refused.stdout + refused.stderr

    simulator.clear_faults()  # the credit limit was raised in NAV
    replayed = cli_json(
        redis_stack,
        "messages",
        "replay",
        message_id,
        "--reason",
        "credit limit raised",
        "--by",
        "alice",
    )
    assert replayed == [{"message_id": message_id, "ok": True, "status": "accepted", "error": None}]
    wait_until(all_delivered(client, [message_id]), redis_stack, 30, "delivery after replay")
    assert len(simulator.orders_for(message_id)) == 1
    shown = cli_json(redis_stack, "messages", "show", message_id)
    [action] = shown["actions"]  # type: ignore[index]
    assert (action["action"], action["actor"], action["reason"]) == (
        "replay",
        "alice",
        "credit limit raised",
    )


def test_replay_by_filter_needs_yes(
    redis_stack: Stack, client: BusClient, simulator: Simulator
) -> None:
    redis_stack.start_worker()
    simulator.fault(**NAV_REJECTS)
    ids = [client.call("order.submit", order(n))["message_id"] for n in (1, 2)]
    wait_until(
        lambda: all(
            client.call("message.get", {"message_id": m})["status"] == "failed" for m in ids
        ),
        redis_stack,
        30,
        "both orders to fail",
    )
    without_yes = redis_stack.run_cli("messages", "replay", "--status", "failed", "--reason", "x")
    assert without_yes.returncode == 2 and "--yes" in without_yes.stdout
    simulator.clear_faults()
    done = cli_json(
        redis_stack,
        "messages",
        "replay",
        "--status",
        "failed",
        "--method",
        "order.submit",
        "--reason",
        "NAV fixed",
        "--yes",
    )
    assert sorted(r["message_id"] for r in done) == sorted(ids)  # type: ignore[union-attr,index]
    wait_until(all_delivered(client, ids), redis_stack, 30, "delivery after the bulk replay")


@pytest.fixture
def patient_breaker_stack(log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    """The embedded stack whose NAV breaker, once open, stays open for ten minutes."""
    env = {
        "BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}",
        **FAST,
        "BUS_NAVISION__BREAKER__FAILURE_THRESHOLD": "1",
        "BUS_NAVISION__BREAKER__COOLDOWN": "600",
        "BUS_NAVISION__BREAKER__MAX_COOLDOWN": "600",
    }
    # The storefront hears the ERP's status change of an order that waits behind its failed order.
    yield from running(Stack(env, log_dir, simulators=("navision", "storefront")))


def test_an_operator_releases_held_orders_and_sees_what_blocks_an_order(
    patient_breaker_stack: Stack,
) -> None:
    """NAV's breaker stays open for ten minutes; the operator knows NAV is back and releases the
    held orders from the CLI: the first probes, its success releases the rest. An order waiting
    behind a failed one (the ERP's status change of a failed order) says which, and cancelling
    that one lets it run."""
    stack = patient_breaker_stack
    client = BusClient(stack.api_url, DEV_KEYS["storefront"])
    simulator = Simulator(stack.sim_url)
    simulator.fault(mode="down")
    first = client.call("order.submit", order(1))["message_id"]
    wait_until(
        lambda: client.call("message.get", {"message_id": first})["status"] != "accepted",
        stack,
        30,
        "the first attempt to fail and open the breaker",
    )
    held = [client.call("order.submit", order(n))["message_id"] for n in (2, 3)]
    wait_until(lambda: set(statuses(client, held).values()) == {"held"}, stack, 30, "held orders")
    simulator.clear_faults()
    released = cli_json(stack, "messages", "release", *held, "--reason", "NAV is back")
    assert [r["ok"] for r in released] == [True, True]  # type: ignore[union-attr,index]
    wait_until(all_delivered(client, held), stack, 30, "the released orders")
    wait_until(all_delivered(client, [first]), stack, 30, "the first order's retry")

    simulator.fault(**NAV_REJECTS)
    failing = client.call("order.submit", order(4))["message_id"]
    ops, erp = (BusClient(stack.api_url, DEV_KEYS[key]) for key in ("ops", "erp"))
    change = {"order_id": order(4)["order_id"], "status": "shipped"}
    waiting = erp.call("order.status_changed", change)["message_id"]
    wait_until(
        lambda: statuses(ops, [failing, waiting]) == {failing: "failed", waiting: "blocked"},
        stack,
        30,
        "the failed head and the order behind it",
    )
    viewed = ops.call("message.get", {"message_id": waiting})
    assert viewed["blocked_by"] == {"message_id": failing, "status": "failed"}
    shown = stack.run_cli("messages", "show", waiting)
    assert f"blocked by {failing} (failed)" in " ".join(shown.stdout.split())
    simulator.clear_faults()
    cli_json(stack, "messages", "cancel", failing, "--reason", "the customer withdrew it")
    wait_until(all_delivered(ops, [waiting]), stack, 30, "the change behind it")
    for bus_client in (client, ops, erp):
        bus_client.close()
    simulator.http.close()
