"""Wake-ups go to their target's queue, from every place that enqueues them.

The broker declares a queue per target of the deployment; accept (the group commit), a finish's
promotion and follow-ups, a retry with delay, the sweeper's re-enqueues and the operators' actions
each send a message's wake-up to its own target's queue, on the embedded queue (dramatiq's stub
broker) and on a real Redis, where ``enqueue_many``'s pipelined writes are read back by a real
dramatiq worker.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Iterator

import dramatiq
import httpx
import pytest
import redis
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from bus import operations
from bus.adapters.directory import DirectoryAdapter
from bus.adapters.navision import NavisionAdapter
from bus.db import writing
from bus.journal.accept import Accepted, Command, accept_batch
from bus.journal.customers import CustomerDirectory
from bus.journal.delivery import Finish
from bus.journal.group_commit import GroupCommitter
from bus.journal.ids import utcnow
from bus.journal.tables import Status, messages
from bus.journal.wakes import Wake
from bus.queues.broker import (
    DELIVER_ACTOR,
    DELIVERY_QUEUE,
    PipelinedRedisBroker,
    build_broker,
    delivery_targets,
    enqueue,
    queue_name,
    urgent_queue_name,
)
from bus.queues.deliver import Deliverer
from bus.queues.enqueue import Enqueuer
from bus.queues.sweeper import sweep_once
from bus.sandbox import free_port
from bus.settings import Settings
from tests.journal.test_accept import command
from tests.journal.test_delivery import claim_one, finish_one
from tests.support.servers import REDIS_URL, fresh_redis_namespace

SETTINGS = Settings()
#: An order line as order routing journals it (no unit: the ERP's default).
LINE = {"item": "1000", "quantity": 2, "unit": None}


def queued(broker: dramatiq.Broker, queue: str) -> list[str]:
    """The message ids waiting on ``queue`` of an embedded (stub) broker, oldest first."""
    assert isinstance(broker, StubBroker)
    pending = broker.queues[queue]
    return [dramatiq.Message.decode(data).args[0] for data in list(pending.queue)]


def every_queue(broker: dramatiq.Broker) -> dict[str, list[str]]:
    """The non-empty queues of a stub broker and what waits on each."""
    assert isinstance(broker, StubBroker)
    found = {name: queued(broker, name) for name in broker.queues}
    return {name: ids for name, ids in found.items() if ids}


def crm_step(key: str, order: str) -> Command:
    """An order whose second step goes to Bitrix24."""
    return dataclasses.replace(
        command(key, order=order), then=(("bitrix24", "order.create"),), ordering_key=None
    )


def test_the_broker_has_a_queue_per_target_of_the_deployment() -> None:
    for erp, crm in [("navision", "bitrix24"), ("onec", "creatio")]:
        settings = Settings(erp=erp, crm=crm)
        declared = {q for q in build_broker(settings).get_declared_queues() if "DQ" not in q}
        targets = {erp, crm, "storefront", "mail", "directory", "journal"}
        assert set(delivery_targets(settings)) == targets
        # Bitrix24's comments that the manager reads have a queue of their own
        urgent = {urgent_queue_name("bitrix24")} if crm == "bitrix24" else set()
        assert declared == {DELIVERY_QUEUE, *(queue_name(t) for t in targets), *urgent}


def test_each_wake_up_goes_to_its_targets_queue_and_others_to_the_shared_one() -> None:
    broker = build_broker(SETTINGS)  # NAV and Bitrix24: no queue of 1C's
    enqueue(
        broker,
        [
            Wake("m-nav", "navision", "sales_order.create"),
            Wake("m-b24", "bitrix24", "order.create"),
            Wake("m-shop", "storefront", "user.create"),
            Wake("m-nav-2", "navision", "sales_order.create"),
            Wake("m-1c", "onec", "sales_order.create"),  # a system the deployment no longer has
        ],
    )
    assert every_queue(broker) == {
        "deliveries.navision": ["m-nav", "m-nav-2"],
        "deliveries.bitrix24": ["m-b24"],
        "deliveries.storefront": ["m-shop"],
        "deliveries": ["m-1c"],
    }


def test_steps_without_a_request_or_that_a_person_waits_on_skip_the_targets_backlog() -> None:
    """Bitrix24's ``account.read`` (the robot's call carries the account) goes to the journal's
    queue, and ``account.report`` (the comment the manager reads) to Bitrix24's urgent one: a
    customer's provisioning never waits behind Bitrix24's paced backlog of deals. A failure
    report does: a storm of them is a backlog of its own."""
    broker = build_broker(SETTINGS)
    enqueue(
        broker,
        [
            Wake("m-deal", "bitrix24", "order.create"),
            Wake("m-read", "bitrix24", "account.read"),
            Wake("m-report", "bitrix24", "account.report"),
            Wake("m-failure", "bitrix24", "failure.report"),
        ],
    )
    assert every_queue(broker) == {
        "deliveries.bitrix24": ["m-deal", "m-failure"],
        "deliveries.bitrix24.urgent": ["m-report"],
        "deliveries.journal": ["m-read"],
    }


def test_a_delayed_wake_up_waits_on_its_targets_delay_queue() -> None:
    broker = build_broker(SETTINGS)
    enqueue(broker, [Wake("m-b24", "bitrix24", "order.create")], delay_ms=60_000)
    assert every_queue(broker) == {"deliveries.bitrix24.DQ": ["m-b24"]}


async def test_accepted_messages_are_woken_on_their_targets_queues(journal: AsyncEngine) -> None:
    broker = build_broker(SETTINGS)
    enqueuer = Enqueuer(broker, journal)
    committer = GroupCommitter(journal, enqueuer.submit, max_batch=10, writers=1)
    committer.start()
    to_nav = await committer.accept(command("k-1", order="A-1"))
    to_shop = await committer.accept(
        dataclasses.replace(command("k-2", order="A-2"), target="storefront", operation="x")
    )
    await committer.stop()
    await enqueuer.drain()
    assert isinstance(to_nav, Accepted) and isinstance(to_shop, Accepted)
    assert every_queue(broker) == {
        "deliveries.navision": [to_nav.message_id],
        "deliveries.storefront": [to_shop.message_id],
    }


def deliverer(settings: Settings, journal: AsyncEngine, broker: dramatiq.Broker) -> Deliverer:
    """A worker's deliverer that sends its wake-ups as the worker does (through an
    :class:`Enqueuer`), with the directory's adapter and NAV's at ``settings.navision.url``."""
    enqueuer = Enqueuer(broker, journal)

    async def send(wakes: list[Wake], delay_ms: int | None) -> None:
        await enqueuer.send(wakes, delay_ms=delay_ms)

    adapters = {
        "directory": DirectoryAdapter(CustomerDirectory(journal)),
        "navision": NavisionAdapter(settings.navision, httpx.AsyncClient()),
    }
    return Deliverer(settings, journal, adapters, send)  # type: ignore[arg-type]


async def test_a_finish_wakes_the_next_step_on_its_own_targets_queue(
    journal: AsyncEngine,
) -> None:
    first = Command(
        method="account.create",
        source="crm",
        target="directory",
        operation="customer.remember",
        payload={"erp_key": "C-1"},
        idempotency_key="k-1",
        then=(("bitrix24", "account.report"),),
    )
    async with writing(journal) as conn:
        [accepted] = await accept_batch(conn, [first])
    assert isinstance(accepted, Accepted)
    broker = build_broker(SETTINGS)
    assert await deliverer(SETTINGS, journal, broker).deliver(accepted.message_id) is (
        Status.DELIVERED
    )
    [next_step] = queued(broker, "deliveries.bitrix24.urgent")
    assert every_queue(broker) == {"deliveries.bitrix24.urgent": [next_step]}


async def test_a_retry_waits_on_its_targets_delay_queue(journal: AsyncEngine) -> None:
    settings = Settings(navision={"url": f"http://127.0.0.1:{free_port()}/ODataV4"})
    async with writing(journal) as conn:
        routed = {"order_id": "A-1", "customer": "10000", "lines": [LINE]}
        [order] = await accept_batch(conn, [dataclasses.replace(command("k-1"), payload=routed)])
    assert isinstance(order, Accepted)
    broker = build_broker(settings)
    # NAV does not answer (nothing listens): a transient failure, retried later
    assert await deliverer(settings, journal, broker).deliver(order.message_id) is (
        Status.RETRY_WAIT
    )
    assert every_queue(broker) == {"deliveries.navision.DQ": [order.message_id]}


async def test_the_sweeper_re_enqueues_each_lost_wake_up_on_its_targets_queue(
    journal: AsyncEngine,
) -> None:
    async with writing(journal) as conn:
        outcomes = await accept_batch(
            conn,
            [
                command("k-1", order="A-1"),
                dataclasses.replace(command("k-2", order="A-2"), target="bitrix24"),
                dataclasses.replace(command("k-3", order="A-3"), target="onec"),
            ],
        )
        # lost between commit and enqueue (the process died): never queued
        await conn.execute(
            update(messages).values(queued_at=None, updated_at=utcnow() - dt.timedelta(minutes=5))
        )
    nav, b24, onec = (o.message_id for o in outcomes if isinstance(o, Accepted))
    broker = build_broker(SETTINGS)
    assert await sweep_once(SETTINGS, journal, broker) == 3
    assert every_queue(broker) == {
        "deliveries.navision": [nav],
        "deliveries.bitrix24": [b24],
        "deliveries": [onec],  # not a target of this deployment: the shared queue
    }


@pytest.fixture
def redis_settings() -> Iterator[Settings]:
    """Settings with a Redis queue of a namespace of its own, removed afterwards."""
    with fresh_redis_namespace() as namespace:
        yield Settings(redis_url=REDIS_URL, redis_namespace=namespace)


def redis_queue(settings: Settings, queue: str) -> list[str]:
    """The message ids waiting on ``queue`` in Redis, oldest first."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        namespace = settings.redis_namespace
        ids = client.lrange(f"{namespace}:{queue}", 0, -1)
        bodies = client.hmget(f"{namespace}:{queue}.msgs", ids) if ids else []
    finally:
        client.close()
    return [dramatiq.Message.decode(body).args[0] for body in bodies if body is not None]


