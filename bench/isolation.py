"""Isolation of targets: a paced Bitrix24 backlog and the messages of every other target.

    python -m bench.isolation [--orders 100] [--workers 1] [--bitrix24-threads N]

On PostgreSQL + Redis with real ``bus worker`` processes, NAV, Bitrix24 (paced by the bus at
2 requests/s), the storefront and the mail simulators. Orders go to NAV, then to Bitrix24.

- NAV order latency behind a Bitrix24 backlog: ``--orders`` orders are submitted at once; when NAV
  has created all of them, their Bitrix24 steps are the backlog. One more order is submitted: the
  time from its acceptance to its NAV step's delivery (the journal's ``accepted_at`` and
  ``finished_at``). Idle: the same, with nothing queued.
- provisioning during a Bitrix24 burst vs idle: ``account.create`` as Bitrix24's robot calls it,
  from its acceptance until its last step has finished (every step, Bitrix24's own two included:
  the account read from the call and the outcome comment on the company's timeline), and until
  the storefront user is made and the set-password mail sent (the steps the customer waits for).

Run by hand (not part of the test suite); prints both figures next to their idle baselines.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import redis
from sqlalchemy import text

from bus.db import create_engine
from bus.settings import DEV_KEYS
from tests.support.processes import Stack
from tests.support.servers import REDIS_URL, fresh_postgres_database

#: Orders go to the ERP, then to the CRM (Bitrix24, paced): the backlog forms at the CRM step.
ROUTES = '[{"name": "crm", "steps": ["erp:sales_order.create", "crm:order.create"]}]'
#: The provisioning steps a customer waits for: the storefront user and the set-password mail.
CUSTOMER_FACING = ("user.create", "mail.set_password_link")
TIMEOUT = 900.0
#: The statuses of a step that is done.
DONE = ("delivered", "skipped")


class Journal:
    """Reads the stack's journal directly: the timings the bench reports are the journal's."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url

    def steps(self, message_id: str) -> list[dict[str, Any]]:
        """The message and its later steps: operation, status, accepted_at, finished_at."""
        return asyncio.run(self._steps(message_id))

    async def _steps(self, message_id: str) -> list[dict[str, Any]]:
        engine = create_engine(self._url, null_pool=True)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    text(
                        "SELECT operation, status, accepted_at, finished_at FROM messages"
                        " WHERE id = :id OR parent_id = :id"
                    ),
                    {"id": message_id},
                )
                return [dict(row) for row in rows.mappings()]
        finally:
            await engine.dispose()

    def wait_finished(self, message_id: str, count: int) -> list[dict[str, Any]]:
        """Wait until ``message_id`` and its later steps (``count`` in all) are done (delivered,
        or skipped as not applying)."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            steps = self.steps(message_id)
            if len(steps) == count and all(s["status"] in DONE for s in steps):
                return steps
            if any(s["status"] == "failed" for s in steps):
                raise RuntimeError(f"a step of {message_id} failed: {steps}")
            time.sleep(0.1)
        raise RuntimeError(f"{message_id} not delivered within {TIMEOUT:g}s: {steps}")


def seconds(start: dt.datetime, end: dt.datetime) -> float:
    return (end - start).total_seconds()


def call(stack: Stack, caller: str, method: str, params: Any) -> Any:
    headers = {"Authorization": f"Bearer {DEV_KEYS[caller]}"}
    body = (
        [{"jsonrpc": "2.0", "id": n, "method": method, "params": p} for n, p in enumerate(params)]
        if isinstance(params, list)
        else {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    )
    reply = httpx.post(f"{stack.api_url}/rpc", json=body, headers=headers, timeout=60).json()
    for answer in reply if isinstance(reply, list) else [reply]:
        if "result" not in answer:
            raise RuntimeError(f"{method} failed: {answer}")
    return [a["result"] for a in reply] if isinstance(reply, list) else reply["result"]


def order(tag: str) -> dict[str, Any]:
    return {
        "order_id": tag,
        "customer": "10000",
        "idempotency_key": tag,
        "lines": [{"item": "1000", "quantity": 2}, {"item": "1100", "quantity": 1}],
    }


def account(erp_key: str) -> dict[str, Any]:
    contact = {"name": "Olga Smirnova", "email": f"olga@{erp_key}.example", "primary": True}
    manager = {"name": "Irina Volkova", "email": "irina.volkova@b2b.example"}
    return {
        "erp_key": erp_key,
        "contacts": [contact],
        "settings": {"greeting": "Добрый день!", "menu": ["catalog"], "manager": manager},
        "idempotency_key": f"bench-{uuid.uuid4().hex[:8]}",
    }


def nav_latency(stack: Stack, journal: Journal) -> float:
    """Acceptance → NAV's delivery of one new order's ERP step, in seconds."""
    message_id = call(stack, "storefront", "order.submit", order(f"I-{uuid.uuid4().hex[:8]}"))[
        "message_id"
    ]
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        [first] = [s for s in journal.steps(message_id) if s["operation"] == "sales_order.create"]
        if first["status"] == "delivered":
            return seconds(first["accepted_at"], first["finished_at"])
        time.sleep(0.05)
    raise RuntimeError(f"the NAV step of {message_id} not delivered within {TIMEOUT:g}s")


def provisioning(stack: Stack, journal: Journal, erp_key: str) -> tuple[float, float]:
    """``account.create`` for ``erp_key``: seconds until every step, and until the steps the
    customer waits for, finished."""
    message_id = call(stack, "crm", "account.create", account(erp_key))["message_id"]
    steps = journal.wait_finished(message_id, 8)
    accepted = min(s["accepted_at"] for s in steps)
    facing = max(s["finished_at"] for s in steps if s["operation"] in CUSTOMER_FACING)
    return seconds(accepted, max(s["finished_at"] for s in steps)), seconds(accepted, facing)


def nav_has(stack: Stack, count: int) -> Callable[[], bool]:
    sim = f"{stack.urls['navision']}/_control/received"

    def check() -> bool:
        posts = [
            r
            for r in httpx.get(sim, timeout=30).json()["requests"]
            if r["method"] == "POST" and r["status"] == 201 and "SalesOrder" in r["path"]
        ]
        return len(posts) >= count

    return check


def crm_backlog(journal_url: str, tag: str) -> int:
    """How many of the burst's Bitrix24 steps are not delivered yet."""

    async def count() -> int:
        engine = create_engine(journal_url, null_pool=True)
        try:
            async with engine.connect() as conn:
                found = await conn.scalar(
                    text(
                        "SELECT count(*) FROM messages WHERE target = 'bitrix24'"
                        " AND status != 'delivered' AND idempotency_key LIKE :tag"
                    ),
                    {"tag": f"%{tag}%"},
                )
                return int(found or 0)
        finally:
            await engine.dispose()

    return asyncio.run(count())


