"""One pace per target across every process: ``rate`` requests a second, ``burst`` at once.

A target that declares a pace (Bitrix24: 2 requests a second per portal) is paced by all worker
processes together, not by each on its own (two processes each at 2/s are 4/s at the portal).
With Redis (:class:`bus.adapters.shared.SharedRedis`) one Lua script keeps the pace under a key
of the bus's namespace that names the target and where it is (a portal's address, no secret):
GCRA, the leaky bucket kept as one number, the theoretical arrival time (TAT) of the next
request. Each request atomically reserves the next free moment and is told how long to wait for
it; the time is Redis's own (``TIME``), so the processes' clocks do not matter, and waiters are
served in the order they asked. Without Redis (the embedded deployment: one process) the same
arithmetic runs in the process; so it does, for a while, when Redis cannot be reached (logged
once): deliveries go on, each process at the full pace.

Served in the order they asked, a request a person waits on (the comment on a customer's
company that the manager reads) would wait behind every deal of a backlog: minutes. Requests made
inside :func:`ahead_of_backlog` wait for a small budget of their own instead, and the backlog pays
for each: the pace's next free moment moves one interval on. Over time the target sees the pace;
at once, at most :data:`AHEAD_BURST` requests more than the burst. (A limiter library such as
``aiolimiter`` has no way to let one request go ahead and have the queue pay for it.)

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
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

from bus.adapters.shared import UNREACHABLE, SharedRedis
from bus.errors import TransientError

#: The budget of the requests a person waits on (:func:`ahead_of_backlog`): this share of the
#: pace, this many at once (a few provisionings in a row, two requests each). Each is paid for
#: by the backlog (its next request goes one interval later), so the target sees the pace over
#: time and at most this many more at once: within Bitrix24's bucket of 50 beside the bus's
#: burst (at most 44). However many there are, the backlog keeps the other half of the pace.
AHEAD_SHARE = 0.5
AHEAD_BURST = 6

#: Reserve the next moment a request may go. KEYS[1]: the pace; KEYS[2], when given, the budget
#: of requests ahead of the backlog. ARGV: microseconds between requests, how many may go at
#: once, the longest wait the caller accepts (microseconds), and for KEYS[2] its microseconds
#: between requests and how many at once. Returns the microseconds to wait, or minus the wait
#: when it is longer than accepted (then nothing is reserved). A request ahead of the backlog
#: waits for its own budget only and moves the pace's next moment one interval on. Each key
#: expires when its bucket would be empty again.
GCRA = """
local now = redis.call('TIME')
local now_us = tonumber(now[1]) * 1000000 + tonumber(now[2])
local function next_moment(key, interval, burst)
  local tat = math.max(tonumber(redis.call('GET', key)) or now_us, now_us)
  return tat, math.max(tat - (burst - 1) * interval - now_us, 0)
end
local function take(key, tat, interval)
  local next_tat = tat + interval
  local expire_ms = math.ceil((next_tat - now_us) / 1000)
  redis.call('SET', key, string.format('%d', next_tat), 'PX', expire_ms)
end
local interval, burst, longest = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local key, own_interval, own_burst = KEYS[1], interval, burst
if #KEYS == 2 then
  key, own_interval, own_burst = KEYS[2], tonumber(ARGV[4]), tonumber(ARGV[5])
end
local tat, wait = next_moment(key, own_interval, own_burst)
if wait > longest then
  return -wait
end
take(key, tat, own_interval)
if #KEYS == 2 then
  take(KEYS[1], (next_moment(KEYS[1], interval, burst)), interval)
end
return wait
"""

_ahead: ContextVar[bool] = ContextVar("ahead_of_backlog", default=False)


@contextmanager
def ahead_of_backlog() -> Iterator[None]:
    """The requests made inside go ahead of the target's backlog: they wait for a budget of
    their own (:data:`AHEAD_SHARE` of the pace, :data:`AHEAD_BURST` at once), not behind the
    moments the backlog's requests have reserved. For the steps a person waits on (a comment
    the manager reads), not for bulk work."""
    token = _ahead.set(True)
    try:
        yield
    finally:
        _ahead.reset(token)


class Pace(Protocol):
    """Waits for the moment the next request to a target may go."""

    async def acquire(self, within: float) -> None:
        """Wait for this request's moment (ahead of the backlog inside
        :func:`ahead_of_backlog`).

        Raises:
            TransientError: (throttled) the moment is more than ``within`` seconds away;
                nothing was reserved.
        """
        ...


class _Bucket:
    """GCRA in this process: the script's arithmetic, on the event loop's clock."""

    def __init__(self, rate: float, burst: int) -> None:
        self._interval = 1.0 / rate
        self._burst = burst
        self._tat = 0.0

    def wait(self, now: float) -> float:
        """Seconds from ``now`` until the next request may go."""
        return max(max(self._tat, now) - (self._burst - 1) * self._interval - now, 0.0)

    def take(self, now: float) -> None:
        """Reserve the next moment."""
        self._tat = max(self._tat, now) + self._interval


class LocalPace:
    """The pace kept by this process alone: a leaky bucket of ``burst`` draining ``rate``/s."""

    def __init__(self, name: str, rate: float, burst: int) -> None:
        self._name = name
        self._pace = _Bucket(rate, burst)
        self._ahead = _Bucket(rate * AHEAD_SHARE, AHEAD_BURST)

    async def acquire(self, within: float) -> None:
        """See :meth:`Pace.acquire`."""
        now = asyncio.get_running_loop().time()
        own = self._ahead if _ahead.get() else self._pace
        wait = own.wait(now)
        if wait > within:
            raise _too_far(self._name, wait)
        own.take(now)
        if own is self._ahead:
            self._pace.take(now)  # the backlog pays for it
        if wait:
            await asyncio.sleep(wait)


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
        self._pace_args = [_interval_us(rate), burst]
        self._ahead_key = f"{key}:ahead"
        self._ahead_args = [_interval_us(rate * AHEAD_SHARE), AHEAD_BURST]
        self._fallback = fallback

    async def acquire(self, within: float) -> None:
        """See :meth:`Pace.acquire`."""
        if not self._shared.usable:
            await self._fallback.acquire(within)
            return
        longest_us = max(0, math.floor(within * 1_000_000))
        keys, args = [self._key], [*self._pace_args, longest_us]
        if _ahead.get():
            keys, args = [*keys, self._ahead_key], [*args, *self._ahead_args]
        try:
            wait_us = int(await self._script(keys=keys, args=args))
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


def _interval_us(rate: float) -> int:
    return max(1, round(1_000_000 / rate))


def _too_far(name: str, wait: float) -> TransientError:
    return TransientError(
        f"{name}: its pace lets the next request go in {wait:.1f}s or later, past this attempt",
        retry_after=wait,
        throttled=True,
    )
