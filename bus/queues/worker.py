"""The delivery worker: a lane per target's queue, the resources its attempts run with, and its
graceful stop.

Each target's queue is served by a lane of its own, so a target whose attempts are slow, paced
(Bitrix24's 2 requests/s) or failing occupies its own lane only; every other target's messages are
taken as they come. A lane runs ``queue.worker_threads`` attempts at once unless
``queue.target_threads`` names its target; a target's queue of steps a person waits on has a lane
of :data:`URGENT_THREADS`, and the shared ``deliveries`` queue (:mod:`bus.queues.broker`) one of
:data:`SHARED_THREADS`.

Every attempt runs on the process's one event loop, with the loop-bound resources built on it on
first use: the engine, the HTTP client (with a connection for every attempt a lane may run, so a
target that holds its connections takes none of another's) and the adapters. With Redis, the
lanes themselves are tasks of that loop (:mod:`bus.queues.lanes`); on the embedded queue each is a
``dramatiq.Worker`` of its own with that many threads, handing its messages to the loop (the
``deliver`` actor).

A stop (SIGTERM: a deploy, a scale-down) must not cut the attempts under way: a cut attempt is an
``unknown_outcome`` that counts against the target's breaker. :meth:`DeliveryWorker.stop` marks the
runtime stopping, stops every lane at once (each lets the attempts it runs finish and hands what it
fetched ahead back to its queue), and only then closes the runtime, on the loop, and stops it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import dramatiq
from dramatiq.asyncio import set_event_loop_thread
from dramatiq.common import q_name
from dramatiq.middleware import Middleware, SkipMessage

from bus.adapters import Adapter, build_adapters
from bus.adapters.http import cookieless_jar
from bus.adapters.recording import EVENT_HOOKS
from bus.adapters.transport import http_client
from bus.db import create_engine
from bus.directory_changes import AnnouncedDirectory
from bus.event_loops import LoopThread
from bus.journal.credentials import JournalSecrets
from bus.journal.customers import CustomerDirectory
from bus.journal.known_orders import JournalOrderBook
from bus.journal.wakes import Wake
from bus.queues.broker import (
    DELIVER_ACTOR,
    DELIVERY_QUEUE,
    PipelinedRedisBroker,
    delivery_targets,
    queue_name,
    urgent_queue_name,
    urgent_targets,
    wake_up,
)
from bus.queues.deliver import Deliverer, TakeNext
from bus.queues.enqueue import Enqueuer
from bus.queues.lanes import AsyncLane
from bus.queues.redis_queues import RedisQueues
from bus.sealing import Sealer
from bus.settings import ROLES, Settings

log = logging.getLogger(__name__)

#: Seconds for an attempt's claim and record, on top of the attempt itself.
_BOOKKEEPING = 5.0
#: Seconds that closing the adapters, the HTTP client and the engine may take at the very end.
_CLOSE_TIMEOUT = 10.0
#: Threads of the shared queue's lane: it only sees wake-ups of targets without a queue.
SHARED_THREADS = 1
#: Threads of a target's lane of steps a person waits on: a few comments, one at a time.
URGENT_THREADS = 1


def stop_grace(settings: Settings) -> float:
    """How long a stopping worker waits for the attempts it is running, in seconds.

    The deliverer cuts an attempt at twice its target's ``attempt_timeout``; add the claim and the
    record. Never longer than the lease: past it the message is no longer this worker's (the
    sweeper hands it to another, and this worker's late record is fenced out).
    """
    targets = {settings.system(role) for role in ROLES}
    longest = max(settings.retry_policy(target).attempt_timeout for target in targets)
    return min(settings.queue.lease, 2 * longest + _BOOKKEEPING)


@dataclass(frozen=True)
class Lane:
    """One queue, and how many worker threads of its own serve it in a worker process."""

    queue: str
    threads: int


def lanes(settings: Settings, targets: Sequence[str] | None = None) -> list[Lane]:
    """The lanes of a worker process: each target's queue with its threads, and its urgent
    queue's. By default every target of the deployment, and the shared queue; else only
    ``targets``' queues."""
    chosen = delivery_targets(settings) if targets is None else targets
    own = [Lane(queue_name(target), settings.queue.threads_for(target)) for target in chosen]
    urgent = [
        Lane(urgent_queue_name(target), URGENT_THREADS)
        for target in urgent_targets(settings)
        if target in chosen
    ]
    shared = [Lane(DELIVERY_QUEUE, SHARED_THREADS)] if targets is None else []
    return [*own, *urgent, *shared]


