"""A worker's lanes on its event loop (bus.queues.lanes), against a real Redis.

What the API enqueues (pipelined, and a retry's delayed wake-up) is run and acknowledged; a stop
lets the attempts under way finish within the grace, cuts the rest, and hands back what was
fetched ahead for another worker; a Redis that goes away and comes back is served again.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator

import dramatiq
import pytest
import redis
import redis.asyncio as aredis

from bus.journal.wakes import Wake
from bus.queues.broker import (
    DELIVER_ACTOR,
    DELIVERY_QUEUE,
    PipelinedRedisBroker,
    build_broker,
    enqueue,
    queue_name,
    redis_id,
    wake_ups,
)
from bus.queues.lanes import AsyncLane
from bus.queues.redis_queues import RedisQueues
from bus.settings import Settings
from tests.support.redisserver import RedisServer
from tests.support.servers import REDIS_URL, fresh_redis_namespace

QUEUE = queue_name("navision")


@pytest.fixture
def settings() -> Iterator[Settings]:
    """Settings with a Redis namespace of their own, removed afterwards."""
    with fresh_redis_namespace("bus-lanes") as namespace:
        yield Settings(redis_url=REDIS_URL, redis_namespace=namespace)


class Attempts:
    """A lane's ``deliver``: records each message id and, as the bus's finish does, takes the
    lane's next wake-up as it ends (``handed``: what each was handed); ``hold`` keeps attempts
    from ending, ``take_early`` makes them take the next one before they wait."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []
        self.handed: dict[str, str | None] = {}
        self.release = asyncio.Event()
        self.hold = False
        self.take_early = False

    async def __call__(self, message_id: str, take_next: Callable[[], str | None]) -> None:
        self.started.append(message_id)
        if self.take_early:
            self.handed[message_id] = take_next()
        if self.hold:
            await self.release.wait()
        if not self.take_early:
            self.handed[message_id] = take_next()
        self.finished.append(message_id)


@pytest.fixture
async def queues(settings: Settings) -> AsyncIterator[RedisQueues]:
    broker = build_broker(settings)
    assert isinstance(broker, PipelinedRedisBroker)
    found = RedisQueues(broker, aredis.Redis.from_url(REDIS_URL))
    yield found
    await found.aclose()


def lane(queues: RedisQueues, attempts: Attempts, threads: int = 2) -> AsyncLane:
    return AsyncLane(queues, QUEUE, threads, attempts, poll=0.05, limit=30)


def held_lane(
    settings: Settings, queues: RedisQueues, messages: int, threads: int
) -> tuple[Attempts, AsyncLane]:
    """A lane started on ``messages`` wake-ups, its attempts held until released."""
    enqueue(build_broker(settings), wakes(messages))
    attempts = Attempts()
    attempts.hold = True
    served = lane(queues, attempts, threads=threads)
    served.start()
    return attempts, served


def waiting(settings: Settings, queue: str = QUEUE) -> list[str]:
    """The message ids on ``queue`` in Redis (not taken by a worker), oldest first."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        ids = client.lrange(f"{settings.redis_namespace}:{queue}", 0, -1)
        bodies = client.hmget(f"{settings.redis_namespace}:{queue}.msgs", ids) if ids else []
    finally:
        client.close()
    return [dramatiq.Message.decode(body).args[0] for body in bodies if body is not None]


def stored(settings: Settings, queue: str = QUEUE) -> int:
    """Messages of ``queue`` Redis still keeps (waiting, or taken and not acknowledged)."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return int(client.hlen(f"{settings.redis_namespace}:{queue}.msgs"))
    finally:
        client.close()


async def until(condition: object, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.02)


def wakes(count: int, prefix: str = "m") -> list[Wake]:
    return [Wake(f"{prefix}-{n}", "navision", "sales_order.create") for n in range(count)]


async def test_what_the_api_enqueues_and_a_delayed_retry_are_run_and_acknowledged(
    settings: Settings, queues: RedisQueues
) -> None:
    sender = build_broker(settings)
    enqueue(sender, wakes(10))
    enqueue(sender, [Wake("retry", "navision", "sales_order.create")], delay_ms=300)
    attempts = Attempts()
    served = lane(queues, attempts, threads=3)
    served.start()
    await until(lambda: len(attempts.finished) == 10)
    assert "retry" not in attempts.started  # not before it is due
    await until(lambda: "retry" in attempts.finished)
    assert await served.stop(grace=5) == 0
    assert sorted(attempts.finished) == sorted([*(w.message_id for w in wakes(10)), "retry"])
    # every one acknowledged: nothing left in Redis, on the queue or its delay queue
    assert stored(settings) == 0
    assert stored(settings, f"{QUEUE}.DQ") == 0


async def test_no_more_than_its_threads_run_at_once(
    settings: Settings, queues: RedisQueues
) -> None:
    attempts, served = held_lane(settings, queues, messages=7, threads=3)
    await until(lambda: len(attempts.started) == 3)
    await asyncio.sleep(0.3)
    assert len(attempts.started) == 3
    attempts.release.set()
    await until(lambda: len(attempts.finished) == 7)
    await served.stop(grace=5)


