"""An operator pauses NAV for a maintenance window: its orders wait without spending attempts and
NAV is sent nothing; a resume (or the window's end) delivers them. Real processes, on the
embedded deployment (SQLite, the queue inside ``bus serve``) and on PostgreSQL with Redis and a
worker."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest

from bus.settings import DEV_KEYS
from tests.e2e.conftest import Simulator, all_delivered, order, statuses, wait_until
from tests.support.processes import BusClient, Stack

#: Each ``bus`` command is a process of its own: a few seconds each on a busy machine.
pytestmark = pytest.mark.timeout(240)


@pytest.fixture(params=["embedded", "redis"])
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """Either deployment, its worker running."""
    if request.param == "embedded":
        yield request.getfixturevalue("embedded_stack")
        return
    redis: Stack = request.getfixturevalue("redis_stack")
    redis.start_worker()
    yield redis


@pytest.fixture
def ops(stack: Stack) -> Iterator[BusClient]:
    client = BusClient(stack.api_url, DEV_KEYS["ops"])
    yield client
    client.close()


def cli(stack: Stack, *args: str) -> Any:
    done = stack.run_cli(*args, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def target(stack: Stack, name: str) -> dict[str, Any]:
    [row] = [t for t in cli(stack, "targets", "list")["targets"] if t["target"] == name]
    return row


def sales_order_requests(simulator: Simulator, since: int) -> list[dict[str, Any]]:
    """What NAV was asked about sales orders after request ``since``."""
    return [r for r in simulator.received() if r["seq"] > since and "SalesOrder" in r["path"]]


def last_seq(simulator: Simulator) -> int:
    return max((r["seq"] for r in simulator.received()), default=0)


def test_a_paused_target_holds_its_messages_without_attempts_until_resumed(
    stack: Stack, client: BusClient, ops: BusClient, simulator: Simulator
) -> None:
    paused = cli(stack, "targets", "pause", "navision", "--reason", "NAV upgrade", "--by", "alice")
    assert (paused["target"], paused["paused_by"], paused["reason"]) == (
        "navision",
        "alice",
        "NAV upgrade",
    )
    since = last_seq(simulator)
    ids = [client.call("order.submit", order(n))["message_id"] for n in (1, 2)]
    wait_until(lambda: set(statuses(ops, ids).values()) == {"held"}, stack, 30, "held orders")

    for message_id in ids:
        held = ops.call("message.get", {"message_id": message_id})
        assert held["attempts"] == [] and "paused by alice" in held["last_error"]
    assert sales_order_requests(simulator, since) == []  # NAV was sent nothing
    row = target(stack, "navision")
    assert (row["paused"], row["paused_by"], row["held"]) == (True, "alice", 2)
    refused = stack.run_cli("targets", "pause", "navision", "--reason", "again")
    assert refused.returncode == 1 and "paused by alice" in refused.stderr

    resumed = cli(stack, "targets", "resume", "navision", "--reason", "upgrade done", "--by", "bob")
    assert sorted(resumed["released"]) == sorted(ids)
    wait_until(all_delivered(ops, ids), stack, 30, "the orders after the resume")
    for message_id in ids:
        assert len(simulator.orders_for(message_id)) == 1
        delivered = ops.call("message.get", {"message_id": message_id})
        assert [a["outcome"] for a in delivered["attempts"]] == ["delivered"]
    listed = cli(stack, "targets", "list", "--history", "5")
    assert not next(t for t in listed["targets"] if t["target"] == "navision")["paused"]
    [window] = listed["history"]
    assert (window["paused_by"], window["resumed_by"], window["resume_reason"]) == (
        "alice",
        "bob",
        "upgrade done",
    )


def test_a_pause_ends_by_itself_when_its_until_passes(
    stack: Stack, client: BusClient, ops: BusClient, simulator: Simulator
) -> None:
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20)).isoformat()
    cli(stack, "targets", "pause", "navision", "--reason", "night window", "--until", until)
    since = last_seq(simulator)
    [held] = [client.call("order.submit", order(3))["message_id"]]
    wait_until(lambda: statuses(ops, [held]) == {held: "held"}, stack, 30, "the held order")
    assert sales_order_requests(simulator, since) == []

    wait_until(all_delivered(ops, [held]), stack, 40, "the order once the window ended")
    assert len(simulator.orders_for(held)) == 1
    [window] = cli(stack, "targets", "list", "--history", "1")["history"]
    assert window["resumed_by"] == "bus" and "--until" in window["resume_reason"]


def test_mistakes_are_refused_in_one_line(embedded_stack: Stack) -> None:
    stack = embedded_stack
    unknown = stack.run_cli("targets", "pause", "navison", "--reason", "x")
    assert unknown.returncode == 2 and "unknown target 'navison'" in unknown.stderr
    no_reason = stack.run_cli("targets", "pause", "navision")
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    no_zone = stack.run_cli(
        "targets", "pause", "navision", "--reason", "x", "--until", "2099-01-01T06:00"
    )
    assert no_zone.returncode == 2 and "no zone" in no_zone.stderr
    past = stack.run_cli(
        "targets", "pause", "navision", "--reason", "x", "--until", "2020-01-01T06:00Z"
    )
    assert past.returncode == 2 and "passed" in past.stderr
    not_paused = stack.run_cli("targets", "resume", "navision", "--reason", "x")
    assert not_paused.returncode == 1 and "navision is not paused" in not_paused.stderr
    listed = stack.run_cli("targets", "list")
    assert listed.returncode == 0 and "navision" in listed.stdout and "running" in listed.stdout
