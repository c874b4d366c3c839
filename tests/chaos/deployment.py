"""The drill's deployment: the bus on a throw-away PostgreSQL and Redis, with its simulators.

Real processes throughout: ``bus simulate`` for NAV, the storefront and mail, the Bitrix24
simulator with a faster bucket (:mod:`tests.chaos.portal`), one ``bus serve`` and two
``bus worker``, all kept running by a :class:`~tests.chaos.timeline.Supervisor`. Timings are short
so that each fault is recovered within seconds: the sweeper runs every second, a lost wake-up is
re-sent after 5 s, a lease lasts 10 s, a breaker cools down for 1 s (at most 4 s), and retries wait
0.2-2 s with enough attempts that no transient fault of the drill can exhaust them.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bus.sandbox import BITRIX24_WEBHOOK
from bus.settings import TARGETS
from tests.chaos.load import CUSTOMERS
from tests.chaos.timeline import Supervisor
from tests.support.pgcluster import PgCluster, PgClusterUnavailable
from tests.support.processes import Process, Stack, wait_for_http
from tests.support.redisserver import RedisServer, RedisUnavailable
from tests.support.servers import unavailable

SIMULATORS = ("navision", "bitrix24", "storefront", "mail")
#: The repository, for ``python -m tests.chaos.portal``.
ROOT = Path(__file__).resolve().parents[2]
#: NAV's OData service of the simulator, and its credentials.
NAV_ODATA = "/DynamicsNAV110/ODataV4/Company('CRONUS')"
NAV_AUTH = ("bus", "bus-secret")


def settings_env(database_url: str, redis_url: str) -> dict[str, str]:
    """The ``BUS_*`` settings of the drill's bus."""
    env = {
        "BUS_DATABASE_URL": database_url,
        "BUS_REDIS_URL": redis_url,
        "BUS_REDIS_NAMESPACE": f"bus-chaos-{uuid.uuid4().hex[:8]}",
        "BUS_QUEUE__SWEEP_INTERVAL": "1",
        "BUS_QUEUE__REQUEUE_AFTER": "5",
        "BUS_QUEUE__LEASE": "10",
        # Bitrix24's pace, one for every worker process together (through Redis, or each
        # process's own while Redis is down); the drill's portal drains 40 requests/s.
        "BUS_BITRIX24__REQUESTS_PER_SECOND": "30",
        "BUS_BITRIX24__BURST": "15",
        "BUS_NAVISION__BREAKER__FAILURE_THRESHOLD": "3",
    }
    for target in TARGETS:
        prefix = f"BUS_{target.upper()}__"
        env.update(
            {
                prefix + "RETRY__BACKOFF_MIN": "0.2",
                prefix + "RETRY__BACKOFF_MAX": "2",
                prefix + "RETRY__MAX_ATTEMPTS": "60",
                prefix + "RETRY__ATTEMPT_TIMEOUT": "3",
                prefix + "BREAKER__COOLDOWN": "1",
                prefix + "BREAKER__MAX_COOLDOWN": "4",
            }
        )
    return env


@dataclass
class Deployment:
    """What the drill runs against."""

    stack: Stack
    postgres: PgCluster
    redis: RedisServer
    supervisor: Supervisor

    @property
    def nav(self) -> str:
        """The NAV simulator's base URL."""
        return self.stack.urls["navision"]

    @property
    def bitrix24(self) -> str:
        """The Bitrix24 simulator's base URL."""
        return self.stack.urls["bitrix24"]

    @property
    def webhook(self) -> str:
        """The Bitrix24 simulator's incoming webhook (REST methods go under it)."""
        return f"{self.bitrix24}/{BITRIX24_WEBHOOK}"


