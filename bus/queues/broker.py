"""The dramatiq broker: Redis when a URL is configured, otherwise the embedded in-process queue.

The queue carries only message ids; a lost queue message is found again by the sweeper. Messages are
built here directly (not through an actor object), so an API process can enqueue without importing
or owning the worker's actor.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO

from bus.settings import Settings

#: The one queue of deliveries, and the actor that serves it.
DELIVERY_QUEUE = "deliveries"
DELIVER_ACTOR = "deliver"


def build_broker(settings: Settings) -> dramatiq.Broker:
    """Create the broker for ``settings``; after any fork, as brokers are not process-safe."""
    broker: dramatiq.Broker
    if settings.redis_url:
        broker = RedisBroker(  # type: ignore[no-untyped-call]
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
    for message_id in message_ids:
        broker.enqueue(wake_up(message_id), delay=delay_ms)
