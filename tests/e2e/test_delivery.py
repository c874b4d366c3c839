"""Orders delivered end to end, exactly once, through outages, crashes and a lost queue."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.settings import DEV_KEYS
from tests.e2e.conftest import (
    FAST,
    Simulator,
    all_delivered,
    order,
    production_env,
    running,
    statuses,
    wait_until,
)
from tests.support.processes import BusClient, Stack
from tests.support.redisserver import RedisServer
from tests.support.servers import fresh_postgres_database, redis_or_skip


def submit(client: BusClient, *numbers: int) -> list[str]:
    return [client.call("order.submit", order(n))["message_id"] for n in numbers]


@pytest.fixture
def shop_stack(log_dir: Path) -> Iterator[Stack]:
    """``redis_stack`` with the storefront simulator too, which hears the ERP's status changes."""
    redis_or_skip()
    with fresh_postgres_database() as database_url:
        env = production_env(database_url, FAST)
        yield from running(Stack(env, log_dir, simulators=("navision", "storefront")))


def assert_exactly_once(simulator: Simulator, message_ids: list[str]) -> None:
    for message_id in message_ids:
        orders = simulator.orders_for(message_id)
        assert len(orders) == 1, f"{message_id} created {len(orders)} times"


def check_delivered_order(client: BusClient, simulator: Simulator, message_id: str) -> None:
    message = client.call("message.get", {"message_id": message_id})
    assert message["status"] == "delivered"
    [nav_order] = simulator.orders_for(message_id)
    assert message["result"]["erp_order_no"] == nav_order["No"]
    assert nav_order["Sell_to_Customer_No"] == "10000"
    lines = [(line["No"], line["Quantity"]) for line in nav_order["SalesOrderSalesLines"]]
    assert lines == [("1000", 2), ("1100", 3)]
    assert message["attempts"][-1]["outcome"] == "delivered"
    assert message["attempts"][-1]["http_status"] == 201


def test_an_order_is_delivered_with_the_embedded_default(
    embedded_stack: Stack, client: BusClient, simulator: Simulator
) -> None:
    [message_id] = submit(client, 1)
    wait_until(all_delivered(client, [message_id]), embedded_stack, 30, "delivery")
    check_delivered_order(client, simulator, message_id)


def test_an_order_is_delivered_on_postgres_and_redis(
    redis_stack: Stack, client: BusClient, simulator: Simulator
) -> None:
    redis_stack.start_worker()
    [message_id] = submit(client, 1)
    wait_until(all_delivered(client, [message_id]), redis_stack, 30, "delivery")
    check_delivered_order(client, simulator, message_id)


def test_an_outage_holds_orders_behind_the_breaker_and_delivers_each_once_after(
    redis_stack: Stack, client: BusClient, simulator: Simulator
) -> None:
    """The ERP is down: a few attempts fail, the breaker opens, the rest wait as ``held`` with no
    attempt spent; when the ERP is back a probe closes the breaker and every order lands once."""
    [nav] = [p for p in redis_stack.processes if p.name == "navision"]
    nav.stop()  # the ERP is down: connections are refused
    redis_stack.start_worker()
    message_ids = submit(client, *range(1, 21))

    def messages() -> list[dict[str, Any]]:
        return [client.call("message.get", {"message_id": m}) for m in message_ids]

    def breaker_open() -> bool:
        held = [m for m in messages() if m["status"] == "held"]
        return len(held) >= 10 and all(m["status"] in ("held", "retry_wait") for m in messages())

    wait_until(breaker_open, redis_stack, 60, "the breaker holding the orders")
    during = messages()
    spent = sum(len(m["attempts"]) for m in during)
    assert spent < len(message_ids)  # held orders spent no attempts
    failed = next(m for m in during if m["attempts"])
    assert failed["attempts"][0]["outcome"] == "transient"
    assert "unreachable" in failed["attempts"][0]["error"]
    assert "circuit breaker" in next(m for m in during if m["status"] == "held")["last_error"]
    redis_stack.start_simulator()
    wait_until(all_delivered(client, message_ids), redis_stack, 60, "delivery after the outage")
    assert_exactly_once(simulator, message_ids)


