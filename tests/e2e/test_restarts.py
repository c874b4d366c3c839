"""Restarts as they happen in production, over real processes.

A worker stopped with SIGTERM (a deploy, a scale-down) finishes the attempts it is running before
it closes its HTTP client, and takes no new work meanwhile. The API started while PostgreSQL is
still starting waits for it instead of exiting; while the journal is unreachable callers get a
retryable error, and the same call with the same idempotency key is accepted once it is back.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from bus.settings import DEV_KEYS
from tests.e2e.conftest import (
    ERP_ONLY,
    Simulator,
    all_delivered,
    order,
    production_env,
    statuses,
    wait_until,
)
from tests.support.pgcluster import PgCluster, PgClusterUnavailable
from tests.support.processes import BusClient, Process, Stack, wait_for_http
from tests.support.servers import REDIS_URL, fresh_postgres_database, redis_or_skip, unavailable

#: NAV answers each order this late: long enough to stop a worker mid-attempt.
NAV_DELAY = 3.0

#: Timings of a graceful stop: an attempt may take ``2 × attempt_timeout``; the lease is longer.
GRACEFUL = {
    "BUS_QUEUE__SWEEP_INTERVAL": "0.5",
    "BUS_QUEUE__REQUEUE_AFTER": "3",
    "BUS_QUEUE__LEASE": "30",
    "BUS_QUEUE__WORKER_THREADS": "4",
    "BUS_NAVISION__RETRY__ATTEMPT_TIMEOUT": "10",
    "BUS_NAVISION__RETRY__BACKOFF_MIN": "0.2",
    "BUS_NAVISION__RETRY__BACKOFF_MAX": "1",
    # Low, so that cut attempts would open it: the test shows that none is cut.
    "BUS_NAVISION__BREAKER__FAILURE_THRESHOLD": "3",
    "BUS_ORDER_ROUTES": ERP_ONLY,
}


@pytest.fixture
def graceful_stack(log_dir: Path) -> Iterator[Stack]:
    """PostgreSQL + Redis, the NAV simulator and the API; workers are started by the test."""
    redis_or_skip()
    with fresh_postgres_database() as database_url:
        env = production_env(database_url, GRACEFUL)
        stack = Stack(env, log_dir)
        try:
            stack.start_simulators()
            stack.start_api()
            yield stack
        finally:
            stack.stop()


def _posts(simulator: Simulator) -> int:
    return len([r for r in simulator.received() if r["method"] == "POST"])


def _breaker(database_url: str, target: str) -> dict[str, Any] | None:
    """The target's breaker row in the journal (``None``: it never failed)."""
    query = "SELECT state, failures FROM circuits WHERE target = ?"
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.split(":///", 1)[1]) as connection:
            found = connection.execute(query, (target,)).fetchone()
        return None if found is None else {"state": found[0], "failures": found[1]}

    async def read() -> dict[str, Any] | None:
        url = database_url.replace("postgresql+asyncpg://", "postgresql://")
        connection = await asyncpg.connect(url, timeout=5)
        try:
            row = await connection.fetchrow(query.replace("?", "$1"), target)
        finally:
            await connection.close()
        return None if row is None else dict(row)

    return asyncio.run(read())


def _exit_within(process: Process, seconds: float) -> int:
    """Wait for ``process`` to exit; its exit code."""
    try:
        return process.popen.wait(seconds)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"{process.name} still running {seconds:g}s after SIGTERM:\n{process.output()[-4000:]}"
        ) from None


