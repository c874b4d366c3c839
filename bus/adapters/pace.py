"""One pace per target across every process: ``rate`` requests a second, ``burst`` at once.

A target that declares a pace (Bitrix24: 2 requests a second per portal) is paced by all worker
processes together, not by each on its own (two processes each at 2/s are 4/s at the portal).
With Redis (:class:`bus.adapters.shared.SharedRedis`) one Lua script keeps the pace under a key
of the bus's namespace that names the target and where it is (a portal's address, no secret):
GCRA, the leaky bucket kept as one number, the theoretical arrival time (TAT) of the next
request. Each request atomically reserves the next free moment and is told how long to wait for
it; the time is Redis's own (``TIME``), so the processes' clocks do not matter, and waiters are
served in the order they asked. Without Redis (the embedded deployment: one process) the pace is
an in-process :class:`aiolimiter.AsyncLimiter`, the same leaky bucket; so it is, for a while,
when Redis cannot be reached (logged once): deliveries go on, each process at the full pace.

A library of windows (``limits``: fixed, moving and sliding-counter windows that are hit or
tested) cannot wait for a slot: waiting would be polling until a window resets, unfair between
waiters and letting a whole window go at each boundary. A reservation that returns its wait
needs no polling.

A wait longer than the caller can spend (the rest of its attempt) reserves nothing and raises a
throttled :class:`bus.errors.TransientError` with the wait: the message is delayed without
counting an attempt, and no request is cut half-way by the attempt's timeout.
"""

from __future__ import annotations

import asyncio
import math
from typing import Protocol

from aiolimiter import AsyncLimiter

from bus.adapters.shared import UNREACHABLE, SharedRedis
from bus.errors import TransientError

#: Reserve the next moment a request may go. KEYS[1]: the pace. ARGV: microseconds between
#: requests, how many may go at once, the longest wait the caller accepts (microseconds).
#: Returns the microseconds to wait, or minus the wait when it is longer than accepted (then
#: nothing is reserved). The key expires when the bucket would be empty again.
GCRA = """
local now = redis.call('TIME')
local now_us = tonumber(now[1]) * 1000000 + tonumber(now[2])
local interval, burst, longest = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = math.max(tonumber(redis.call('GET', KEYS[1])) or now_us, now_us)
local wait = math.max(tat - (burst - 1) * interval - now_us, 0)
if wait > longest then
  return -wait
end
local next_tat = tat + interval
local expire_ms = math.ceil((next_tat - now_us) / 1000)
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', expire_ms)
return wait
"""


class Pace(Protocol):
    """Waits for the moment the next request to a target may go."""

    async def acquire(self, within: float) -> None:
        """Wait for this request's moment.

        Raises:
            TransientError: (throttled) the moment is more than ``within`` seconds away;
                nothing was reserved.
        """
        ...


class LocalPace:
    """The pace kept by this process alone: a leaky bucket of ``burst`` draining ``rate``/s."""

    def __init__(self, name: str, rate: float, burst: int) -> None:
        self._name = name
        self._limiter = AsyncLimiter(burst, burst / rate)

    async def acquire(self, within: float) -> None:
        """See :meth:`Pace.acquire`."""
        try:
            async with asyncio.timeout(max(within, 0.0)):
                await self._limiter.acquire()
        except TimeoutError:
            raise _too_far(self._name, within) from None


class SharedPace:
    """The pace kept by every process together, through Redis (see the module docstring).

    Parameters:
        name: the target, for errors.
        key: the pace's key in Redis.
        fallback: the process's own pace while Redis cannot be reached.
    """

    def __init__(
        self, shared: SharedRedis, name: str, key: str, rate: float, burst: int, fallback: Pace
    ) -> None:
        self._shared = shared
        self._script = shared.client.register_script(GCRA)
        self._name = name
        self._key = key
        self._interval_us = max(1, round(1_000_000 / rate))
        self._burst = burst
        self._fallback = fallback

    async def acquire(self, within: float) -> None:
        """See :meth:`Pace.acquire`."""
        if not self._shared.usable:
            await self._fallback.acquire(within)
            return
        longest_us = max(0, math.floor(within * 1_000_000))
        try:
            wait_us = int(
                await self._script(
                    keys=[self._key], args=[self._interval_us, self._burst, longest_us]
                )
            )
        except UNREACHABLE as error:
            self._shared.failed(f"the pace of {self._name}", error)
            await self._fallback.acquire(within)
            return
        self._shared.answered()
        if wait_us < 0:
            raise _too_far(self._name, -wait_us / 1_000_000)
        if wait_us:
            await asyncio.sleep(wait_us / 1_000_000)


def target_pace(
    target: str, where: str, rate: float, burst: int, shared: SharedRedis | None
) -> Pace:
    """The pace of ``target`` at ``where`` (an address without secrets: a portal's URL),
    shared by every process when the deployment has Redis, else kept by this process."""
    local = LocalPace(target, rate, burst)
    if shared is None:
        return local
    return SharedPace(shared, target, shared.key("pace", target, where), rate, burst, local)


def _too_far(name: str, wait: float) -> TransientError:
    return TransientError(
        f"{name}: its pace lets the next request go in {wait:.1f}s or later, past this attempt",
        retry_after=wait,
        throttled=True,
    )
