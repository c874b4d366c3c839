"""The delivery worker: the ``deliver`` actor and the resources it runs with.

Dramatiq runs async actors on one event loop thread per process; the engine, the HTTP client and the
adapters belong to that loop, so they are built there on first use and closed there at shutdown.
"""

from __future__ import annotations

import asyncio
from typing import Any

import dramatiq
import httpx
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.middleware import Middleware

from bus.adapters import Adapter, build_adapters
from bus.adapters.http import cookieless_jar
from bus.adapters.recording import EVENT_HOOKS
from bus.db import create_engine
from bus.journal.credentials import JournalSecrets
from bus.journal.customers import CustomerDirectory
from bus.queues.broker import DELIVER_ACTOR, DELIVERY_QUEUE
from bus.queues.deliver import Deliverer
from bus.queues.enqueue import Enqueuer
from bus.settings import Settings


class WorkerRuntime:
    """The loop-bound resources of one worker process, created lazily on the actors' loop."""

    def __init__(self, settings: Settings, broker: dramatiq.Broker) -> None:
        self._settings = settings
        self._broker = broker
        self._deliverer: Deliverer | None = None
        self._closers: list[Any] = []
        self._lock: asyncio.Lock | None = None

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
        adapters: dict[str, Adapter] = build_adapters(
            settings, client, JournalSecrets(engine), CustomerDirectory(engine)
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


class _CloseRuntime(Middleware):
    """Closes the runtime on its own loop before the AsyncIO middleware stops that loop."""

    def __init__(self, runtime: WorkerRuntime) -> None:
        self._runtime = runtime

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(self._runtime.aclose())


def declare_deliver_actor(broker: dramatiq.Broker, settings: Settings) -> WorkerRuntime:
    """Register the ``deliver`` actor on ``broker``; return the runtime it uses."""
    runtime = WorkerRuntime(settings, broker)

    async def deliver(message_id: str) -> None:
        await (await runtime.deliverer()).deliver(message_id)

    dramatiq.actor(  # type: ignore[call-overload]  # the overloads omit actor options
        deliver,
        broker=broker,
        actor_name=DELIVER_ACTOR,
        queue_name=DELIVERY_QUEUE,
        max_retries=0,  # retry state lives in SQL; see bus.queues.retry
        time_limit=int(settings.queue.lease * 1000),
    )
    broker.add_middleware(_CloseRuntime(runtime))
    return runtime


def start_worker(settings: Settings, broker: dramatiq.Broker) -> dramatiq.Worker:
    """Start delivering: declare the actor and start a worker with the configured threads."""
    declare_deliver_actor(broker, settings)
    worker = dramatiq.Worker(
        broker,
        worker_threads=settings.queue.worker_threads,
        worker_timeout=settings.queue.worker_timeout_ms,
    )
    worker.start()
    return worker