@pytest.mark.parametrize(
    ("processes", "orders"),
    [(1, 6), (2, 10)],
    ids=["one-process", "two-processes"],
)
def test_a_worker_stopped_mid_attempt_finishes_its_attempts_and_takes_no_new_work(
    graceful_stack: Stack, log_dir: Path, processes: int, orders: int
) -> None:
    stack = graceful_stack
    simulator = Simulator(stack.sim_url)
    client = BusClient(stack.api_url, DEV_KEYS["storefront"])
    try:
        simulator.fault(mode="slow", delay=NAV_DELAY, match="SalesOrder", methods=["POST"])
        # Two processes each fill their 4 threads only if neither prefetches the other's share.
        prefetch = {} if processes == 1 else {"dramatiq_queue_prefetch": "4"}
        worker = Process(
            "worker-1",
            ["worker", "--processes", str(processes)],
            {**stack.env, **prefetch},
            log_dir,
        )
        stack.processes.append(worker)
        message_ids = [client.call("order.submit", order(n))["message_id"] for n in range(orders)]
        # Every thread of every process holds an attempt (4 each), or the queue ran dry.
        busy = min(orders, 4 * processes)
        wait_until(lambda: _posts(simulator) >= busy, stack, 30, "attempts in flight at NAV")
        in_flight = [m for m, s in statuses(client, message_ids).items() if s == "in_flight"]
        assert len(in_flight) == busy

        # As a supervisor stops a service: SIGTERM to the main process only; it tells the rest.
        os.kill(worker.popen.pid, signal.SIGTERM)
        # Bounded by the grace period (min(lease, 2 × attempt_timeout + 5 s) = 30 s here); the
        # attempts under way end after NAV_DELAY, so it exits long before.
        code = _exit_within(worker, 30)
        assert code == 0, worker.output()[-4000:]
        output = worker.output()
        assert "client has been closed" not in output

        after = client.call("message.get", {"message_id": in_flight[0]})
        assert after["status"] == "delivered", stack.logs()
        for message_id in in_flight:
            message = client.call("message.get", {"message_id": message_id})
            assert message["status"] == "delivered", message
            assert [a["outcome"] for a in message["attempts"]] == ["delivered"], message
        # The queued rest was not started by the stopping worker: no attempt, NAV never asked.
        untouched = [m for m in message_ids if m not in in_flight]
        for message_id in untouched:
            assert client.call("message.get", {"message_id": message_id})["attempts"] == []
        assert _posts(simulator) == busy
        breaker = _breaker(stack.env["BUS_DATABASE_URL"], "navision")
        assert breaker is None or (breaker["state"], breaker["failures"]) == ("closed", 0)

        # What the stopped worker handed back is delivered by the next one, each order once.
        simulator.clear_faults()
        stack.spawn("worker-2", ["worker"])
        wait_until(all_delivered(client, message_ids), stack, 60, "delivery by the next worker")
        for message_id in message_ids:
            assert len(simulator.orders_for(message_id)) == 1
    finally:
        client.close()
        simulator.http.close()


def test_the_embedded_queue_lets_its_attempts_finish_when_the_api_stops(
    log_dir: Path, tmp_path: Path
) -> None:
    """Without Redis, ``bus serve`` delivers in its own threads: its stop waits for them too."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}"
    stack = Stack({"BUS_DATABASE_URL": database_url, **GRACEFUL}, log_dir)
    simulator = Simulator(stack.sim_url)
    client = BusClient(stack.api_url, DEV_KEYS["storefront"])
    try:
        stack.start_simulators()
        api = stack.start_api()
        simulator.fault(mode="slow", delay=NAV_DELAY, match="SalesOrder", methods=["POST"])
        message_ids = [client.call("order.submit", order(n))["message_id"] for n in range(4)]
        wait_until(lambda: _posts(simulator) >= 4, stack, 30, "attempts in flight at NAV")

        os.kill(api.popen.pid, signal.SIGTERM)
        code = _exit_within(api, 30)
        assert code == 0, api.output()[-4000:]
        done = stack.run_cli("messages", "list", "--json")  # the API is gone: ask the journal
        listed = {m["id"]: m for m in json.loads(done.stdout)}
        for message_id in message_ids:
            assert (listed[message_id]["status"], listed[message_id]["attempts"]) == (
                "delivered",
                1,
            ), listed[message_id]
        breaker = _breaker(database_url, "navision")
        assert breaker is None or (breaker["state"], breaker["failures"]) == ("closed", 0)
    finally:
        client.close()
        simulator.http.close()
        stack.stop()


#: The journal's retry hint (``limits.journal_retry_after``) these tests expect in ``data``.
RETRY_AFTER = 1.5

#: Short timings, so the journal's outages resolve in seconds.
OUTAGE = {
    "BUS_STARTUP_WAIT": "60",
    "BUS_LIMITS__JOURNAL_RETRY_AFTER": str(RETRY_AFTER),
    "BUS_QUEUE__SWEEP_INTERVAL": "0.5",
    "BUS_QUEUE__REQUEUE_AFTER": "3",
    "BUS_ORDER_ROUTES": ERP_ONLY,
}


@pytest.fixture
def pg() -> Iterator[PgCluster]:
    """A PostgreSQL cluster of the test's own (initdb'd, not started), never the shared one."""
    try:
        cluster = PgCluster().initdb()
    except PgClusterUnavailable as exc:
        unavailable("a throw-away PostgreSQL cluster", exc)
        raise
    try:
        yield cluster
    finally:
        cluster.cleanup()


def _outage_stack(pg: PgCluster, log_dir: Path) -> Stack:
    """The NAV simulator started; the bus on ``pg``'s journal with Redis, nothing of it started."""
    redis_or_skip()
    env = {
        "BUS_DATABASE_URL": pg.bus_url,
        "BUS_REDIS_URL": REDIS_URL,
        "BUS_REDIS_NAMESPACE": f"bus-test-{uuid.uuid4().hex[:8]}",
        **OUTAGE,
    }
    stack = Stack(env, log_dir)
    stack.start_simulators()
    return stack


