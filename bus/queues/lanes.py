"""Delivery lanes on the worker's event loop, for a Redis broker.

With Redis, a worker process serves each of its queues with an :class:`AsyncLane`: a task on the
process's event loop that fetches up to ``threads`` wake-ups at a time with dramatiq's own Redis
script, runs an attempt for each as a task of the same loop, and acknowledges those done in one
pipelined round trip. Nothing crosses a thread: dramatiq's worker would hand every message from
its consumer thread to a worker thread and from there to the loop and back, and acknowledge each
in a round trip of its own, which together cost about a fifth of a delivery's CPU.

An attempt that ends while wake-ups wait in the lane hands its task to the next one, taken as
it finishes, so that its finish claims that message on its way: one round trip and one commit to
the journal instead of two (:class:`bus.journal.delivery.Ahead`).

The queues, their messages and their keys are dramatiq's (:class:`~bus.queues.broker.
PipelinedRedisBroker` builds the script's arguments as dramatiq does): API processes enqueue as
before, a wake-up a lane holds is in this worker's acknowledgement set under its heartbeat, and
a worker that dies has its wake-ups handed back by dramatiq's maintenance. Delayed wake-ups (a
retry's) wait in the queue's delay queue; a lane moves each onto its queue when it is due, as
dramatiq's consumer does.

A wake-up is acknowledged once its attempt ended, whatever it did: the journal, not the queue,
says what is left to do (a lost wake-up is found again by the sweeper).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import dramatiq
from dramatiq.common import compute_backoff, current_millis, dq_name
from redis.exceptions import RedisError

from bus.queues.broker import redis_id
from bus.queues.redis_queues import RedisQueues

log = logging.getLogger(__name__)

#: Delayed wake-ups a lane holds at once until they are due (the rest wait in Redis).
_DELAYED_HELD = 100
#: Seconds at most between looks at a delay queue: a retry's delay is seconds long, and an idle
#: lane would otherwise ask Redis twice per poll.
_DELAYED_POLL = 1.0
#: Seconds between tries while Redis cannot be reached.
_REDIS_BACKOFF = 1.0
#: Seconds a stop waits for the attempts it cut to hand back what they took.
_CUT_HAND_BACK = 1.0


#: ``deliver(message_id, take_next)``: one attempt; it may call ``take_next()`` once, as it
#: finishes, for the id of the lane's next wake-up, which the same task runs next (its finish
#: claims that message on its way: :class:`bus.journal.delivery.Ahead`).
Deliver = Callable[[str, Callable[[], str | None]], Awaitable[object]]


class AsyncLane:
    """One queue's wake-ups, ``threads`` attempts at a time, on the running event loop.

    Wake-ups are fetched ahead as dramatiq's worker does (``dramatiq_queue_prefetch``, by
    default twice the threads), so an attempt that ends is followed at once without a round
    trip; acknowledgements go in batches of half the lane, and before the lane waits.

    Parameters:
        queues: Redis access.
        queue: the queue's name.
        threads: attempts under way at most.
        deliver: runs one attempt for a message id.
        poll: seconds between fetches while the queue is empty (``queue.worker_timeout_ms``).
        limit: seconds an attempt may take with its bookkeeping (the lease, as dramatiq's
            ``time_limit`` was).
    """

    def __init__(
        self,
        queues: RedisQueues,
        queue: str,
        threads: int,
        deliver: Deliver,
        poll: float,
        limit: float,
    ) -> None:
        self.queue = queue
        self._delay_queue = dq_name(queue)
        self._queues = queues
        self._threads = threads
        # as many as dramatiq's worker holds: its prefetch setting, or twice the threads
        self._prefetch = max(threads, int(os.getenv("dramatiq_queue_prefetch", 0)) or 2 * threads)
        self._ack_batch = max(1, threads // 2)
        self._deliver = deliver
        self._poll = poll
        self._limit = limit
        self._ready: deque[dramatiq.Message[Any]] = deque()  # fetched ahead, not started
        self._running: set[asyncio.Task[None]] = set()
        self._done: list[str] = []  # acknowledgements not yet sent
        self._delayed: list[tuple[int, str, dramatiq.Message[Any]]] = []  # (eta, id, message)
        self._next_delayed_fetch = 0
        self._woken = asyncio.Event()
        self._stopping = False
        self._redis_down = False
        self._misses = 0  # fetches in a row that found the queue empty
        self._serving: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Serve the queue from now on, until :meth:`stop` (on the running loop)."""
        self._serving = asyncio.create_task(self._serve())

    async def _serve(self) -> None:
        while not self._stopping:
            try:
                await self._round()
            except RedisError as error:
                self._say_redis_down(error)
                await asyncio.sleep(_REDIS_BACKOFF)
            except Exception:  # a bug must not end the lane: its queue would wait for ever
                log.exception("%s: a round of the lane failed", self.queue)
                await asyncio.sleep(_REDIS_BACKOFF)

    async def stop(self, grace: float) -> int:
        """Take nothing more; let the attempts under way finish for ``grace`` seconds (the rest
        are cut: their leases expire and the sweeper hands them on); acknowledge what is done and
        hand back what was fetched ahead. Returns how many attempts were cut."""
        self._stopping = True
        self._woken.set()
        if self._serving is not None:  # its round ends after the Redis call under way, if any
            await asyncio.wait([self._serving], timeout=_REDIS_BACKOFF + 5)
        cut = 0
        if self._running:
            _, late = await asyncio.wait(set(self._running), timeout=grace)
            for task in late:
                task.cancel()
            if late:  # each hands back the wake-up it took to run next, if any
                await asyncio.wait(late, timeout=_CUT_HAND_BACK)
            cut = len(late)
        try:
            await self._acknowledge()
            await self._queues.requeue(self.queue, [redis_id(m) for m in self._ready])
            await self._queues.requeue(self._delay_queue, [redis_id(m) for *_, m in self._delayed])
        except RedisError as error:  # dramatiq's maintenance hands them back once we are gone
            log.warning("stopping: %s: could not hand back to Redis: %s", self.queue, error)
        return cut

    async def _round(self) -> None:
        self._woken.clear()  # before looking: an attempt ending from here on wakes the wait
        await self._move_due_delayed()
        held = len(self._ready) + len(self._running)
        wait = self._until_next_delayed()
        if self._wants_more(held) and not self._stopping:  # fetch ahead
            fetched = await self._queues.fetch(self.queue, self._prefetch - held)
            self._ready.extend(fetched)
            self._redis_down = False
            wait = min(wait, self._backoff(found=bool(fetched)))
        while self._ready and len(self._running) < self._threads and not self._stopping:
            self._start_attempt(self._ready.popleft())
        idle = not self._ready and len(self._running) < self._threads
        if idle or len(self._done) >= self._ack_batch:
            await self._acknowledge()
        if not self._stopping:
            await self._wait(wait)

    def _wants_more(self, held: int) -> bool:
        """Whether to fetch: a slot is free, or half the threads' worth of wake-ups or fewer
        wait to be handed on (so that attempts that end find their next one waiting:
        :meth:`_attempt`), while the lane holds fewer than its prefetch."""
        if held < self._threads:
            return True
        return len(self._ready) <= self._threads // 2 and held < self._prefetch

    def _backoff(self, found: bool) -> float:
        """Seconds until the queue is looked at again: at once after a fetch that found
        something; after one that found nothing, 5 ms, then twice as long each time up to the
        poll (dramatiq's consumer's backoff, without its jitter), so a message arriving on a
        quiet queue waits milliseconds while an idle one is asked ``1 / poll`` times a second."""
        if found:
            self._misses = 0
            return 0.0
        poll_ms = int(self._poll * 1000)
        self._misses, backoff_ms = compute_backoff(self._misses, jitter=False, max_backoff=poll_ms)
        if backoff_ms < poll_ms:
            return backoff_ms / 1000
        # Idle: on the poll's ticks of the loop's clock, shared by every idle lane of the
        # process, so that their looks are answered in one wake-up of the loop, not one each
        # (eight lanes apart cost three times the CPU).
        return self._poll - asyncio.get_running_loop().time() % self._poll

    def _start_attempt(self, message: dramatiq.Message[Any]) -> None:
        task = asyncio.create_task(self._attempt(message))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _attempt(self, message: dramatiq.Message[Any]) -> None:
        """Attempts one after another in the slot: each finish takes the next wake-up, if one
        is waiting, so that it claims that message on its way."""
        following: dramatiq.Message[Any] | None = message
        while following is not None:
            following = await self._attempt_one(following)

    async def _attempt_one(self, message: dramatiq.Message[Any]) -> dramatiq.Message[Any] | None:
        """One attempt; the wake-up it took to run next, if any."""
        [message_id] = message.args
        taken: list[dramatiq.Message[Any]] = []

        def take_next() -> str | None:
            if self._stopping or not self._ready or taken:
                return None
            taken.append(self._ready.popleft())
            [next_id] = taken[0].args
            return str(next_id)

        try:
            async with asyncio.timeout(self._limit):
                await self._deliver(message_id, take_next)
        except Exception:  # the attempt's own errors are its record; this is a bug or the journal
            log.exception("delivery of %s from %s failed", message_id, self.queue)
        except BaseException:
            # Cut by the stop: unacknowledged, dramatiq's maintenance hands it back once this
            # worker is gone; what it took goes back with the lane's others.
            self._ready.extendleft(taken)
            raise
        self._done.append(redis_id(message))
        self._woken.set()
        return taken[0] if taken else None

    async def _acknowledge(self) -> None:
        done = list(self._done)
        await self._queues.ack(self.queue, done)
        del self._done[: len(done)]  # kept for the next try if Redis could not be reached

    async def _move_due_delayed(self) -> None:
        """Fetch the delay queue now and then; put each due wake-up on the queue itself."""
        now = current_millis()
        if self._stopping:
            return
        if now >= self._next_delayed_fetch and len(self._delayed) < _DELAYED_HELD:
            self._next_delayed_fetch = now + int(max(self._poll, _DELAYED_POLL) * 1000)
            for message in await self._queues.fetch(
                self._delay_queue, _DELAYED_HELD - len(self._delayed)
            ):
                eta = int(message.options.get("eta", 0))
                heapq.heappush(self._delayed, (eta, redis_id(message), message))
        due: list[dramatiq.Message[Any]] = []
        while self._delayed and self._delayed[0][0] <= now:
            due.append(heapq.heappop(self._delayed)[2])
        if due:  # on the queue first, then gone from the delay queue: never lost between
            await self._queues.enqueue([message.copy(queue_name=self.queue) for message in due])
            await self._queues.ack(self._delay_queue, [redis_id(message) for message in due])

    def _until_next_delayed(self) -> float:
        if not self._delayed:
            return self._poll
        return max(0.0, min(self._poll, (self._delayed[0][0] - current_millis()) / 1000))

    async def _wait(self, seconds: float) -> None:
        """Until ``seconds`` pass or an attempt ends (a slot is free, an acknowledgement due)."""
        try:
            async with asyncio.timeout(seconds):
                await self._woken.wait()
        except TimeoutError:
            pass

    def _say_redis_down(self, error: RedisError) -> None:
        if not self._redis_down:
            log.warning(
                "%s: Redis cannot be reached (%s); trying again every %gs",
                self.queue,
                error,
                _REDIS_BACKOFF,
            )
        self._redis_down = True
