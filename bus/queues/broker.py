"""The dramatiq broker and its queues: Redis when a URL is configured, otherwise in-process.

The queues carry only message ids; a lost queue message is found again by the sweeper. Each target
of the deployment has a queue of its own (``deliveries.navision``, ``deliveries.bitrix24``, …),
served by worker threads of its own (:mod:`bus.queues.worker`), so a slow, paced or broken
target's backlog waits in its queue and never in front of another target's messages. A target
with steps a person waits on (:data:`bus.adapters.URGENT`: Bitrix24's comments that the manager
reads) has a second queue for them, ``deliveries.bitrix24.urgent``, so they never wait behind its
own backlog either. The shared ``deliveries`` queue takes what has no queue of its own: a target
the deployment no longer has (its messages then fail for want of an adapter, as they should) and
wake-ups enqueued before queues were per target.

Messages are built here directly (not through an actor object), so an API process can enqueue
without importing or owning the worker's actor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dramatiq
import redis
import redis.asyncio as aredis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import current_millis, dq_name
from redis.typing import EncodableT, FieldT

from bus.adapters import REQUESTLESS, URGENT
from bus.journal.ids import unique_hex
from bus.journal.wakes import Wake
from bus.settings import ROLES, Settings

#: The shared queue of deliveries: targets without a queue of their own.
DELIVERY_QUEUE = "deliveries"
#: The actor that serves every delivery queue.
DELIVER_ACTOR = "deliver"
#: The bus's own target (steps the journal answers itself), beside the systems of ``ROLES``.
JOURNAL_TARGET = "journal"


def queue_name(target: str) -> str:
    """The queue of ``target``'s wake-ups."""
    return f"{DELIVERY_QUEUE}.{target}"


def urgent_queue_name(target: str) -> str:
    """The queue of the wake-ups of ``target``'s steps a person waits on."""
    return f"{queue_name(target)}.urgent"


def delivery_targets(settings: Settings) -> tuple[str, ...]:
    """The targets of this deployment, each of which has a queue: its ERP, its CRM, the
    storefront, mail, the directory and the journal."""
    return (*dict.fromkeys(settings.system(role) for role in ROLES), JOURNAL_TARGET)


def urgent_targets(settings: Settings) -> tuple[str, ...]:
    """The targets of this deployment with a queue for the steps a person waits on."""
    return tuple(target for target in delivery_targets(settings) if target in URGENT)


class PipelinedRedisBroker(RedisBroker):
    """dramatiq's Redis broker, plus :meth:`enqueue_many`: one round-trip for a batch of messages.

    ``RedisBroker.enqueue`` makes one Redis call per message; at thousands of accepts a second those
    calls, not Redis, become the bottleneck. ``enqueue_many`` writes in one pipeline what
    ``enqueue``'s script writes (:func:`queue_writes`), so workers see exactly what ``enqueue``
    would have written. ``tests/queues`` proves it against a real worker, so a dramatiq release
    that lays its queues out otherwise fails the suite.
    """

    def enqueue_many(self, messages: list[dramatiq.Message[None]]) -> None:
        """Enqueue ``messages`` (without delay) in one pipelined round-trip."""
        prepared = [as_queued(message) for message in messages]
        for message in prepared:
            self.emit_before("enqueue", message, None)
        with self.client.pipeline(transaction=False) as pipe:
            queue_writes(pipe, self.namespace, prepared)
            pipe.execute()
        for message in prepared:
            self.emit_after("enqueue", message, None)

    def dispatch_args(self, command: str, queue: str, *args: Any) -> list[Any]:
        """The arguments of dramatiq's dispatch script for ``command`` on ``queue``, laid out as
        dramatiq/brokers/redis.py's ``_dispatch`` lays them out (this worker's id and heartbeat,
        a chance of maintenance), for calls made without the broker's own client."""
        return [
            command,
            current_millis(),
            queue,
            self.broker_id,
            self.heartbeat_timeout,
            self.dead_message_ttl,
            self._should_do_maintenance(command),
            self._max_unpack_size(),  # type: ignore[no-untyped-call]
            *args,
        ]


def as_queued(message: dramatiq.Message[Any], delay_ms: int | None = None) -> dramatiq.Message[Any]:
    """``message`` as it is written to Redis: with an id of its own there (each enqueue needs one,
    as ``RedisBroker.enqueue`` gives it; a :func:`wake_up` is born with it, so a message taken
    from a queue is never enqueued again through here: a new wake-up is); with ``delay_ms``, on
    its delay queue, due then."""
    options: dict[str, Any] = {}
    if "redis_message_id" not in message.options:
        options["redis_message_id"] = unique_hex()
    if delay_ms is None:
        return message.copy(options=options) if options else message
    options["eta"] = current_millis() + delay_ms
    return message.copy(queue_name=dq_name(message.queue_name), options=options)


