"""dramatiq's Redis queues, from an event loop.

dramatiq's Redis broker speaks to Redis with a blocking client, so an event loop can only use it
from a thread: a hop per call, and a thread contending for the GIL with the loop. A
:class:`RedisQueues` makes the same calls with an asyncio client: dramatiq's own dispatch script
with the arguments the broker builds (:meth:`~bus.queues.broker.PipelinedRedisBroker.
dispatch_args`: its worker id and heartbeat, a chance of maintenance), so every process, whichever
client it uses, reads and writes the same queues. A message enqueued here is what
``RedisBroker.enqueue`` writes (:func:`~bus.queues.broker.queue_writes`), less its middleware's
hooks (the bus's broker runs none that act on an enqueue).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dramatiq
import redis.asyncio as aredis
from redis.exceptions import NoScriptError

from bus.queues.broker import PipelinedRedisBroker, as_queued, queue_writes

#: Seconds a call to Redis may take: every call is a short script, or a pipeline of them.
CALL_TIMEOUT = 10.0


class RedisQueues:
    """Fetch, acknowledge, hand back and enqueue on the broker's queues, on the running loop.

    Parameters:
        broker: the process's broker (its namespace, its worker id and heartbeat, its script).
        client: an asyncio Redis client of the broker's server.
    """

    def __init__(self, broker: PipelinedRedisBroker, client: aredis.Redis) -> None:
        self._broker = broker
        self._client = client
        self._script = client.register_script(broker.scripts["dispatch"].script)

    @classmethod
    def of(cls, broker: PipelinedRedisBroker, redis_url: str) -> RedisQueues:
        """The queues of ``broker``, through a client of its own to ``redis_url``: a call that
        gets no answer within :data:`CALL_TIMEOUT` fails (a Redis that drops packets would
        otherwise hold a lane, or an accept's wake-ups, for as long as the connection lives)."""
        client = aredis.Redis.from_url(
            redis_url, socket_timeout=CALL_TIMEOUT, socket_connect_timeout=CALL_TIMEOUT
        )
        return cls(broker, client)

    async def fetch(self, queue: str, count: int) -> list[dramatiq.Message[Any]]:
        """Take up to ``count`` messages of ``queue`` (into this worker's acknowledgement set)."""
        found = await self._call("fetch", queue, count)
        return [dramatiq.Message.decode(data) for data in found if data is not None]

    async def ack(self, queue: str, redis_ids: list[str]) -> None:
        """Acknowledge ``redis_ids`` of ``queue``: done, gone from Redis."""
        await self._pipelined([("ack", queue, [redis_id]) for redis_id in redis_ids])

    async def requeue(self, queue: str, redis_ids: list[str]) -> None:
        """Hand ``redis_ids`` of ``queue`` back, unrun, for any worker to take."""
        if redis_ids:
            await self._call("requeue", queue, *redis_ids)

    async def enqueue(
        self, messages: Sequence[dramatiq.Message[Any]], delay_ms: int | None = None
    ) -> None:
        """Put ``messages`` on their queues in one round trip (:func:`~bus.queues.broker.
        queue_writes`); with ``delay_ms``, on their delay queues, due then."""
        if not messages:
            return
        async with self._client.pipeline(transaction=False) as pipe:
            queued = [as_queued(message, delay_ms) for message in messages]
            queue_writes(pipe, self._broker.namespace, queued)
            await pipe.execute()

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self._client.aclose()

    async def _pipelined(self, commands: list[tuple[str, str, list[Any]]]) -> None:
        """Run the script once per command, in one round trip. By its hash, not as redis-py runs
        a script in a pipeline (it asks the server whether the script exists before every
        pipeline: a round trip more); loaded again if the server lost it (a restart), and the
        commands sent again (an acknowledgement is idempotent)."""
        if not commands:
            return
        namespace = str(self._broker.namespace)
        for last_try in (False, True):
            async with self._client.pipeline(transaction=False) as pipe:
                for command, queue, args in commands:
                    arguments = self._broker.dispatch_args(command, queue, *args)
                    pipe.evalsha(self._script.sha, 1, namespace, *arguments)
                try:
                    await pipe.execute()
                    return
                except NoScriptError:
                    if last_try:
                        raise
            self._script.sha = await self._client.script_load(self._script.script)

    async def _call(self, command: str, queue: str, *args: Any) -> Any:
        arguments = self._broker.dispatch_args(command, queue, *args)
        return await self._script(keys=[str(self._broker.namespace)], args=arguments)