def _rpc(stack: Stack, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """The whole JSON-RPC reply (result or error) to one storefront call."""
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    headers = {"Authorization": f"Bearer {DEV_KEYS['storefront']}"}
    reply: dict[str, Any] = httpx.post(
        f"{stack.api_url}/rpc", json=body, headers=headers, timeout=30
    ).json()
    return reply


def _assert_journal_unavailable(reply: dict[str, Any]) -> None:
    assert "error" in reply, reply
    error = reply["error"]
    assert (error["code"], error["message"]) == (-32030, "Journal unavailable"), error
    assert error["data"]["retry_after"] == RETRY_AFTER
    assert error["data"]["correlation_id"]


def _accepted_once_back(stack: Stack, params: dict[str, Any], timeout: float = 30) -> str:
    """Repeat ``order.submit`` with the same params and key, as the storefront does, until it is
    accepted; every refusal meanwhile must be the retryable one. The message id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = _rpc(stack, "order.submit", params)
        if "result" in reply:
            return str(reply["result"]["message_id"])
        _assert_journal_unavailable(reply)
        time.sleep(0.2)
    raise AssertionError(f"order.submit not accepted within {timeout}s\n{stack.logs()}")


def _journaled(pg: PgCluster, order_id: str) -> int:
    """How many orders the journal holds for the storefront's ``order_id`` (one, always)."""

    async def count() -> int:
        connection = await asyncpg.connect(pg.url, timeout=5)
        try:
            found = await connection.fetchval(
                "SELECT count(*) FROM messages WHERE method = 'order.submit'"
                " AND parent_id IS NULL AND payload->>'order_id' = $1",
                order_id,
            )
        finally:
            await connection.close()
        return int(found)

    return asyncio.run(count())


def test_the_api_and_a_worker_started_before_postgresql_wait_for_it(
    pg: PgCluster, log_dir: Path
) -> None:
    stack = _outage_stack(pg, log_dir)  # the cluster exists but is not running
    client = BusClient(stack.api_url, DEV_KEYS["storefront"])
    try:
        api = stack.spawn("api", ["serve", "--migrate"])
        worker = stack.spawn("worker", ["worker"])
        waiting = "the journal cannot be reached"
        for process in (api, worker):
            wait_until(lambda p=process: waiting in p.output(), stack, 30, f"{process.name} waits")
        time.sleep(2)  # a few more tries: still waiting, not exited
        assert api.popen.poll() is None and worker.popen.poll() is None, stack.logs()

        pg.start(wait=False)  # "the database system is starting up" for a moment, then up
        wait_for_http(f"{stack.api_url}/health", api, timeout=60)
        message_id = client.call("order.submit", order(1))["message_id"]
        wait_until(all_delivered(client, [message_id]), stack, 30, "delivery by the worker")
        assert worker.popen.poll() is None
        for process in (api, worker):
            assert "the journal answers" in process.output()
    finally:
        client.close()
        stack.stop()


def test_while_the_journal_is_down_calls_get_a_retryable_error_and_are_accepted_once_after(
    pg: PgCluster, log_dir: Path
) -> None:
    pg.start()
    stack = _outage_stack(pg, log_dir)
    try:
        api = stack.start_api()
        before = _rpc(stack, "order.submit", order(1))["result"]["message_id"]

        pg.stop()  # fast: the API's pooled connections are cut
        assert httpx.get(f"{stack.api_url}/health", timeout=10).status_code == 503
        # The first call meets a pooled connection the stop broke, the next ones a refused one.
        for _ in range(3):
            _assert_journal_unavailable(_rpc(stack, "order.submit", order(2)))
        _assert_journal_unavailable(_rpc(stack, "message.get", {"message_id": before}))
        assert api.popen.poll() is None
        assert "Internal error" not in api.output()

        pg.start()
        accepted = _accepted_once_back(stack, order(2))
        again = _rpc(stack, "order.submit", order(2))["result"]["message_id"]
        assert again == accepted
        assert _journaled(pg, order(2)["order_id"]) == 1
        assert httpx.get(f"{stack.api_url}/health", timeout=10).status_code == 200

        # A restart: the pool drops the connections it broke and reconnects by itself.
        pg.restart()
        _accepted_once_back(stack, order(3))
        assert _journaled(pg, order(3)["order_id"]) == 1
        message = _rpc(stack, "message.get", {"message_id": before})["result"]
        assert message["message_id"] == before
        assert api.popen.poll() is None
    finally:
        stack.stop()
