"""A paced or slow target's backlog never delays another target's messages (issue 13).

Two ``bus worker`` processes on PostgreSQL + Redis (or, embedded, ``bus serve`` on SQLite) deliver
orders to NAV, then to Bitrix24. A burst of orders leaves a backlog of Bitrix24 steps (the bus
paces Bitrix24 at 2 requests/s; in the slow case the portal also answers each request after 3 s),
which holds every thread Bitrix24 has. A new order's NAV step, on NAV's own queue and threads, is
delivered within a few seconds all the same; so is a customer's provisioning, though it begins
with a Bitrix24 step (``account.read``, answered from the robot's call) and ends with one (the
comment on the customer's company that the manager reads, which goes ahead of the deals).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from bus.settings import DEV_KEYS
from tests.e2e.conftest import order, production_env, running, wait_until
from tests.support.processes import BusClient, Stack
from tests.support.servers import fresh_postgres_database, redis_or_skip

#: Orders go to NAV, then to Bitrix24.
ERP_THEN_CRM = '[{"name": "crm", "steps": ["erp:sales_order.create", "crm:order.create"]}]'
#: A lease longer than an attempt waiting for Bitrix24's pace; fast sweeps and retries.
TIMINGS = {
    "BUS_QUEUE__SWEEP_INTERVAL": "0.5",
    "BUS_QUEUE__REQUEUE_AFTER": "10",
    "BUS_QUEUE__LEASE": "60",
    "BUS_QUEUE__WORKER_THREADS": "4",
    "BUS_BITRIX24__RETRY__ATTEMPT_TIMEOUT": "20",
    "BUS_ORDER_ROUTES": ERP_THEN_CRM,
}
#: Orders in the burst: at 2 requests/s their Bitrix24 steps take minutes.
BURST = 60
#: How long a new NAV order may take from its acceptance to NAV's answer, behind the backlog.
BOUND = 5.0
#: How long a provisioning may take, behind the backlog, to finish every step (idle: under a
#: second; the backlog alone is half a minute of Bitrix24's pace).
PROVISIONING_BOUND = 10.0


@pytest.fixture
def stack(request: pytest.FixtureRequest, log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    """The NAV and Bitrix24 simulators and the API: on PostgreSQL + Redis with two workers, or
    the embedded deployment (SQLite, the API delivering in its own threads)."""
    simulators = ("navision", "bitrix24", "storefront", "mail")
    if request.param == "embedded":
        env = {"BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}", **TIMINGS}
        yield from running(Stack(env, log_dir, simulators=simulators))
        return
    redis_or_skip()
    with fresh_postgres_database() as database_url:
        env = production_env(database_url, TIMINGS)
        for started in running(Stack(env, log_dir, simulators=simulators)):
            workers = [started.start_worker(f"worker-{n}") for n in (1, 2)]
            for worker in workers:
                up = lambda w=worker: "worker started" in w.output()  # noqa: E731
                wait_until(up, started, 60, f"{worker.name} to start")
            yield started


def nav_created(stack: Stack) -> int:
    """How many sales orders NAV has created."""
    received = httpx.get(f"{stack.sim_url}/_control/received", timeout=10).json()["requests"]
    return len(
        [
            r
            for r in received
            if r["method"] == "POST" and r["status"] == 201 and "SalesOrder" in r["path"]
        ]
    )


def bitrix24_backlog(stack: Stack) -> int:
    """How many Bitrix24 steps are not delivered yet (the journal's count)."""
    return journal_count(
        stack, "SELECT count(*) FROM messages WHERE target = 'bitrix24' AND status != 'delivered'"
    )


def journal_count(stack: Stack, query: str) -> int:
    """A ``count(*)`` of the stack's journal."""
    database_url = stack.env["BUS_DATABASE_URL"]
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.split(":///", 1)[1]) as connection:
            return int(connection.execute(query).fetchone()[0])

    async def count() -> int:
        url = database_url.replace("postgresql+asyncpg://", "postgresql://")
        connection = await asyncpg.connect(url, timeout=5)
        try:
            return int(await connection.fetchval(query))
        finally:
            await connection.close()

    return asyncio.run(count())