class WorkerRuntime:
    """The loop-bound resources of one worker process, created lazily on the actors' loop.

    Parameters:
        settings: the deployment.
        broker: where follow-up wake-ups go.
        threads: the worker threads of every lane together (the HTTP client's connections).
    """

    def __init__(self, settings: Settings, broker: dramatiq.Broker, threads: int) -> None:
        self._settings = settings
        self._broker = broker
        self._threads = threads
        self._deliverer: Deliverer | None = None
        self._closers: list[Any] = []
        self._lock: asyncio.Lock | None = None
        #: Set when the worker begins to stop: a message taken after it is handed back, not run.
        self.stopping = threading.Event()
        #: The Redis queues of the loop's lanes, for follow-up wake-ups (``None``: the embedded
        #: queue, enqueued from a thread).
        self.queues: RedisQueues | None = None

    async def deliver(self, message_id: str, take_next: TakeNext | None = None) -> None:
        """Make one attempt at ``message_id`` (the actor's body; a lane's, with ``take_next``:
        :meth:`Deliverer.deliver`)."""
        await (await self.deliverer()).deliver(message_id, take_next)

    async def deliverer(self) -> Deliverer:
        """The process's :class:`Deliverer`, built on first use."""
        if self._deliverer is None:
            self._lock = self._lock or asyncio.Lock()
            async with self._lock:
                if self._deliverer is None:
                    self._deliverer = self._build()
        return self._deliverer

    def _build(self) -> Deliverer:
        settings = self._settings
        # Database work is short (claim, finish) next to the attempts: the largest lane's worth
        # of connections serves every lane; an attempt holds an HTTP connection throughout, so
        # every thread has one.
        engine = create_engine(settings.database_url, pool_size=_largest_lane(settings))
        client = http_client(
            max_connections=self._threads, event_hooks=EVENT_HOOKS, cookies=cookieless_jar()
        )
        orders = JournalOrderBook(engine, erp=settings.erp, crm=settings.crm)
        # API processes drop a profile they keep as soon as this process writes it
        directory = AnnouncedDirectory(CustomerDirectory(engine), settings)
        adapters: dict[str, Adapter] = build_adapters(
            settings,
            client,
            JournalSecrets(engine, Sealer.from_settings(settings)),
            directory,
            orders,
        )
        enqueuer = Enqueuer(self._broker, engine, self.queues)

        async def send(wakes: list[Wake], delay_ms: int | None) -> None:
            await enqueuer.send(wakes, delay_ms=delay_ms)

        self._closers = [
            *(a.aclose for a in adapters.values()),
            directory.aclose,
            client.aclose,
            engine.dispose,
        ]
        return Deliverer(settings, engine, adapters, send)

    async def aclose(self) -> None:
        """Close the adapters, the HTTP client and the engine."""
        for close in self._closers:
            await close()
        self._closers, self._deliverer = [], None


def _largest_lane(settings: Settings) -> int:
    return max(settings.queue.threads_for(target) for target in delivery_targets(settings))


class _HandBack(Middleware):
    """Once the process is stopping, a message a worker thread (of the embedded queue's lanes)
    still takes goes back to its queue, unrun.

    A thread polling its lane's work queue when the stop began may still take one message
    (dramatiq checks its stop flag only between polls). Starting it would make the stop wait for a
    whole attempt; another worker takes it from the queue at once instead.
    """

    def __init__(self, stopping: threading.Event) -> None:
        self._stopping = stopping

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        if not self._stopping.is_set():
            return
        [message_id] = message.args
        try:
            broker.enqueue(wake_up(q_name(message.queue_name), message_id))
        except Exception:  # the sweeper re-enqueues it after queue.requeue_after
            log.warning("stopping: could not hand %s back to the queue", message_id, exc_info=True)
        raise SkipMessage()


