"""The dramatiq broker: Redis when a URL is configured, otherwise the embedded in-process queue.

The queue carries only message ids; a lost queue message is found again by the sweeper. Messages are
built here directly (not through an actor object), so an API process can enqueue without importing
or owning the worker's actor.
"""

from __future__ import annotations

import uuid
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import current_millis
from dramatiq.middleware import AsyncIO

from bus.settings import Settings

#: The one queue of deliveries, and the actor that serves it.
DELIVERY_QUEUE = "deliveries"
DELIVER_ACTOR = "deliver"


class PipelinedRedisBroker(RedisBroker):
    """dramatiq's Redis broker, plus :meth:`enqueue_many`: one round-trip for a batch of messages.

    ``RedisBroker.enqueue`` makes one Redis call per message; at thousands of accepts a second those
    calls, not Redis, become the bottleneck. ``enqueue_many`` runs dramatiq's own ``dispatch``
    script once per message inside one pipeline, with the same arguments ``enqueue`` passes, so
    workers see exactly what ``enqueue`` would have written. ``tests/queues`` proves it against a
    real worker, so a dramatiq release that changes the script's arguments fails the suite.
    """

    def enqueue_many(self, messages: list[dramatiq.Message[None]]) -> None:
        """Enqueue ``messages`` (without delay) in one pipelined round-trip."""
        dispatch = self.scripts["dispatch"]
        prepared = [m.copy(options={"redis_message_id": str(uuid.uuid4())}) for m in messages]
        with self.client.pipeline(transaction=False) as pipe:
            for message in prepared:
                self.emit_before("enqueue", message, None)
                dispatch(keys=[self.namespace], args=self._enqueue_args(message), client=pipe)
            pipe.execute()
        for message in prepared:
            self.emit_after("enqueue", message, None)

    def _enqueue_args(self, message: dramatiq.Message[None]) -> list[Any]:
        # The argument layout of dramatiq/brokers/redis.py's _dispatch for the "enqueue" command.
        return [
            "enqueue",
            current_millis(),
            message.queue_name,
            self.broker_id,
            self.heartbeat_timeout,
            self.dead_message_ttl,
            self._should_do_maintenance("enqueue"),
            self._max_unpack_size(),  # type: ignore[no-untyped-call]
            message.options["redis_message_id"],
            message.encode(),
        ]


def build_broker(settings: Settings) -> dramatiq.Broker:
    """Create the broker for ``settings``; after any fork, as brokers are not process-safe."""
    broker: dramatiq.Broker
    if settings.redis_url:
        broker = PipelinedRedisBroker(  # type: ignore[no-untyped-call]
            url=settings.redis_url, namespace=settings.redis_namespace
        )
    else:
        broker = StubBroker()
    broker.add_middleware(AsyncIO())
    broker.declare_queue(DELIVERY_QUEUE)
    return broker


def wake_up(message_id: str) -> dramatiq.Message[None]:
    """The queue message that asks a worker to deliver ``message_id``."""
    return dramatiq.Message(
        queue_name=DELIVERY_QUEUE,
        actor_name=DELIVER_ACTOR,
        args=(message_id,),
        kwargs={},
        options={},
    )


def enqueue(
    broker: dramatiq.Broker, message_ids: list[str], *, delay_ms: int | None = None
) -> None:
    """Put wake-ups for ``message_ids`` on the queue (blocking: call it off the event loop)."""
    if isinstance(broker, PipelinedRedisBroker) and delay_ms is None:
        broker.enqueue_many([wake_up(message_id) for message_id in message_ids])
        return
    for message_id in message_ids:
        broker.enqueue(wake_up(message_id), delay=delay_ms)