def redis_id(message: dramatiq.Message[Any]) -> str:
    """The id of ``message`` in Redis (each enqueue of it has its own)."""
    return str(message.options["redis_message_id"])


def queue_writes(
    pipe: redis.client.Pipeline | aredis.client.Pipeline,
    namespace: str,
    messages: Sequence[dramatiq.Message[Any]],
) -> None:
    """Queue on ``pipe`` what dramatiq's ``enqueue`` script writes for ``messages`` (each
    :func:`as_queued`): into each queue's hash, its messages' data under their ids, then the ids
    at its tail (the data first: a worker fetching in between finds no id without its message).
    Two commands per queue, where the script is a call per message."""
    batches: dict[str, dict[FieldT, EncodableT]] = {}
    for message in messages:
        batches.setdefault(message.queue_name, {})[redis_id(message)] = message.encode()
    for queue, batch in batches.items():
        pipe.hset(f"{namespace}:{queue}.msgs", mapping=batch)
        pipe.rpush(f"{namespace}:{queue}", *batch)


def delivery_queues(settings: Settings) -> list[str]:
    """Every queue deliveries wait in: each target's, the urgent ones, and the shared one."""
    return [
        *(queue_name(target) for target in delivery_targets(settings)),
        *(urgent_queue_name(target) for target in urgent_targets(settings)),
        DELIVERY_QUEUE,
    ]


def build_broker(settings: Settings) -> dramatiq.Broker:
    """Create the broker for ``settings``, with the queue of each of the deployment's targets and
    the shared one declared; after any fork, as brokers are not process-safe."""
    broker: dramatiq.Broker
    if settings.redis_url:
        broker = PipelinedRedisBroker(  # type: ignore[no-untyped-call]
            url=settings.redis_url, namespace=settings.redis_namespace
        )
    else:
        broker = StubBroker()
    for queue in delivery_queues(settings):
        broker.declare_queue(queue)
    return broker


def wake_up(queue: str, message_id: str) -> dramatiq.Message[None]:
    """The queue message that asks a worker of ``queue`` to deliver ``message_id``.

    A wake-up is enqueued once (a message woken again gets a new one), so its own id is also its
    id in Redis (:func:`as_queued`): one id made, not two, and no copy of the message.
    """
    own_id = unique_hex()
    return dramatiq.Message(
        queue_name=queue,
        actor_name=DELIVER_ACTOR,
        args=(message_id,),
        kwargs={},
        options={"redis_message_id": own_id},
        message_id=own_id,
    )


def queue_of(wake: Wake) -> str:
    """The queue whose threads serve ``wake``: its target's; the journal's for a step its adapter
    answers without sending the target anything (Bitrix24's ``account.read``); its target's
    urgent one for a step a person waits on (Bitrix24's comments). Neither may wait its turn
    behind the target's paced backlog: a customer being provisioned, or the manager reading
    what became of it, would wait minutes."""
    if wake.operation in REQUESTLESS.get(wake.target, frozenset()):
        return queue_name(JOURNAL_TARGET)
    if wake.operation in URGENT.get(wake.target, frozenset()):
        return urgent_queue_name(wake.target)
    return queue_name(wake.target)


def wake_ups(broker: dramatiq.Broker, wakes: Sequence[Wake]) -> list[dramatiq.Message[None]]:
    """The queue messages of ``wakes``, each on its queue (:func:`queue_of`) if ``broker`` has it
    (one declared by :func:`build_broker`), else on the shared one."""
    declared = broker.get_declared_queues()
    return [
        wake_up(queue if (queue := queue_of(wake)) in declared else DELIVERY_QUEUE, wake.message_id)
        for wake in wakes
    ]


def enqueue(broker: dramatiq.Broker, wakes: Sequence[Wake], *, delay_ms: int | None = None) -> None:
    """Put wake-ups for ``wakes`` on their queues (blocking: call it off the event loop)."""
    messages = wake_ups(broker, wakes)
    if isinstance(broker, PipelinedRedisBroker) and delay_ms is None:
        broker.enqueue_many(messages)
        return
    for message in messages:
        broker.enqueue(message, delay=delay_ms)