def nav_step_latency(client: BusClient, stack: Stack, n: int) -> float:
    """Submit order ``n``; seconds until its NAV step (the message itself) is delivered."""
    started = time.monotonic()
    message_id = client.call("order.submit", order(n))["message_id"]
    deadline = started + 60
    while time.monotonic() < deadline:
        if client.call("message.get", {"message_id": message_id})["status"] == "delivered":
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"the NAV step of {message_id} was not delivered\n{stack.logs()}")


@pytest.mark.parametrize(
    ("stack", "bitrix24"),
    [("redis", "paced"), ("redis", "slow"), ("embedded", "paced")],
    indirect=["stack"],
)
def test_a_nav_order_is_delivered_at_once_behind_a_bitrix24_backlog(
    stack: Stack, bitrix24: str
) -> None:
    if bitrix24 == "slow":
        httpx.post(
            f"{stack.urls['bitrix24']}/_control/faults", json={"mode": "slow", "delay": 3}
        ).raise_for_status()
    client = BusClient(stack.api_url, DEV_KEYS["storefront"])
    try:
        nav_step_latency(client, stack, 0)  # the first opens the connections
        backlog = burst_behind_bitrix24(client, stack)

        latencies = [nav_step_latency(client, stack, BURST + n) for n in range(1, 4)]

        assert max(latencies) < BOUND, f"NAV orders behind {backlog} Bitrix24 steps: {latencies}"
        assert bitrix24_backlog(stack) > 0  # they went past it, not after it
    finally:
        client.close()


def burst_behind_bitrix24(client: BusClient, stack: Stack) -> int:
    """Submit :data:`BURST` orders and wait until NAV made them: their Bitrix24 steps are the
    backlog; its size."""
    burst = [
        {"jsonrpc": "2.0", "id": n, "method": "order.submit", "params": order(n)}
        for n in range(1, BURST + 1)
    ]
    answers = client.http.post(client.url, json=burst).json()
    assert all("result" in answer for answer in answers), answers
    wait_until(lambda: nav_created(stack) > BURST, stack, 60, "NAV to create the burst")
    backlog = bitrix24_backlog(stack)
    assert backlog >= BURST // 2, f"only {backlog} Bitrix24 steps left: no backlog to test"
    return backlog


#: The steps of a provisioning: ``account.create`` and the seven after it (bench.isolation).
PROVISIONING_STEPS = 8


def provisioning_pending(stack: Stack, message_id: str) -> int:
    """How many steps of the provisioning ``message_id`` are not done yet."""
    done = journal_count(
        stack,
        f"SELECT count(*) FROM messages WHERE '{message_id}' IN (id, parent_id)"
        " AND status IN ('delivered', 'skipped')",
    )
    return PROVISIONING_STEPS - done


@pytest.mark.parametrize("stack", ["redis"], indirect=True)
def test_a_customer_is_provisioned_at_once_behind_a_bitrix24_backlog(stack: Stack) -> None:
    """Provisioning begins with Bitrix24's ``account.read``, which sends Bitrix24 nothing: it
    does not wait its turn behind the paced deals. It ends with a comment on the customer's
    Bitrix24 company, which the manager reads: it goes ahead of the deals, in Bitrix24's queue
    and in its pace."""
    client = BusClient(stack.api_url, DEV_KEYS["storefront"])
    robot = BusClient(stack.api_url, DEV_KEYS["crm"])
    try:
        nav_step_latency(client, stack, 0)  # the first opens the connections
        backlog = burst_behind_bitrix24(client, stack)
        contact = {"name": "Olga Smirnova", "email": "olga@20000.example", "primary": True}
        manager = {"name": "Irina Volkova", "email": "irina.volkova@b2b.example"}
        started = time.monotonic()
        message_id = robot.call(
            "account.create",
            {"erp_key": "20000", "contacts": [contact], "settings": {"manager": manager}},
        )["message_id"]
        while pending := provisioning_pending(stack, message_id):
            took = time.monotonic() - started
            assert took < PROVISIONING_BOUND, (
                f"{pending} step(s) of {message_id} not done after {took:.1f} s behind"
                f" {backlog} Bitrix24 steps\n{stack.logs()[-4000:]}"
            )
            time.sleep(0.1)
        assert bitrix24_backlog(stack) > 0  # it went past the backlog, not after it
    finally:
        client.close()
        robot.close()
