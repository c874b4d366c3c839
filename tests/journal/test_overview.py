"""The overview: counts by target and status, the oldest waiting messages, breakers, throughput,
paused targets and the Redis queues' depth, read from a real journal and a real Redis."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
from sqlalchemy import delete, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import reading, writing
from bus.journal import circuits, pauses
from bus.journal.accept import Accepted, accept_batch
from bus.journal.delivery import AttemptRecord, Finish, finish
from bus.journal.ids import utcnow
from bus.journal.overview import overview, queue_depths, throughput
from bus.journal.tables import Status, messages, target_pauses
from bus.journal.wakes import Wake
from bus.queues.broker import build_broker, enqueue, queue_name
from bus.settings import BreakerSettings, Settings
from tests.journal.test_accept import command
from tests.journal.test_delivery import accepted_ids, claim_one
from tests.support.servers import REDIS_URL, fresh_redis_namespace


@pytest.fixture
async def no_pauses(journal: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The journal without pauses, before and after the test (the shared fixture keeps them)."""
    await _end_pauses(journal)
    yield journal
    await _end_pauses(journal)


async def _end_pauses(journal: AsyncEngine) -> None:
    async with writing(journal) as conn:
        await conn.execute(delete(target_pauses))


async def _finish(journal: AsyncEngine, message_id: str, outcome: Finish) -> None:
    """Claim the message and finish its attempt with ``outcome``, the attempt's error its own."""
    claimed = await claim_one(journal, message_id)
    assert claimed is not None
    kind = "delivered" if outcome.error is None else "transient"
    record = AttemptRecord(utcnow(), 5.0, kind, error=outcome.error)
    await finish(journal, claimed, record, outcome)


async def test_the_overview_counts_ages_breakers_throughput_and_pauses(
    no_pauses: AsyncEngine,
) -> None:
    journal = no_pauses
    oldest, delivered, failed, held = [
        (await accepted_ids(journal, f"k-{n}", order=f"A-{n}"))[0] for n in range(4)
    ]
    async with writing(journal) as conn:
        crm = dataclasses.replace(command("k-crm", order="C-1"), target="bitrix24")
        [accepted] = await accept_batch(conn, [crm])
        assert isinstance(accepted, Accepted)
    await _finish(journal, delivered, Finish(Status.DELIVERED, result={"reference": "1"}))
    await _finish(journal, failed, Finish(Status.FAILED, error="navision answered 503: down"))
    async with writing(journal) as conn:
        breaker = BreakerSettings(failure_threshold=1, cooldown=60, max_cooldown=60)
        await circuits.record_failure(conn, "navision", breaker, probing=False)
        await conn.execute(
            update(messages).where(messages.c.id == held).values(status=Status.HELD.value)
        )
        await pauses.pause(conn, "bitrix24", actor="ann", reason="CRM upgrade")

    async with reading(journal) as conn:
        found = await overview(conn, minutes=5)
    assert found.count(target="navision") == 4
    assert found.count(target="navision", status="accepted") == 1
    assert found.count(status="accepted") == 2
    assert found.count(target="bitrix24", status="accepted") == 1
    assert found.count(status="failed") == found.count(status="held") == 1
    assert found.targets == ["bitrix24", "navision"]
    assert found.statuses == ["accepted", "delivered", "failed", "held"]
    oldest_of = {o.status: o for o in found.oldest}
    assert set(oldest_of) == {"accepted", "failed", "held"}  # not final, and present
    assert oldest_of["accepted"].message_id == oldest
    assert oldest_of["accepted"].age_seconds >= 0
    [nav] = found.breakers
    assert (nav.target, nav.state, nav.failures, nav.held) == ("navision", "open", 1, 1)
    assert nav.probe_at is not None and nav.probe_at > found.at
    assert nav.last_error == "navision answered 503: down"
    assert len(found.throughput) == 5
    assert sum(m.delivered for m in found.throughput) == 1
    assert sum(m.failed for m in found.throughput) == 1
    assert found.throughput[-1].start <= found.at
    assert [(p.target, p.paused_by, p.reason) for p in found.paused] == [
        ("bitrix24", "ann", "CRM upgrade")
    ]
    assert found.queues is None
    assert found.as_dict()["counts"][0] == {"target": "bitrix24", "status": "accepted", "count": 1}


async def test_throughput_reads_only_the_last_minutes_on_an_index(journal: AsyncEngine) -> None:
    async with reading(journal) as conn:
        assert all(m.delivered == m.failed == 0 for m in await throughput(conn, utcnow(), 3))
        if conn.dialect.name != "postgresql":
            return
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        since = utcnow().isoformat()
        plan = "\n".join(
            (
                await conn.execute(
                    text(
                        "EXPLAIN SELECT date_trunc('minute', finished_at), status, count(*)"
                        f" FROM messages WHERE updated_at >= '{since}'"
                        f" AND finished_at >= '{since}' GROUP BY 1, 2"
                    )
                )
            ).scalars()
        )
    assert "ix_messages_updated_at" in plan, plan


@pytest.fixture
def redis_namespace() -> Iterator[str]:
    """A Redis namespace of its own, emptied afterwards."""
    with fresh_redis_namespace() as namespace:
        yield namespace


async def test_queue_depths_are_read_from_dramatiqs_keys(redis_namespace: str) -> None:
    settings = Settings(redis_url=REDIS_URL, redis_namespace=redis_namespace)
    broker = build_broker(settings)
    enqueue(broker, [Wake(f"m-{n}", "navision", "sales_order.create") for n in range(3)])
    enqueue(broker, [Wake("m-later", "navision", "sales_order.create")], delay_ms=60_000)
    nav, crm = queue_name("navision"), queue_name("bitrix24")
    depths = await queue_depths(REDIS_URL, redis_namespace, [nav, crm])
    assert [(d.queue, d.ready, d.delayed, d.in_progress, d.dead) for d in depths] == [
        (nav, 3, 1, 0, 0),
        (crm, 0, 0, 0, 0),
    ]
    client = redis.Redis.from_url(REDIS_URL)
    try:  # a worker takes one: it is in progress until acknowledged
        taken = client.lpop(f"{redis_namespace}:{nav}")
        assert taken is not None
    finally:
        client.close()
    [nav_now] = await queue_depths(REDIS_URL, redis_namespace, [nav])
    assert (nav_now.ready, nav_now.in_progress) == (2, 1)
