"""Operators' listings, ``message.get`` and a retention pass on a large journal (PostgreSQL).

    python -m bench.journal_listings [--messages 1000000] [--repeat 5] [--database-url URL]

Fills a fresh, migrated PostgreSQL journal with ``--messages`` messages in one server-side
multi-row INSERT (routes of realistic shape: orders with their CRM step, requests with the ERP's
decision, CRM events; 98% delivered over a year, some failed, waiting and recent), ~1.1 attempts
per message with bodies, then prints the median time of each listing the CLI offers (newest 50,
as ``bus messages list`` asks) and of ``message.get``'s read, after ``ANALYZE``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import create_engine, reading
from bus.journal.deadlines import Deadlines
from bus.journal.groups import failure_groups
from bus.journal.ids import utcnow
from bus.journal.overview import overview
from bus.journal.queries import MessageFilter, get_message, list_messages
from bus.migrate import upgrade
from bus.settings import Settings
from tests.support.servers import fresh_postgres_database

#: One route per ten rows, by ``i % 10``: (method, target, the row it hangs under or 0).
_SHAPE = """
CASE i % 10
  WHEN 0 THEN 'address.request' WHEN 1 THEN 'request.decided'
  WHEN 2 THEN 'order.submit' WHEN 3 THEN 'order.submit'
  WHEN 4 THEN 'order.submit' WHEN 5 THEN 'order.submit'
  WHEN 6 THEN 'account.create' WHEN 7 THEN 'order.status_changed'
  WHEN 8 THEN 'order.status_changed' ELSE 'order.merge' END
"""
_TARGET = """
CASE i % 10
  WHEN 1 THEN 'storefront' WHEN 3 THEN 'bitrix24' WHEN 5 THEN 'bitrix24'
  WHEN 7 THEN 'bitrix24' WHEN 8 THEN 'storefront' ELSE 'navision' END
"""
_STATUS = """
CASE WHEN i % 997 = 0 THEN 'failed' WHEN i % 1999 = 0 THEN 'retry_wait'
     WHEN i > :n - 200 THEN 'accepted' ELSE 'delivered' END
"""

_FILL_MESSAGES = f"""
INSERT INTO messages (id, method, source, target, operation, payload, payload_hash,
  idempotency_key, ordering_key, ordering_seq, status, attempts, attempts_total, last_error,
  result, parent_id, accepted_at, cycle_started_at, updated_at, finished_at)
SELECT 'B' || lpad(i::text, 25, '0'), {_SHAPE}, 'storefront', {_TARGET}, 'sales_order.create',
  jsonb_build_object('order_id', 'A-' || (i / 10),
    'customer', '1' || lpad((i % 5000)::text, 4, '0'),
    'lines', jsonb_build_array(jsonb_build_object('item', '1000', 'quantity', i % 7 + 1),
                               jsonb_build_object('item', '1100', 'quantity', 2))),
  md5(i::text) || md5(i::text), 'k-' || i, 'order:A-' || (i / 10), i % 10,
  {_STATUS}, 1, 1,
  CASE WHEN i % 997 = 0 THEN 'HTTP 422: the customer is blocked' END,
  jsonb_build_object('reference', '10' || i),
  CASE WHEN i % 10 IN (1, 3, 5) THEN 'B' || lpad((i - 1)::text, 25, '0') END,
  ts, ts, ts + interval '2 seconds', ts + interval '2 seconds'
FROM (SELECT i, now() - (:n - i) * interval '30 seconds' AS ts
      FROM generate_series(0, :n - 1) AS i) AS rows
"""

_FILL_ATTEMPTS = """
INSERT INTO attempts (message_id, number, started_at, duration_ms, outcome, http_status,
  request, response)
SELECT id, n, accepted_at, 40.0, CASE WHEN n = 1 AND attempts_total > 1 THEN 'transient'
  ELSE 'delivered' END, 201,
  jsonb_build_array(jsonb_build_object('method', 'POST', 'url',
    'http://nav:7048/DynamicsNAV110/ODataV4/Company(''CRONUS'')/SalesOrder',
    'headers', jsonb_build_object('content-type', 'application/json'), 'body', payload)),
  jsonb_build_array(jsonb_build_object('status', 201, 'body', jsonb_build_object('No', id,
    'Sell_to_Customer_No', payload->>'customer', 'Status', 'Open')))
