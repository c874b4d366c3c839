"""The delivery worker: the ``deliver`` actor, the resources it runs with, and its graceful stop.

Dramatiq runs async actors on one event loop thread per process; the engine, the HTTP client and the
adapters belong to that loop, so they are built there on first use and closed there at shutdown.

A stop (SIGTERM: a deploy, a scale-down) must not cut the attempts under way: a cut attempt is an
``unknown_outcome`` that counts against the target's breaker. ``dramatiq.Worker.stop`` runs, in
order: ``before_worker_shutdown`` (every middleware), then it stops the worker threads and joins
them (each finishes the message it holds and takes no other), then the consumers (their prefetched
messages go back to the queue), then ``after_worker_shutdown``, in which the ``AsyncIO`` middleware
stops the event loop. So the runtime is marked stopping first, and closed only after the threads
have finished, on the loop, before the loop stops: see :class:`_GracefulStop`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import dramatiq
import httpx
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.middleware import AsyncIO, Middleware

from bus.adapters import Adapter, build_adapters
from bus.adapters.http import cookieless_jar
from bus.adapters.recording import EVENT_HOOKS
from bus.db import create_engine
from bus.journal.credentials import JournalSecrets
from bus.journal.customers import CustomerDirectory
from bus.journal.known_orders import JournalOrderBook
from bus.queues.broker import DELIVER_ACTOR, DELIVERY_QUEUE, enqueue
from bus.queues.deliver import Deliverer
from bus.queues.enqueue import Enqueuer
from bus.sealing import Sealer
from bus.settings import ROLES, Settings

log = logging.getLogger(__name__)

#: Seconds for an attempt's claim and record, on top of the attempt itself.
_BOOKKEEPING = 5.0
#: Seconds that closing the adapters, the HTTP client and the engine may take at the very end.
_CLOSE_TIMEOUT = 10.0


def stop_grace(settings: Settings) -> float:
    """How long a stopping worker waits for the attempts it is running, in seconds.

    The deliverer cuts an attempt at twice its target's ``attempt_timeout``; add the claim and the
    record. Never longer than the lease: past it the message is no longer this worker's (the
    sweeper hands it to another, and this worker's late record is fenced out).
    """
    targets = {settings.system(role) for role in ROLES}
    longest = max(settings.retry_policy(target).attempt_timeout for target in targets)
    return min(settings.queue.lease, 2 * longest + _BOOKKEEPING)


class WorkerRuntime:
    """The loop-bound resources of one worker process, created lazily on the actors' loop."""

    def __init__(self, settings: Settings, broker: dramatiq.Broker) -> None:
        self._settings = settings
        self._broker = broker
        self._deliverer: Deliverer | None = None
        self._closers: list[Any] = []
        self._lock: asyncio.Lock | None = None
        #: Set when the worker begins to stop: a message taken after it is handed back, not run.
        self.stopping = threading.Event()

    async def deliver(self, message_id: str) -> None:
        """Make one attempt at ``message_id`` (the actor's body)."""
        if self.stopping.is_set():
            await self._hand_back(message_id)
            return
        await (await self.deliverer()).deliver(message_id)

    async def _hand_back(self, message_id: str) -> None:
        # A worker thread polling the work queue when the stop began may still take one message
        # (dramatiq checks its stop flag only between polls). Starting it would make the stop wait
        # for a whole attempt; the next worker takes it from the queue at once instead.
        try:
            await asyncio.to_thread(enqueue, self._broker, [message_id])
        except Exception:  # the sweeper re-enqueues it after queue.requeue_after
            log.warning("stopping: could not hand %s back to the queue", message_id, exc_info=True)

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
        threads = settings.queue.worker_threads
        engine = create_engine(settings.database_url, pool_size=threads)
        client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=threads * 2, max_keepalive_connections=threads),
            event_hooks=EVENT_HOOKS,
            cookies=cookieless_jar(),
        )
        orders = JournalOrderBook(engine, erp=settings.erp, crm=settings.crm)
        adapters: dict[str, Adapter] = build_adapters(
            settings,
            client,
            JournalSecrets(engine, Sealer.from_settings(settings)),
            CustomerDirectory(engine),
            orders,
        )
        enqueuer = Enqueuer(self._broker, engine)

        async def send(message_ids: list[str], delay_ms: int | None) -> None:
            await enqueuer.send(message_ids, delay_ms=delay_ms)

        self._closers = [*(a.aclose for a in adapters.values()), client.aclose, engine.dispose]
        return Deliverer(settings, engine, adapters, send)

    async def aclose(self) -> None:
        """Close the adapters, the HTTP client and the engine."""
        for close in self._closers:
            await close()
        self._closers, self._deliverer = [], None


class _GracefulStop(Middleware):
    """Marks the runtime stopping when the worker begins to stop; closes it once the worker
    threads have finished their messages, on the loop, before the AsyncIO middleware stops it.

    Closing in ``before_worker_shutdown`` (as this once did) closed the HTTP client under the
    running attempts: each became ``unknown_outcome`` ("client has been closed") and counted
    against the target's breaker. The close must come in ``after_worker_shutdown``, and before
    ``AsyncIO``'s: after-hooks run in reverse order of addition, so this middleware is added
    after ``AsyncIO``.
    """

    def __init__(self, runtime: WorkerRuntime, grace: float) -> None:
        self._runtime = runtime
        self._grace = grace

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._runtime.stopping.set()
        log.info(
            "stopping: no new messages; waiting up to %gs for the attempts under way", self._grace
        )

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        running = sum(thread.is_alive() for thread in worker.workers)
        if running:  # past the grace: closing cuts them, as a lost lease would have
            log.warning("stopping: %d attempt(s) still running after %gs", running, self._grace)
        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(asyncio.wait_for(self._runtime.aclose(), _CLOSE_TIMEOUT))


def declare_deliver_actor(broker: dramatiq.Broker, settings: Settings) -> WorkerRuntime:
    """Register the ``deliver`` actor on ``broker``; return the runtime it uses.

    The broker must have the ``AsyncIO`` middleware (:func:`bus.queues.broker.build_broker`).
    """
    runtime = WorkerRuntime(settings, broker)

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
    broker.add_middleware(_GracefulStop(runtime, stop_grace(settings)), after=AsyncIO)
    return runtime


class DeliveryWorker:
    """A running dramatiq worker of the ``deliver`` actor, stopped gracefully by :meth:`stop`."""

    def __init__(self, worker: dramatiq.Worker, grace: float) -> None:
        self._worker = worker
        self.grace = grace

    def stop(self) -> None:
        """Take no new messages, let the attempts under way finish (for at most :attr:`grace`
        seconds), put the prefetched messages back on the queue, then close (blocking)."""
        self._worker.stop(timeout=int(self.grace * 1000))


def start_worker(settings: Settings, broker: dramatiq.Broker) -> DeliveryWorker:
    """Start delivering: declare the actor and start a worker with the configured threads."""
    declare_deliver_actor(broker, settings)
    worker = dramatiq.Worker(
        broker,
        worker_threads=settings.queue.worker_threads,
        worker_timeout=settings.queue.worker_timeout_ms,
    )
    worker.start()
    return DeliveryWorker(worker, stop_grace(settings))
