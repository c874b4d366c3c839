"""An operator's bulk replay and cancel of failed orders, through the ``bus`` CLI (PostgreSQL +
Redis).

    python -m bench.operator_bulk [--messages 2000] [--bus-source DIR]

Journals ``--messages`` storefront orders (each its own ordering key, as ``order.submit`` makes
them) in a fresh PostgreSQL journal and fails them all with one NAV 400, then times, as an
operator types them, ``bus messages replay --status failed --reason … --yes`` and, after failing
them again, ``bus messages cancel --status failed --reason … --yes`` (wall time of the whole
command, start-up included). Each is checked: every message replayed (or cancelled), one
``operator_actions`` row and one storefront notice each, and a wake-up on the Redis queue for
each replayed order. ``--bus-source`` runs the CLI of another checkout of the bus (another
version, to compare) on the same journal; only the replay is timed then.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import create_engine, reading, writing
from bus.journal.accept import Command, accept_batch
from bus.journal.notices import NOTICE_METHOD
from bus.journal.tables import messages, operator_actions
from bus.migrate import upgrade
from tests.support.servers import REDIS_URL, fresh_postgres_database

ERROR = "navision answered 400: Customer 10000 is over its credit limit for order {}."


async def fill(engine: AsyncEngine, count: int) -> None:
    """``count`` failed ``order.submit`` messages of the storefront, 500 per transaction."""
    for start in range(0, count, 500):
        commands = [
            Command(
                method="order.submit",
                source="storefront",
                target="navision",
                operation="sales_order.create",
                payload={
                    "order_id": f"B-{n}",
                    "customer": "10000",
                    "lines": [{"item": "1000", "quantity": 2}],
                },
                idempotency_key=f"bench-{n}",
                ordering_key=f"order:B-{n}",
            )
            for n in range(start, min(count, start + 500))
        ]
        async with writing(engine) as conn:
            await accept_batch(conn, commands)
    await fail_all(engine)


async def fail_all(engine: AsyncEngine) -> None:
    """Every order fails for good, as its attempt's finish leaves it."""
    async with writing(engine) as conn:
        await conn.execute(
            text(
                "UPDATE messages SET status = 'failed', attempts = 1, attempts_total = 1,"
                " last_error = replace(:error, '{}', payload->>'order_id'),"
                " finished_at = now(), updated_at = now(), queued_at = NULL"
                " WHERE method = 'order.submit'"
            ),
            {"error": ERROR},
        )


async def tally(engine: AsyncEngine) -> dict[str, int]:
    """Messages by status, operator actions and storefront notices."""
    async with reading(engine) as conn:
        rows = await conn.execute(
            select(messages.c.status, func.count())
            .where(messages.c.method == "order.submit")
            .group_by(messages.c.status)
        )
        found = {status: count for status, count in rows}
        found["actions"] = int(
            await conn.scalar(select(func.count()).select_from(operator_actions)) or 0
        )
        found["notices"] = int(
            await conn.scalar(
                select(func.count()).select_from(messages).where(messages.c.method == NOTICE_METHOD)
            )
            or 0
        )
    return found


def run_cli(env: dict[str, str], source: Path | None, *args: str) -> float:
    """Run one ``bus`` command to completion; its wall time in seconds."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bus", *args],
        env=env,
        cwd=source,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bus {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    print(f"  $ bus {' '.join(args)}\n    " + "\n    ".join(done.stdout.splitlines()[-3:]))
    return elapsed


def queued(namespace: str) -> int:
    """Wake-ups waiting on the namespace's queues."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return sum(
            int(client.llen(key))
            for key in client.scan_iter(f"{namespace}:deliveries*")
            if client.type(key) == b"list"
        )
    finally:
        client.close()


def measure(url: str, count: int, source: Path | None) -> None:
    """Fill, replay, fail again, cancel; print the figures."""
    engine = create_engine(url, null_pool=True)  # one event loop per step
    namespace = f"bench-bulk-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "BUS_DATABASE_URL": url,
        "BUS_REDIS_URL": REDIS_URL,
        "BUS_REDIS_NAMESPACE": namespace,
        "BUS_DEVELOPMENT": "true",
        "COLUMNS": "80",
    }
    try:
        asyncio.run(fill(engine, count))
        print(f"{count:,} failed orders: {asyncio.run(tally(engine))}")
        # --limit: every match, whatever the default limit of the CLI run (--bus-source)
        reason = ("--reason", "credit limit raised", "--limit", str(count))
        seconds = run_cli(env, source, "messages", "replay", "--status", "failed", *reason, "--yes")
        print(f"replay by filter: {seconds:.1f} s; now {asyncio.run(tally(engine))},")
        print(f"  {queued(namespace):,} wake-ups on the Redis queues")
        if source is not None:
            return
        asyncio.run(fail_all(engine))
        seconds = run_cli(env, source, "messages", "cancel", "--status", "failed", *reason, "--yes")
        print(f"cancel by filter: {seconds:.1f} s; now {asyncio.run(tally(engine))}")
    finally:
        asyncio.run(engine.dispose())
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{namespace}*"):
            client.delete(key)
        client.close()


def main() -> None:
    """Fill a fresh journal and print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--bus-source", type=Path, help="the checkout whose CLI to run")
    args = parser.parse_args()
    with fresh_postgres_database() as url:
        upgrade(url)
        measure(url, args.messages, args.bus_source)


if __name__ == "__main__":
    main()