@contextmanager
def servers() -> Iterator[tuple[PgCluster, RedisServer]]:
    """A throw-away PostgreSQL cluster and Redis; skipped locally (failed under CI) if absent."""
    what = "a throw-away PostgreSQL and Redis (initdb, pg_ctl, redis-server)"
    postgres: PgCluster | None = None
    redis: RedisServer | None = None
    try:
        try:
            # Acknowledged commits must survive a restart, as in production.
            postgres = PgCluster({"synchronous_commit": "on", "max_connections": "200"})
            redis = RedisServer()
            postgres.initdb().start()
            redis.start()
        except (PgClusterUnavailable, RedisUnavailable) as missing:
            unavailable(what, missing)
        assert postgres is not None and redis is not None
        yield postgres, redis
    finally:
        if redis is not None:
            redis.stop()
        if postgres is not None:
            postgres.cleanup()


@contextmanager
def deployment(log_dir: Path, clock: Clock) -> Iterator[Deployment]:
    """The whole deployment, started and seeded; every process stopped afterwards."""
    with servers() as (postgres, redis):
        env = settings_env(postgres.bus_url, redis.url)
        stack = Stack(env, log_dir, erp="navision", crm="bitrix24", simulators=SIMULATORS)
        supervisor = Supervisor(stack, clock)
        try:
            # Everything starts at once: on a busy machine each Python process takes seconds.
            started = [_spawn_simulator(stack, name) for name in SIMULATORS]
            api = supervisor.add("api", ["serve"], first=["serve", "--migrate"])
            workers = [supervisor.add(f"worker-{n}", ["worker"]) for n in (1, 2)]
            for name, process in zip(SIMULATORS, started, strict=True):
                wait_for_http(f"{stack.urls[name]}/_control/health", process, timeout=90)
            wait_for_http(f"{stack.api_url}/health", api, timeout=90)
            for worker in workers:
                assert worker.popen.poll() is None, worker.output()
            drill = Deployment(stack, postgres, redis, supervisor)
            seed_customers(drill)
            supervisor.start()
            yield drill
        finally:
            supervisor.stop()
            stack.stop()


def _spawn_simulator(stack: Stack, name: str) -> Process:
    """Start one simulator; Bitrix24 as the drill's bigger portal (:mod:`tests.chaos.portal`)."""
    port = str(stack.ports[name])
    if name != "bitrix24":
        args = ["simulate", name, "--port", port]
        if name == "mail":
            args += ["--smtp-port", stack.env["BUS_MAIL__PORT"]]
        return stack.spawn(name, args)
    env = {**stack.env, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), _pythonpath()]))}
    process = Process(
        name, ["--port", port, "--drain", "40"], env, stack.log_dir, "tests.chaos.portal"
    )
    stack.processes.append(process)
    return process


def _pythonpath() -> str:
    return os.environ.get("PYTHONPATH", "")


def seed_customers(drill: Deployment) -> None:
    """The drill's customers in NAV (master data) and in Bitrix24 (companies by ERP key)."""
    with httpx.Client(timeout=10) as http:
        for number, customer in enumerate(CUSTOMERS, start=1):
            created = http.post(
                f"{drill.nav}{NAV_ODATA}/Customer",
                auth=NAV_AUTH,
                json={
                    "No": customer,
                    "Name": f"Chaos Customer {customer}",
                    "Address": f"{number} Drill Street",
                    "City": "Testville",
                    "Post_Code": "10101",
                    "E_Mail": f"orders-{customer.lower()}@chaos.example",
                    "Credit_Limit_LCY": 1000,
                },
            )
            assert created.status_code == 201, created.text
            company = http.post(
                f"{drill.webhook}/crm.company.add",
                json={
                    "fields": {
                        "TITLE": f"Chaos Customer {customer}",
                        "ORIGINATOR_ID": "erp",
                        "ORIGIN_ID": customer,
                    }
                },
            )
            assert company.status_code == 200 and "result" in company.json(), company.text


class Clock:
    """Seconds since the drill began."""

    def __init__(self) -> None:
        self.began = time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() - self.began
