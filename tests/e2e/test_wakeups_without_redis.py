"""An operator's action is done once the journal has committed it, even when the process that
acts cannot reach Redis to wake what the action made runnable.

The deployment (PostgreSQL, Redis, ``bus serve``, a ``bus worker``, NAV and the storefront) runs
as it is; only the operator's process is given a Redis nothing listens on: the CLI for a bulk
replay, a cancel that moves an order's key on, an edit, a release and a resume, and a second
``bus serve`` for the console. Each says what it did, adds one line that the wake-ups wait for
the sweeper, exits 0 and prints no traceback; the worker's sweeper then hands every message to a
worker.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.sandbox import free_port
from bus.settings import DEV_KEYS
from tests.e2e.conftest import (
    FAST,
    Simulator,
    all_delivered,
    bus_client,
    nav_simulator,
    order,
    production_env,
    running,
    stack_dir,
    statuses,
    wait_until,
)
from tests.support.processes import BusClient, Process, Stack, wait_for_http
from tests.support.servers import fresh_postgres_database, redis_or_skip

pytestmark = pytest.mark.timeout(300)

#: A Redis URL whose port nothing listens on (free_port picks one that is free now).
NO_REDIS = f"redis://127.0.0.1:{free_port()}/0"


def nav_rejects(message: str) -> dict[str, Any]:
    """A NAV fault: every sales order POST answered 400 with ``message``."""
    return {
        "mode": "error",
        "status": 400,
        "match": "SalesOrder",
        "methods": ["POST"],
        "body": {"error": {"code": "Application_DialogException", "message": message}},
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """PostgreSQL + Redis, the API and a worker, NAV and the storefront."""
    redis_or_skip()
    base = stack_dir(tmp_path_factory, "wakeups-without-redis")
    with fresh_postgres_database() as url:
        env = production_env(url, FAST)
        for started in running(Stack(env, base / "logs", simulators=("navision", "storefront"))):
            started.start_worker()
            yield started


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[BusClient]:
    yield from bus_client(stack, DEV_KEYS["storefront"])


@pytest.fixture(scope="module")
def ops(stack: Stack) -> Iterator[BusClient]:
    yield from bus_client(stack, DEV_KEYS["ops"])


@pytest.fixture(scope="module")
def nav(stack: Stack) -> Iterator[Simulator]:
    yield from nav_simulator(stack)


def without_redis(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """``bus ARGS`` run where Redis cannot be reached; everything else as the deployment's."""
    env = {**os.environ, **stack.env, "BUS_REDIS_URL": NO_REDIS}
    return subprocess.run(
        [sys.executable, "-m", "bus", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_done_and_left_to_the_sweeper(done: subprocess.CompletedProcess[str], said: str) -> None:
    """The command exited 0 saying ``said``, with one line (on standard error) that messages
    were not woken now and when the sweeper hands them over; no traceback."""
    output = f"exit {done.returncode}\n--- stdout\n{done.stdout}--- stderr\n{done.stderr}"
    assert done.returncode == 0, output
    assert "Traceback" not in output, output
    assert said in done.stdout, output
    [line] = [line for line in done.stderr.splitlines() if "not woken now" in line]
    assert "the sweeper" in line and "queue.requeue_after" in line, line
    assert "3s" in line, line  # the deployment's requeue_after (FAST): how long at most


def failed_orders(
    stack: Stack, client: BusClient, nav: Simulator, numbers: range, why: str
) -> list[str]:
    """Orders ``numbers`` refused by NAV with ``why``, failed for good; NAV then takes orders."""
    nav.fault(**nav_rejects(why))
    ids = [client.call("order.submit", order(n))["message_id"] for n in numbers]
    wait_until(
        lambda: set(statuses(client, ids).values()) == {"failed"}, stack, 60, "orders to fail"
    )
    nav.clear_faults()
    return ids


def test_a_bulk_replay_without_redis_sums_up_what_it_did_and_leaves_the_wakeups_to_the_sweeper(
    stack: Stack, client: BusClient, nav: Simulator
) -> None:
    """The audit's case: ``replay --status failed … --yes`` with Redis unreachable printed the
    count, then a traceback, and exited 1 with both messages replayed."""
    failed = failed_orders(stack, client, nav, range(1, 3), "Customer 10000 is over its limit.")

    done = without_redis(
        stack, "messages", "replay", "--status", "failed", "--error", "over its limit",
        "--reason", "limit raised", "--yes",
    )  # fmt: skip

    assert_done_and_left_to_the_sweeper(done, "replayed 2")
    assert "2 message(s) match; replaying them" in done.stdout
    wait_until(all_delivered(client, failed), stack, 30, "the replayed orders")


def test_a_cancel_without_redis_moves_the_orders_key_on_through_the_sweeper(
    stack: Stack, client: BusClient, ops: BusClient, nav: Simulator
) -> None:
    [failed] = failed_orders(stack, client, nav, range(11, 12), "Item 1100 is blocked.")
    erp = BusClient(stack.api_url, DEV_KEYS["erp"])
    change = erp.call("order.status_changed", {"order_id": "E-11", "status": "shipped"})
    waiting = change["message_id"]
    erp.close()
    wait_until(
        lambda: statuses(ops, [waiting]) == {waiting: "blocked"}, stack, 30, "the change blocked"
    )

    done = without_redis(stack, "messages", "cancel", failed, "--reason", "item withdrawn")

    assert_done_and_left_to_the_sweeper(done, "cancelled 1")
    wait_until(all_delivered(ops, [waiting]), stack, 30, "the status change behind it")


def test_an_edit_without_redis_is_done_and_its_edit_delivered(
    stack: Stack, client: BusClient, ops: BusClient, nav: Simulator, tmp_path: Path
) -> None:
    [failed] = failed_orders(stack, client, nav, range(21, 22), "Quantity 2 is not allowed.")
    shown = stack.run_cli("messages", "show", failed, "--json")
    payload = json.loads(shown.stdout)["payload"]
    payload["lines"][0]["quantity"] = 5
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(payload))

    done = without_redis(
        stack, "messages", "edit", failed, "--reason", "five", "--payload-file", str(edited)
    )

    assert_done_and_left_to_the_sweeper(done, f"{failed} edited as ")
    [edit] = re.findall(r"edited as (\w+)", done.stdout)
    wait_until(all_delivered(ops, [edit]), stack, 30, "the edit")


def test_a_console_replay_without_redis_is_done(
    stack: Stack, client: BusClient, nav: Simulator
) -> None:
    """A ``bus serve`` that cannot reach Redis: its console's replay is reported done."""
    [failed] = failed_orders(stack, client, nav, range(41, 42), "Customer 10000 is on hold.")
    port = free_port()
    env = {**stack.env, "BUS_REDIS_URL": NO_REDIS, "BUS_PORT": str(port)}
    serve = Process("api-without-redis", ["serve"], env, stack.log_dir)
    stack.processes.append(serve)  # stopped with the stack
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/healthz", serve)

    with httpx.Client(base_url=f"{url}/console", timeout=60) as browser:
        signed_in = browser.post("/login", data={"key": DEV_KEYS["ops"]})
        assert signed_in.status_code == 303, signed_in.text
        found = re.search(r'name="csrf" value="([^"]+)"', browser.get("/search").text)
        assert found, "no CSRF token"
        answer = browser.post(
            f"/messages/{failed}/replay", data={"reason": "on hold lifted", "csrf": found.group(1)}
        )

    assert answer.status_code == 303, answer.text
    assert answer.headers["Location"].endswith(f"/console/messages/{failed}?done=replay")
    assert "Traceback" not in serve.output(), serve.output()
    assert "not woken now" in serve.output(), serve.output()  # its log says so, once
    wait_until(all_delivered(client, [failed]), stack, 30, "the replayed order")


def test_a_release_and_a_resume_without_redis_are_done(
    stack: Stack, client: BusClient, nav: Simulator
) -> None:
    paused = stack.run_cli("targets", "pause", "navision", "--reason", "upgrade")
    assert paused.returncode == 0, paused.stdout + paused.stderr
    held = [client.call("order.submit", order(n))["message_id"] for n in (31, 32)]
    wait_until(lambda: set(statuses(client, held).values()) == {"held"}, stack, 30, "held orders")

    try:
        released = without_redis(stack, "messages", "release", held[0], "--reason", "try it")
        assert_done_and_left_to_the_sweeper(released, "released 1")
        resumed = without_redis(stack, "targets", "resume", "navision", "--reason", "done")
        assert_done_and_left_to_the_sweeper(resumed, "resumed: navision")
    finally:  # NAV is not left paused for the module's next test, whatever happened
        stack.run_cli("targets", "resume", "navision", "--reason", "test over")

    wait_until(all_delivered(client, held), stack, 30, "the held orders")
