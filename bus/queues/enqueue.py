"""Enqueueing after commit, without blocking the event loop, with the sweeper as the safety net.

With Redis, wake-ups go through the loop's own Redis client (:class:`~bus.queues.redis_queues.
RedisQueues`: one pipelined round trip for a batch, no thread); the embedded queue is enqueued
from a thread, as its broker's calls block.

A message is journaled with ``queued_at`` set, on the expectation that its wake-up follows at once.
If the enqueue fails (Redis down), ``queued_at`` is cleared so the sweeper re-enqueues it at its
next round; if the process dies in between, the sweeper finds it after ``requeue_after``.
"""

from __future__ import annotations

import asyncio
import logging

import dramatiq
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import writing
from bus.journal.tables import messages
from bus.journal.wakes import Wake, ids
from bus.queues.broker import enqueue, wake_ups
from bus.queues.redis_queues import RedisQueues

log = logging.getLogger(__name__)


class Enqueuer:
    """Sends wake-ups for committed messages in the background of an event loop.

    Parameters:
        broker: where wake-ups go.
        engine: the journal, to clear ``queued_at`` of messages whose enqueue failed.
        queues: the broker's Redis queues on this loop (a Redis broker), else ``None``.
    """

    def __init__(
        self, broker: dramatiq.Broker, engine: AsyncEngine, queues: RedisQueues | None = None
    ) -> None:
        self._broker = broker
        self._engine = engine
        self._queues = queues
        self._pending: set[asyncio.Task[None]] = set()

    def submit(self, wakes: list[Wake], *, delay_ms: int | None = None) -> None:
        """Enqueue ``wakes`` soon, without making the caller wait."""
        if not wakes:
            return
        task = asyncio.create_task(self.send(wakes, delay_ms=delay_ms))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def send(self, wakes: list[Wake], *, delay_ms: int | None = None) -> None:
        """Enqueue ``wakes`` now; on failure leave them to the sweeper."""
        try:
            if self._queues is not None:
                await self._queues.enqueue(wake_ups(self._broker, wakes), delay_ms)
            else:
                await asyncio.to_thread(enqueue, self._broker, wakes, delay_ms=delay_ms)
        except Exception:
            log.warning(
                "enqueue of %d message(s) failed; the sweeper will retry them",
                len(wakes),
                exc_info=True,
            )
            await self._leave_to_sweeper(ids(wakes))

    async def drain(self) -> None:
        """Wait for every enqueue still under way (at shutdown)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def _leave_to_sweeper(self, message_ids: list[str]) -> None:
        try:
            async with writing(self._engine) as conn:
                await conn.execute(
                    update(messages).where(messages.c.id.in_(message_ids)).values(queued_at=None)
                )
        except Exception:
            # Nothing is lost: the sweeper also re-enqueues messages queued long ago and unclaimed.
            log.warning(
                "could not flag %d message(s) for the sweeper", len(message_ids), exc_info=True
            )
