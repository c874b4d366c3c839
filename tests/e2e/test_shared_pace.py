"""N worker processes together keep Bitrix24's pace, and spend it on work.

A real deployment (PostgreSQL, Redis, ``bus serve``, three ``bus worker`` processes, the Bitrix24
simulator as its own process). A manager edits forty deals; each edit is an ``ONCRMDEALUPDATE``
the bus reads the deal for (``deal.read``: one request each), so the workers together have forty
requests to send as fast as the pace allows. The simulated portal's leaky bucket drains at the
bus's pace and holds only a little more than the bus's burst: processes pacing each on its own
(three times the pace) are refused with 503 ``QUERY_LIMIT_EXCEEDED`` within the first seconds.
What the portal served, and when, is the simulator's own record.

An order's deal, added by one worker, makes the portal post ``ONCRMDEALADD`` and, for its rows,
``ONCRMDEALUPDATE``: whichever worker takes the ADD knows the deal is the bus's own and does not
read it; the UPDATE is read (it could be anyone's), and recognised as the bus's echo.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.sandbox import free_port
from bus.settings import DEV_KEYS
from tests.e2e.conftest import production_env, wait_until
from tests.support.processes import BusClient, Process, Stack
from tests.support.servers import fresh_postgres_database, redis_or_skip

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(240)]

WORKERS = 3
DEALS = 40
#: The bus's pace, and the portal's: its bucket drains at the pace and holds the burst and one
#: second's worth more (a request reaches the portal a little late or early against its
#: reserved moment, the more so on a loaded machine); three processes each at the pace overflow
#: it at once.
RATE, BURST = 2.0, 4
PORTAL_BUCKET = BURST + 2 * int(RATE)
#: Seconds a request may reach the portal late or early against its reserved moment.
JITTER = 0.5
WEBHOOK = "/rest/1/bus-webhook-code"


@pytest.fixture
def stack(log_dir: Path) -> Iterator[Stack]:
    """The API and the Bitrix24 simulator of a PostgreSQL + Redis deployment; no worker yet, no
    event subscribed yet."""
    redis_or_skip()
    paced = {
        "BUS_BITRIX24__REQUESTS_PER_SECOND": str(RATE),
        "BUS_BITRIX24__BURST": str(BURST),
    }
    with fresh_postgres_database() as database_url:
        stack = Stack(
            production_env(database_url, paced),
            log_dir,
            crm="bitrix24",
            simulators=("navision", "bitrix24"),
        )
        try:
            stack.start_simulator("bitrix24")
            stack.start_api()
            yield stack
        finally:
            stack.stop()


class Portal:
    """The Bitrix24 simulator as a manager and a test see it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(timeout=10)

    def add_deals(self, count: int) -> list[int]:
        """``count`` deals a manager added (one ``batch`` request)."""
        commands = {f"d{n}": f"crm.deal.add?fields[TITLE]=Deal+{n}" for n in range(count)}
        answer = self.http.post(f"{self.url}{WEBHOOK}/batch.json", json={"cmd": commands})
        added = answer.raise_for_status().json()["result"]["result"]
        return [int(added[key]) for key in commands]

    def limit(self, capacity: int, drain_per_second: float) -> None:
        """Resize the portal's bucket (emptied) and forget the requests served so far."""
        self.http.post(
            f"{self.url}/_control/bitrix24/limits",
            json={"capacity": capacity, "drain_per_second": drain_per_second},
        ).raise_for_status()
        self.http.delete(f"{self.url}/_control/received").raise_for_status()

    def edit(self, deal_id: int) -> None:
        """A manager's edit of the deal: the portal posts ONCRMDEALUPDATE to the bus."""
        self.http.post(
            f"{self.url}/_control/bitrix24/edit_deal",
            json={"id": deal_id, "fields": {"COMMENTS": "edited"}},
        ).raise_for_status()

    def served(self) -> list[dict[str, Any]]:
        """The REST requests the portal answered, oldest first."""
        received = self.http.get(f"{self.url}/_control/received").raise_for_status().json()
        return [r for r in received["requests"] if r["path"].startswith("/rest/")]


def faster_than_the_pace(times: list[float]) -> list[str]:
    """Where more requests went than ``BURST`` plus ``RATE`` per second between them allow."""
    found = []
    for i, first in enumerate(times):
        for j in range(i + 1, len(times)):
            if j - i + 1 > BURST + RATE * (times[j] - first + JITTER):
                found.append(f"{j - i + 1} requests in {times[j] - first:.2f}s")
    return found


def start_worker(stack: Stack, name: str) -> tuple[Process, str]:
    """``bus worker`` with its metrics on a port of its own; the process and its metrics URL."""
    port = free_port()
    env = {**stack.env, "BUS_METRICS__WORKER_PORT": str(port)}
    process = Process(name, ["worker"], env, stack.log_dir)
    stack.processes.append(process)
    return process, f"http://127.0.0.1:{port}/metrics"