class _OneWorkerPerLane(logging.Filter):
    """Drops dramatiq's warning that a second worker adds its middleware to the broker: each
    lane is a ``dramatiq.Worker`` of its own on the one broker, and each adds one, by design."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (args and type(args[0]).__name__ == "_WorkerMiddleware")


def declare_deliver_actor(
    broker: dramatiq.Broker, settings: Settings, runtime: WorkerRuntime
) -> None:
    """Register the ``deliver`` actor on ``broker`` (it serves every delivery queue: a message
    names its actor, and each lane consumes its own queue), running on ``runtime``."""

    async def deliver(message_id: str) -> None:
        await runtime.deliver(message_id)

    dramatiq.actor(  # type: ignore[call-overload]  # the overloads omit actor options
        deliver,
        broker=broker,
        actor_name=DELIVER_ACTOR,
        queue_name=DELIVERY_QUEUE,
        max_retries=0,  # retry state lives in SQL; see bus.queues.retry
        time_limit=int(settings.queue.lease * 1000),
    )
    broker.add_middleware(_HandBack(runtime.stopping))


#: ``stop_lanes(grace)``: stop every lane at once, within ``grace`` seconds; the attempts cut.
StopLanes = Callable[[float], int]


class DeliveryWorker:
    """The running lanes of one process, and the event loop their attempts run on; stopped
    gracefully by :meth:`stop`."""

    def __init__(
        self, stop_lanes: StopLanes, runtime: WorkerRuntime, loop: LoopThread, grace: float
    ) -> None:
        self._stop_lanes = stop_lanes
        self._runtime = runtime
        self._loop = loop
        self.grace = grace

    def stop(self) -> None:
        """Take no new messages, let the attempts under way finish (for at most :attr:`grace`
        seconds), put the prefetched messages back on their queues, then close (blocking)."""
        self._runtime.stopping.set()
        log.info(
            "stopping: no new messages; waiting up to %gs for the attempts under way", self.grace
        )
        cut = self._stop_lanes(self.grace)
        if cut:  # past the grace: closing cuts them, as a lost lease would have
            log.warning("stopping: %d attempt(s) still running after %gs", cut, self.grace)
        self._loop.run_coroutine(asyncio.wait_for(self._runtime.aclose(), _CLOSE_TIMEOUT))
        self._loop.stop()  # type: ignore[no-untyped-call]
        self._loop.join()
        set_event_loop_thread(None)


def start_worker(
    settings: Settings, broker: dramatiq.Broker, targets: Sequence[str] | None = None
) -> DeliveryWorker:
    """Start delivering: the event loop, and a lane per queue (:func:`lanes`): on the loop itself
    with Redis (:mod:`bus.queues.lanes`), else dramatiq's worker threads."""
    chosen = lanes(settings, targets)
    loop = LoopThread(log)
    loop.start(timeout=1.0)
    set_event_loop_thread(loop)
    runtime = WorkerRuntime(settings, broker, sum(lane.threads for lane in chosen))
    if isinstance(broker, PipelinedRedisBroker):
        stop_lanes = _start_async_lanes(settings, broker, chosen, runtime, loop)
    else:
        stop_lanes = _start_thread_lanes(settings, broker, chosen, runtime)
    log.info(
        "delivering from %s",
        ", ".join(f"{lane.queue} ({lane.threads} at once)" for lane in chosen),
    )
    return DeliveryWorker(stop_lanes, runtime, loop, stop_grace(settings))


def _start_async_lanes(
    settings: Settings,
    broker: PipelinedRedisBroker,
    chosen: list[Lane],
    runtime: WorkerRuntime,
    loop: LoopThread,
) -> StopLanes:
    """Serve each lane's queue on the loop; return how to stop them."""

    async def start() -> tuple[RedisQueues, list[AsyncLane]]:
        queues = RedisQueues.of(broker, settings.redis_url or "")
        runtime.queues = queues  # follow-up wake-ups go through it too
        served = [
            AsyncLane(
                queues,
                lane.queue,
                lane.threads,
                runtime.deliver,
                poll=settings.queue.worker_timeout_ms / 1000,
                limit=settings.queue.lease,
            )
            for lane in chosen
        ]
        for lane in served:
            lane.start()
        return queues, served

    queues, served = loop.run_coroutine(start())

    async def stop(grace: float) -> int:
        cut = await asyncio.gather(*(lane.stop(grace) for lane in served))
        await queues.aclose()
        return sum(cut)

    return lambda grace: int(loop.run_coroutine(stop(grace)))


def _start_thread_lanes(
    settings: Settings, broker: dramatiq.Broker, chosen: list[Lane], runtime: WorkerRuntime
) -> StopLanes:
    """Serve each lane's queue with dramatiq worker threads of its own; return how to stop
    them."""
    declare_deliver_actor(broker, settings, runtime)
    logging.getLogger(f"dramatiq.broker.{type(broker).__name__}").addFilter(_OneWorkerPerLane())
    workers = [
        dramatiq.Worker(
            broker,
            queues={lane.queue},
            worker_threads=lane.threads,
            worker_timeout=settings.queue.worker_timeout_ms,
        )
        for lane in chosen
    ]
    for worker in workers:
        worker.start()

    def stop(grace: float) -> int:
        # Every lane at once, so that the stop takes one grace, not one per lane.
        stops = [
            threading.Thread(target=worker.stop, kwargs={"timeout": int(grace * 1000)})
            for worker in workers
        ]
        for each in stops:
            each.start()
        for each in stops:
            each.join()
        return sum(t.is_alive() for worker in workers for t in worker.workers)

    return stop