FROM messages, generate_series(1, CASE WHEN right(id, 1) = '0' THEN 2 ELSE 1 END) AS n
"""


async def _fill(engine: AsyncEngine, count: int) -> float:
    started = time.perf_counter()
    async with engine.begin() as conn:
        await conn.execute(text(_FILL_MESSAGES), {"n": count})
        await conn.execute(text(_FILL_ATTEMPTS))
        await conn.execute(
            text(
                "INSERT INTO ordering_keys (key, last_seq, open_count)"
                " SELECT ordering_key, max(ordering_seq), count(*) FILTER (WHERE status NOT IN"
                " ('delivered', 'cancelled')) FROM messages GROUP BY ordering_key"
            )
        )
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE messages"))
        await conn.execute(text("VACUUM ANALYZE attempts"))
    return time.perf_counter() - started


async def _median_ms(work: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, Any]:
    result = await work()  # warm the cache as an operator's second look would
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = await work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


async def _measure(engine: AsyncEngine, count: int, repeat: int) -> list[tuple[str, float, int]]:
    deadlines = Deadlines.of(Settings())
    middle = f"B{count // 2:025d}"
    filters = {
        "newest 50, no filter": MessageFilter(),
        "--status failed": MessageFilter(statuses=("failed",)),
        "--status retry_wait --target navision": MessageFilter(
            statuses=("retry_wait",), target="navision"
        ),
        "--method order.merge": MessageFilter(method="order.merge"),
        "--method (no match)": MessageFilter(method="invoice.request"),
        "--target mail (no match)": MessageFilter(target="mail"),
        "--key order:A-<middle>": MessageFilter(ordering_key=f"order:A-{count // 20}"),
        "--since/--until one hour, a month ago": MessageFilter(
            since=utcnow() - dt.timedelta(days=30, hours=1),
            until=utcnow() - dt.timedelta(days=30),
        ),
        "--error (no match)": MessageFilter(error_contains="no such error"),
        "--stuck": MessageFilter(condition=deadlines.stuck(utcnow())),
    }
    figures = []
    for name, where in filters.items():

        async def listing(where: MessageFilter = where) -> list[dict[str, Any]]:
            async with reading(engine) as conn:
                return await list_messages(conn, where, limit=50)

        ms, found = await _median_ms(listing, repeat)
        figures.append((name, ms, len(found)))
    for bodies in (True, False):

        async def one(bodies: bool = bodies) -> Any:
            async with reading(engine) as conn:
                return await get_message(conn, middle, bodies=bodies)

        ms, _ = await _median_ms(one, repeat)
        figures.append((f"message.get's read (bodies={bodies})", ms, 1))
    return figures + await _measure_operators_views(engine, repeat)


async def _measure_operators_views(
    engine: AsyncEngine, repeat: int
) -> list[tuple[str, float, int]]:
    """``bus status``'s overview (rows: its counts) and ``bus messages groups`` (rows: groups)."""

    async def status() -> Any:
        async with reading(engine) as conn:
            return await overview(conn)

    async def groups() -> Any:
        async with reading(engine) as conn:
            return await failure_groups(conn)

    status_ms, found = await _median_ms(status, repeat)
    groups_ms, grouped = await _median_ms(groups, repeat)
    return [
        ("bus status (overview)", status_ms, len(found.counts)),
        ("bus messages groups", groups_ms, len(grouped)),
    ]


async def _run(url: str, count: int, repeat: int) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            present = await conn.scalar(text("SELECT count(*) FROM messages"))
        filled = await _fill(engine, count) if not present else 0.0
        count = count if not present else present
        async with engine.connect() as conn:
            size = await conn.scalar(
                text(
                    "SELECT pg_size_pretty(pg_total_relation_size('messages')"
                    " + pg_total_relation_size('attempts'))"
                )
            )
            attempts = await conn.scalar(text("SELECT count(*) FROM attempts"))
        print(f"filled {count:,} messages and {attempts:,} attempts in {filled:.0f} s ({size})")
        print(f"{'listing (newest 50)':<45} {'median ms':>10} {'rows':>6}")
        for name, ms, rows in await _measure(engine, count, repeat):
            print(f"{name:<45} {ms:>10.1f} {rows:>6}")
    finally:
        await engine.dispose()


def main() -> None:
    """Fill a fresh journal and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL journal to use and keep (filled only when empty); default: a fresh one",
    )
    args = parser.parse_args()
    if args.database_url:
        upgrade(args.database_url)
        asyncio.run(_run(args.database_url, args.messages, args.repeat))
        return
    with fresh_postgres_database() as url:
        upgrade(url)
        asyncio.run(_run(url, args.messages, args.repeat))


if __name__ == "__main__":
    main()
