"""End-to-end fixtures: the bus, its workers and the Navision simulator as real processes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.settings import DEV_KEYS
from tests.support.processes import BusClient, Stack
from tests.support.servers import REDIS_URL, fresh_postgres_database, redis_or_skip

#: Every deployment the bus supports: each ERP with each CRM.
EVERY_PAIR = [(erp, crm) for erp in ("navision", "onec") for crm in ("bitrix24", "creatio")]

#: Orders go to the ERP only: one route, one step.
ERP_ONLY = '[{"name": "erp", "steps": ["erp:sales_order.create"]}]'

#: Fast timings so outages, leases and lost queues resolve in seconds.
FAST = {
    "BUS_QUEUE__SWEEP_INTERVAL": "0.5",
    "BUS_QUEUE__REQUEUE_AFTER": "3",
    "BUS_QUEUE__LEASE": "5",
    "BUS_NAVISION__RETRY__BACKOFF_MIN": "0.2",
    "BUS_NAVISION__RETRY__BACKOFF_MAX": "1",
    "BUS_NAVISION__RETRY__MAX_ATTEMPTS": "100",
    "BUS_NAVISION__RETRY__ATTEMPT_TIMEOUT": "2",
    "BUS_NAVISION__BREAKER__COOLDOWN": "1",
    "BUS_NAVISION__BREAKER__MAX_COOLDOWN": "2",
    # These tests are about delivery to one target; the CRM step has tests of its own.
    "BUS_ORDER_ROUTES": ERP_ONLY,
}


class Simulator:
    """The Navision simulator's control endpoint and OData service, as a test reads them."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(timeout=10)
        self.odata = f"{url}/DynamicsNAV110/ODataV4/Company('CRONUS')"

    def fault(self, **fault: Any) -> None:
        self.http.post(f"{self.url}/_control/faults", json=fault).raise_for_status()

    def clear_faults(self) -> None:
        self.http.delete(f"{self.url}/_control/faults").raise_for_status()

    def orders_for(self, message_id: str) -> list[dict[str, Any]]:
        """The sales orders whose External_Document_No is ``message_id``."""
        response = self.http.get(
            f"{self.odata}/SalesOrder",
            auth=("bus", "bus-secret"),
            params={
                "$filter": f"External_Document_No eq '{message_id}'",
                "$expand": "SalesOrderSalesLines",
            },
        )
        response.raise_for_status()
        orders: list[dict[str, Any]] = response.json()["value"]
        return orders

    def received(self) -> list[dict[str, Any]]:
        requests: list[dict[str, Any]] = self.http.get(f"{self.url}/_control/received").json()[
            "requests"
        ]
        return requests


#: The statuses of a step that is done: delivered, or skipped saying why (nothing to do there).
DONE = ("delivered", "skipped")


def order(n: int, **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "order_id": f"E-{n}",
        "customer": "10000",
        "lines": [{"item": "1000", "quantity": 2}, {"item": "1100", "quantity": 3}],
        "idempotency_key": f"e2e-{n}",
    }
    params.update(overrides)
    return params


def wait_until(
    check: Callable[[], bool], stack: Stack, timeout: float = 60, what: str = "condition"
) -> None:
    """Poll ``check`` until true; on timeout fail with every process's output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{stack.logs()}")


def statuses(client: BusClient, message_ids: list[str]) -> dict[str, str]:
    return {m: client.call("message.get", {"message_id": m})["status"] for m in message_ids}


def all_delivered(client: BusClient, message_ids: list[str]) -> Callable[[], bool]:
    return lambda: set(statuses(client, message_ids).values()) == {"delivered"}


def production_env(database_url: str, timings: dict[str, str]) -> dict[str, str]:
    """The settings of a PostgreSQL + Redis deployment with a Redis namespace of its own."""
    return {
        "BUS_DATABASE_URL": database_url,
        "BUS_REDIS_URL": REDIS_URL,
        "BUS_REDIS_NAMESPACE": f"bus-test-{uuid.uuid4().hex[:8]}",
        **timings,
    }


@pytest.fixture
def redis_stack(log_dir: Path) -> Iterator[Stack]:
    """PostgreSQL + Redis deployment: simulator and API started; workers started by the test."""
    redis_or_skip()
    with fresh_postgres_database() as database_url:
        env = production_env(database_url, FAST)
        yield from running(Stack(env, log_dir))


@pytest.fixture
def embedded_stack(log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    """The embedded default (SQLite + in-process queue) with the simulator."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}"
    yield from running(Stack({"BUS_DATABASE_URL": database_url, **FAST}, log_dir))


def stack_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A directory of its own for a module-scoped stack, with the ``logs`` directory in it."""
    base = tmp_path_factory.mktemp(name)
    (base / "logs").mkdir()
    return base


def running(stack: Stack) -> Iterator[Stack]:
    """Start the simulator and the API of ``stack``; stop every process of it afterwards."""
    try:
        stack.start()
        stack.subscribe_events()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def client(request: pytest.FixtureRequest) -> Iterator[BusClient]:
    """A storefront client of whichever stack the test uses."""
    stack_name = "redis_stack" if "redis_stack" in request.fixturenames else "embedded_stack"
    stack: Stack = request.getfixturevalue(stack_name)
    bus_client = BusClient(stack.api_url, DEV_KEYS["storefront"])
    yield bus_client
    bus_client.close()


@pytest.fixture
def simulator(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    """The control client of the stack's simulator."""
    stack_name = "redis_stack" if "redis_stack" in request.fixturenames else "embedded_stack"
    stack: Stack = request.getfixturevalue(stack_name)
    sim = Simulator(stack.sim_url)
    yield sim
    sim.http.close()


def bus_client(stack: Stack, key: str) -> Iterator[BusClient]:
    """A JSON-RPC client of ``stack``'s API with ``key``, closed after: a fixture yields from it."""
    client = BusClient(stack.api_url, key)
    yield client
    client.close()


def nav_simulator(stack: Stack) -> Iterator[Simulator]:
    """``stack``'s NAV simulator, its faults cleared after: a fixture yields from it."""
    simulator = Simulator(stack.sim_url)
    yield simulator
    simulator.clear_faults()
    simulator.http.close()
