"""The delivery worker: a lane of worker threads per target, the ``deliver`` actor, the resources
it runs with, and its graceful stop.

Each target's queue is served by threads of its own (a *lane*: a ``dramatiq.Worker`` that consumes
only that queue), so a target whose attempts are slow, paced (Bitrix24's 2 requests/s) or failing
occupies its own threads only; every other target's messages are taken as they come. A lane has
``queue.worker_threads`` threads unless ``queue.target_threads`` names its target; a target's
queue of steps a person waits on has a lane of :data:`URGENT_THREADS`, and the shared
``deliveries`` queue (:mod:`bus.queues.broker`) one of :data:`SHARED_THREADS`.

The lanes share one broker, one event loop (dramatiq runs async actors on one loop thread per
process) and the loop-bound resources built on it on first use: the engine, the HTTP client (with
a connection for every thread of every lane, so a target that holds its connections takes none of
another's) and the adapters.

A stop (SIGTERM: a deploy, a scale-down) must not cut the attempts under way: a cut attempt is an
``unknown_outcome`` that counts against the target's breaker. :meth:`DeliveryWorker.stop` marks the
runtime stopping (a message a thread still takes goes back to its queue, unrun), stops every lane
at once (``dramatiq.Worker.stop``: each thread finishes the message it holds, the prefetched
messages go back to their queue), and only then closes the runtime, on the loop, and stops it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dramatiq
import httpx
from dramatiq.asyncio import EventLoopThread, set_event_loop_thread
from dramatiq.common import q_name
from dramatiq.middleware import Middleware, SkipMessage

from bus.adapters import Adapter, build_adapters
from bus.adapters.http import cookieless_jar
from bus.adapters.recording import EVENT_HOOKS
from bus.db import create_engine
from bus.directory_changes import AnnouncedDirectory
from bus.journal.credentials import JournalSecrets
from bus.journal.customers import CustomerDirectory
from bus.journal.known_orders import JournalOrderBook
from bus.journal.wakes import Wake
from bus.queues.broker import (
    DELIVER_ACTOR,
    DELIVERY_QUEUE,
    delivery_targets,
    queue_name,
    urgent_queue_name,
    urgent_targets,
    wake_up,
)
from bus.queues.deliver import Deliverer
from bus.queues.enqueue import Enqueuer
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

    async def deliver(self, message_id: str) -> None:
        """Make one attempt at ``message_id`` (the actor's body)."""
        await (await self.deliverer()).deliver(message_id)

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
        client = httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=self._threads, max_keepalive_connections=self._threads
            ),
            event_hooks=EVENT_HOOKS,
            cookies=cookieless_jar(),
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
        enqueuer = Enqueuer(self._broker, engine)

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
    """Once the process is stopping, a message a worker thread still takes goes back to its
    queue, unrun.

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
    broker: dramatiq.Broker, settings: Settings, threads: int
) -> WorkerRuntime:
    """Register the ``deliver`` actor on ``broker`` (it serves every delivery queue: a message
    names its actor, and each lane consumes its own queue); return the runtime it uses."""
    runtime = WorkerRuntime(settings, broker, threads)

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
    return runtime


class DeliveryWorker:
    """The running lanes of one process, and the event loop their actor runs on; stopped
    gracefully by :meth:`stop`."""

    def __init__(
        self,
        workers: list[dramatiq.Worker],
        runtime: WorkerRuntime,
        loop: EventLoopThread,
        grace: float,
    ) -> None:
        self._workers = workers
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
        # Every lane at once, so that the stop takes one grace, not one per lane.
        stops = [
            threading.Thread(target=worker.stop, kwargs={"timeout": int(self.grace * 1000)})
            for worker in self._workers
        ]
        for stop in stops:
            stop.start()
        for stop in stops:
            stop.join()
        running = sum(t.is_alive() for worker in self._workers for t in worker.workers)
        if running:  # past the grace: closing cuts them, as a lost lease would have
            log.warning("stopping: %d attempt(s) still running after %gs", running, self.grace)
        self._loop.run_coroutine(asyncio.wait_for(self._runtime.aclose(), _CLOSE_TIMEOUT))
        self._loop.stop()  # type: ignore[no-untyped-call]
        self._loop.join()
        set_event_loop_thread(None)


def start_worker(
    settings: Settings, broker: dramatiq.Broker, targets: Sequence[str] | None = None
) -> DeliveryWorker:
    """Start delivering: the event loop, the actor, and a lane per queue (:func:`lanes`)."""
    chosen = lanes(settings, targets)
    runtime = declare_deliver_actor(broker, settings, sum(lane.threads for lane in chosen))
    loop = EventLoopThread(log)
    loop.start(timeout=1.0)
    set_event_loop_thread(loop)
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
    log.info(
        "delivering from %s",
        ", ".join(f"{lane.queue} ({lane.threads} threads)" for lane in chosen),
    )
    return DeliveryWorker(workers, runtime, loop, stop_grace(settings))