async def test_operators_actions_wake_on_the_targets_queue(
    journal: AsyncEngine, redis_settings: Settings
) -> None:
    async with writing(journal) as conn:
        outcomes = await accept_batch(
            conn, [dataclasses.replace(command("k-1", order="A-1"), target="bitrix24")]
        )
    [failed] = [o.message_id for o in outcomes if isinstance(o, Accepted)]
    claimed = await claim_one(journal, failed)
    assert claimed is not None
    await finish_one(journal, claimed, Finish(Status.FAILED, error="422 stage unknown"))
    [replayed] = await operations.replay(
        redis_settings, journal, [failed], actor="ops", reason="stage fixed"
    )
    assert replayed.ok and replayed.status == "accepted"
    assert redis_queue(redis_settings, "deliveries.bitrix24") == [failed]
    assert redis_queue(redis_settings, "deliveries.navision") == []


def test_pipelined_wake_ups_reach_a_real_worker_of_each_queue(redis_settings: Settings) -> None:
    """``enqueue_many`` writes what ``RedisBroker.enqueue`` would: a dramatiq worker of the
    target's queue reads each wake-up back (a release that lays its queues out otherwise fails
    here)."""
    sender = build_broker(redis_settings)
    assert isinstance(sender, PipelinedRedisBroker)
    wakes = [
        Wake(
            f"m-{n}",
            *(("bitrix24", "order.create") if n % 2 else ("navision", "sales_order.create")),
        )
        for n in range(20)
    ]
    enqueue(sender, wakes)

    receiver = build_broker(redis_settings)
    received: list[str] = []
    lock = threading.Lock()
    done = threading.Event()

    def deliver(message_id: str) -> None:
        with lock:
            received.append(message_id)
            if len(received) == 10:
                done.set()

    dramatiq.actor(deliver, broker=receiver, actor_name=DELIVER_ACTOR, queue_name=DELIVERY_QUEUE)
    worker = dramatiq.Worker(receiver, queues={"deliveries.bitrix24"}, worker_threads=2)
    worker.start()
    try:
        assert done.wait(10), f"the worker of Bitrix24's queue received only {received}"
    finally:
        worker.stop()
    # Only Bitrix24's wake-ups reached Bitrix24's worker; NAV's wait on NAV's queue.
    assert sorted(received) == sorted(w.message_id for w in wakes if w.target == "bitrix24")
    assert sorted(redis_queue(redis_settings, "deliveries.navision")) == sorted(
        w.message_id for w in wakes if w.target == "navision"
    )