def deals_read(metrics_url: str) -> float:
    """How many ``bitrix24.deal_changed`` reads a worker process delivered (its metrics)."""
    text = httpx.get(metrics_url, timeout=5).raise_for_status().text
    line = 'bus_delivery_attempt_duration_seconds_count{outcome="delivered",target="bitrix24"}'
    return sum(float(row.rsplit(" ", 1)[1]) for row in text.splitlines() if row.startswith(line))


@pytest.fixture
def portal(stack: Stack) -> Iterator[Portal]:
    """The stack's Bitrix24 simulator."""
    portal = Portal(stack.urls["bitrix24"])
    yield portal
    portal.http.close()


def test_worker_processes_keep_the_portals_pace_together(stack: Stack, portal: Portal) -> None:
    deals = portal.add_deals(DEALS)
    stack.subscribe_events()  # after the deals were added: the bus hears only the edits
    portal.limit(PORTAL_BUCKET, RATE)
    workers = [start_worker(stack, f"worker-{n}") for n in range(WORKERS)]
    for worker, _ in workers:
        wait_until(lambda w=worker: "worker started" in w.output(), stack, 60, "the workers")
    for deal_id in deals:
        portal.edit(deal_id)

    def all_read() -> bool:
        return sum(r["status"] == 200 for r in portal.served()) >= DEALS

    wait_until(all_read, stack, 120, f"the {DEALS} deals read")
    served = portal.served()
    refused = [r for r in served if r["status"] != 200]
    assert refused == [], f"{len(refused)} of {len(served)} refused\n{stack.logs()}"
    assert len(served) == DEALS  # each deal read once, nothing else asked
    times = [r["at"] for r in served]
    offsets = [round(t - times[0], 2) for t in times]
    assert faster_than_the_pace(times) == [], f"{offsets}\n{stack.logs()}"
    span = times[-1] - times[0]
    rate = (len(times) - BURST) / span
    print(f"{WORKERS} workers: {len(times)} requests in {span:.2f}s, {rate:.2f}/s after the burst")
    assert rate <= RATE * 1.05
    # The pace is spent, not wasted: the workers kept the portal busy at its rate.
    assert rate >= RATE * 0.8
    # Every process took its share: the pace above is theirs together.
    shares = [deals_read(url) for _, url in workers]
    assert sum(shares) == DEALS and all(shares), shares


#: A message's statuses once it is finished (a skipped step included).
FINISHED = ("delivered", "skipped")
#: Orders go to the ERP, then to the CRM: nothing else is asked of any system.
ERP_THEN_CRM = '[{"name": "crm", "steps": ["erp:sales_order.create", "crm:order.create"]}]'


@pytest.fixture
def order_stack(log_dir: Path) -> Iterator[Stack]:
    """NAV and Bitrix24 (its events subscribed), the API and two workers, on PostgreSQL + Redis."""
    redis_or_skip()
    with fresh_postgres_database() as database_url:
        env = production_env(database_url, {"BUS_ORDER_ROUTES": ERP_THEN_CRM})
        stack = Stack(env, log_dir, crm="bitrix24", simulators=("navision", "bitrix24"))
        try:
            stack.start()
            stack.subscribe_events()
            for n in range(2):
                stack.start_worker(f"worker-{n}")
            yield stack
        finally:
            stack.stop()


def events_done(stack: Stack, count: int) -> bool:
    """``count`` Bitrix24 events journaled, and every one of them finished."""
    listed = stack.run_cli(
        "messages", "list", "--method", "bitrix24.deal_changed", "--limit", "100", "--json"
    )
    events = json.loads(listed.stdout or "[]")
    return len(events) >= count and all(e["status"] in FINISHED for e in events)


def test_the_bus_own_deal_added_is_not_read_back(order_stack: Stack) -> None:
    client = BusClient(order_stack.api_url, DEV_KEYS["storefront"])
    portal = Portal(order_stack.urls["bitrix24"])
    try:
        order = {
            "order_id": "PACE-1",
            "customer": "10000",
            "lines": [{"item": "1000", "quantity": 12}, {"item": "1002", "quantity": 6}],
        }
        client.call("order.submit", order)
        wait_until(lambda: events_done(order_stack, 2), order_stack, 60, "the deal's events")
        reads = [r for r in portal.served() if "crm.deal.get" in json.dumps(r["body"])]
    finally:
        client.close()
        portal.http.close()
    # ONCRMDEALADD: not read (the bus added the deal); ONCRMDEALUPDATE: read once.
    assert len(reads) == 1, order_stack.logs()