async def test_an_attempt_hands_its_slot_to_the_wake_up_it_took(
    settings: Settings, queues: RedisQueues, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each attempt takes the lane's next wake-up as it ends and the same task runs it: one
    slot, every message in order, each acknowledged, the last handed nothing."""
    monkeypatch.setenv("dramatiq_queue_prefetch", "5")  # all five fetched at once
    enqueue(build_broker(settings), wakes(5))
    attempts = Attempts()
    served = lane(queues, attempts, threads=1)
    served.start()
    await until(lambda: len(attempts.finished) == 5)
    ids = [w.message_id for w in wakes(5)]
    assert attempts.finished == ids
    assert attempts.handed == {**dict(zip(ids, ids[1:], strict=False)), ids[-1]: None}
    assert await served.stop(grace=5) == 0
    assert stored(settings) == 0


async def test_a_wake_up_taken_by_an_attempt_cut_at_the_stop_is_handed_back(
    settings: Settings, queues: RedisQueues
) -> None:
    enqueue(build_broker(settings), wakes(3))
    attempts = Attempts()
    attempts.hold = attempts.take_early = True
    served = lane(queues, attempts, threads=1)
    served.start()
    await until(lambda: attempts.handed.get("m-0") is not None)
    assert await served.stop(grace=0.2) == 1
    # the one it took waits on the queue again, with the one never taken
    assert sorted(waiting(settings)) == ["m-1", "m-2"]
    assert stored(settings) == 3  # m-0 was cut: left to dramatiq's maintenance


async def test_a_stop_lets_attempts_finish_and_hands_back_what_was_fetched_ahead(
    settings: Settings, queues: RedisQueues
) -> None:
    # fetches 4: 2 run, 2 wait in the lane
    attempts, served = held_lane(settings, queues, messages=6, threads=2)
    await until(lambda: len(attempts.started) == 2)
    stopping = asyncio.create_task(served.stop(grace=5))
    await asyncio.sleep(0.2)
    attempts.release.set()  # the attempts under way end within the grace
    assert await stopping == 0
    assert attempts.finished == attempts.started  # none started after the stop began
    assert set(attempts.handed.values()) == {None}  # nor taken by one that ended
    # the two it ran are acknowledged; the other four wait on the queue for any worker
    assert sorted(waiting(settings)) == sorted(
        w.message_id for w in wakes(6) if w.message_id not in attempts.started
    )
    assert stored(settings) == 4


async def test_an_attempt_past_the_grace_is_cut_and_left_to_redis(
    settings: Settings, queues: RedisQueues
) -> None:
    attempts, served = held_lane(settings, queues, messages=1, threads=2)
    await until(lambda: len(attempts.started) == 1)
    assert await served.stop(grace=0.2) == 1
    assert attempts.finished == []
    # not acknowledged: dramatiq's maintenance hands it back once this worker's heartbeat stops
    assert waiting(settings) == [] and stored(settings) == 1


async def test_a_lane_serves_again_once_redis_is_back(settings: Settings) -> None:
    with RedisServer() as server:
        broker = PipelinedRedisBroker(url=server.url, namespace=settings.redis_namespace)
        queues = RedisQueues(broker, aredis.Redis.from_url(server.url))
        attempts = Attempts()
        served = lane(queues, attempts)
        served.start()
        broker.enqueue(dramatiq.Message(QUEUE, "deliver", ("before",), {}, {}))
        await until(lambda: attempts.finished == ["before"])
        server.halt()  # as a crash: the lane meets the outage
        await asyncio.sleep(1.5)
        server.start()  # empty: a restart without persistence loses the script, too
        broker = PipelinedRedisBroker(url=server.url, namespace=settings.redis_namespace)
        broker.enqueue(dramatiq.Message(QUEUE, "deliver", ("after",), {}, {}))
        await until(lambda: attempts.finished == ["before", "after"], timeout=15)
        assert await served.stop(grace=5) == 0
        await queues.aclose()


async def test_acknowledgements_load_the_script_again_if_redis_lost_it(
    settings: Settings,
) -> None:
    with RedisServer() as server:
        broker = PipelinedRedisBroker(url=server.url, namespace=settings.redis_namespace)
        queues = RedisQueues(broker, aredis.Redis.from_url(server.url))
        broker.enqueue(dramatiq.Message(QUEUE, "deliver", ("m-1",), {}, {}))
        [taken] = await queues.fetch(QUEUE, 1)
        server.client().script_flush()  # as a restart without persistence would
        await queues.ack(QUEUE, [redis_id(taken)])
        assert server.client().hlen(f"{settings.redis_namespace}:{QUEUE}.msgs") == 0
        await queues.aclose()


async def test_what_the_loop_enqueues_a_dramatiq_worker_reads(
    settings: Settings, queues: RedisQueues
) -> None:
    """The API's and a worker's wake-ups, enqueued on the loop, are what ``RedisBroker.enqueue``
    writes: a dramatiq worker reads them, the delayed one once it is due."""
    sender = build_broker(settings)
    await queues.enqueue(wake_ups(sender, wakes(3)))
    await queues.enqueue(wake_ups(sender, wakes(1, "later")), delay_ms=300)
    receiver = build_broker(settings)
    received: list[str] = []
    done = threading.Event()

    def deliver(message_id: str) -> None:
        received.append(message_id)
        if len(received) == 4:
            done.set()

    dramatiq.actor(deliver, broker=receiver, actor_name=DELIVER_ACTOR, queue_name=DELIVERY_QUEUE)
    worker = dramatiq.Worker(receiver, queues={QUEUE}, worker_threads=1)
    worker.start()
    try:
        assert await asyncio.to_thread(done.wait, 10), received
    finally:
        worker.stop()
    assert received == ["m-0", "m-1", "m-2", "later-0"]