def wait(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.2)


def run(args: argparse.Namespace) -> dict[str, float]:
    figures: dict[str, float] = {}
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    with fresh_postgres_database() as database_url, tempfile.TemporaryDirectory() as logs:
        env = {
            "BUS_DATABASE_URL": database_url,
            "BUS_REDIS_URL": REDIS_URL,
            "BUS_REDIS_NAMESPACE": namespace,
            "BUS_ORDER_ROUTES": ROUTES,
            "BUS_LIMITS__CLIENT_RATE": "1000000",
            "BUS_LIMITS__CLIENT_BURST": "1000000",
        }
        if args.bitrix24_threads:
            env["BUS_QUEUE__TARGET_THREADS"] = f'{{"bitrix24": {args.bitrix24_threads}}}'
        simulators = ("navision", "bitrix24", "storefront", "mail")
        stack = Stack(env, Path(logs), simulators=simulators)
        journal = Journal(database_url)
        try:
            stack.start()
            for index in range(args.workers):
                stack.start_worker(f"worker-{index}")
            time.sleep(3)  # the workers start
            nav_latency(stack, journal)  # warm-up: connections, the customer's company in the CRM
            figures["nav_idle_s"] = min(nav_latency(stack, journal) for _ in range(3))
            every, facing = provisioning(stack, journal, "20000")
            figures["provisioning_idle_s"], figures["provisioning_idle_facing_s"] = every, facing

            tag = f"B-{uuid.uuid4().hex[:6]}"
            burst = [order(f"{tag}-{n}") for n in range(args.orders)]
            for start in range(0, len(burst), 100):
                call(stack, "storefront", "order.submit", burst[start : start + 100])
            wait(nav_has(stack, args.orders + 4), "NAV to create the burst's orders")
            figures["backlog"] = crm_backlog(database_url, tag)
            # Both at once, behind the same backlog.
            with ThreadPoolExecutor(2) as pool:
                nav = pool.submit(nav_latency, stack, journal)
                provisioned = pool.submit(provisioning, stack, journal, "30000")
                figures["nav_behind_backlog_s"] = nav.result()
                every, facing = provisioned.result()
            figures["provisioning_burst_s"], figures["provisioning_burst_facing_s"] = every, facing
        except Exception:
            print(stack.logs()[-8000:])
            raise
        finally:
            stack.stop()
            client = redis.Redis.from_url(REDIS_URL)
            for key in client.scan_iter(f"{namespace}*"):
                client.delete(key)
            client.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=100, help="orders in the Bitrix24 burst")
    parser.add_argument("--workers", type=int, default=1, help="bus worker processes")
    parser.add_argument(
        "--bitrix24-threads", type=int, default=0, help="[queue] target_threads of Bitrix24"
    )
    figures = run(parser.parse_args())
    print(
        f"\nNAV order latency behind a Bitrix24 backlog: {figures['nav_behind_backlog_s']:.2f} s"
        f" (idle {figures['nav_idle_s']:.2f} s; {figures['backlog']:.0f} Bitrix24 steps queued"
        " when it was accepted)"
    )
    burst, idle = figures["provisioning_burst_s"], figures["provisioning_idle_s"]
    facing, facing_idle = (
        figures["provisioning_burst_facing_s"],
        figures["provisioning_idle_facing_s"],
    )
    print(
        f"provisioning during a Bitrix24 burst vs idle: every step {burst:.2f} s vs {idle:.2f} s"
        f" ({burst / idle:.1f}x); user and mail {facing:.2f} s vs {facing_idle:.2f} s"
        f" ({facing / facing_idle:.1f}x), beginning with the NAV order"
    )


if __name__ == "__main__":
    main()