def test_a_worker_killed_mid_delivery_loses_nothing_and_duplicates_nothing(
    redis_stack: Stack, client: BusClient, simulator: Simulator
) -> None:
    worker = redis_stack.start_worker("worker-1")
    # NAV creates each order, then the answer hangs: the worker dies with the outcome unknown.
    simulator.fault(mode="slow_after_commit", delay=60, match="SalesOrder", methods=["POST"])
    message_ids = submit(client, *range(1, 6))
    wait_until(
        lambda: len([r for r in simulator.received() if r["method"] == "POST"]) >= 5,
        redis_stack,
        30,
        "every order to reach NAV",
    )
    assert set(statuses(client, message_ids).values()) == {"in_flight"}
    worker.kill()
    simulator.clear_faults()
    redis_stack.start_worker("worker-2")
    wait_until(all_delivered(client, message_ids), redis_stack, 60, "delivery after the crash")
    assert_exactly_once(simulator, message_ids)
    for message_id in message_ids:
        attempts = client.call("message.get", {"message_id": message_id})["attempts"]
        assert [a["number"] for a in attempts] == [2]  # attempt 1 died with its worker


def test_a_flushed_redis_loses_nothing(log_dir: Path) -> None:
    # A Redis of its own: the machine's is shared by other tests and must never be flushed.
    with RedisServer() as redis_server, fresh_postgres_database() as database_url:
        env = {**production_env(database_url, FAST), "BUS_REDIS_URL": redis_server.url}
        for stack in running(Stack(env, log_dir)):
            client = BusClient(stack.api_url, DEV_KEYS["storefront"])
            simulator = Simulator(stack.sim_url)
            message_ids = submit(client, *range(1, 11))  # queued in Redis; no worker yet
            redis_server.flushall()
            stack.start_worker()
            wait_until(all_delivered(client, message_ids), stack, 60, "delivery after FLUSHALL")
            assert_exactly_once(simulator, message_ids)
            client.close()
            simulator.http.close()


def test_an_unanswered_request_is_checked_before_it_is_repeated(
    embedded_stack: Stack, client: BusClient, simulator: Simulator
) -> None:
    simulator.fault(mode="drop_after_commit", times=1, match="SalesOrder", methods=["POST"])
    [message_id] = submit(client, 1)
    wait_until(all_delivered(client, [message_id]), embedded_stack, 30, "delivery")
    assert_exactly_once(simulator, [message_id])
    attempts = client.call("message.get", {"message_id": message_id})["attempts"]
    assert [a["outcome"] for a in attempts] == ["unknown_outcome", "delivered"]
    posts = [r for r in simulator.received() if r["method"] == "POST"]
    assert len(posts) == 1  # the second attempt found the order instead of posting it again


@pytest.mark.parametrize("count", [6])
def test_messages_of_one_order_reach_their_systems_in_acceptance_order(
    shop_stack: Stack, count: int
) -> None:
    """An order is submitted once (its order id is its identity); the ERP's status changes of it,
    sent while NAV refuses the order twice (503), wait for it and reach the storefront in the
    order they were accepted."""
    shop_stack.start_worker()
    simulator = Simulator(shop_stack.sim_url)
    simulator.fault(mode="status", status=503, times=2, match="SalesOrder", methods=["POST"])
    shop, erp, ops = (
        BusClient(shop_stack.api_url, DEV_KEYS[k]) for k in ("storefront", "erp", "ops")
    )
    submitted = shop.call("order.submit", order(1, order_id="SAME"))["message_id"]
    changes = [
        erp.call(
            "order.status_changed",
            {"order_id": "SAME", "status": f"status-{n}", "idempotency_key": f"same-{n}"},
        )["message_id"]
        for n in range(1, count)
    ]
    message_ids = [submitted, *changes]
    wait_until(all_delivered(ops, message_ids), shop_stack, 60, "delivery in order")
    posted = [
        r["body"]["External_Document_No"]
        for r in simulator.received()
        if r["method"] == "POST" and r["status"] == 201
    ]
    assert posted == [submitted]
    calls = httpx.get(
        f"{shop_stack.urls['storefront']}/_control/storefront/calls",
        params={"method": "order.update"},
    ).json()["calls"]
    assert [c["message_id"] for c in sorted(calls, key=lambda c: c["seq"])] == changes
    [order_done] = ops.call("message.get", {"message_id": submitted})["attempts"][-1:]
    [first_change] = ops.call("message.get", {"message_id": changes[0]})["attempts"][:1]
    started = dt.datetime.fromisoformat
    assert started(first_change["started_at"]) > started(order_done["started_at"])  # it waited
    for client in (shop, erp, ops):
        client.close()
    simulator.http.close()
