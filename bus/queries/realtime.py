"""Real-time queries to a system under a time budget, with a cache and a stale fallback.

A call takes at most ``budget`` seconds whatever the system does. Inside the budget a transient
failure is retried (tenacity, short jittered waits), each request bounded by ``attempt_timeout``.
Fresh answers are kept ``cache_ttl`` seconds per key in a bounded LRU. When the system cannot
answer (down, slow, failing, or its breaker is open) the last known answers come back flagged
stale if none is older than ``stale_for``; otherwise the caller gets ``UpstreamUnavailable`` with
``retry_after``. The breaker is per process: consecutive failures open it, and while it is open
calls do not wait for the system at all. A refusal (``PermanentError``) is ``UpstreamRefused``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random

from bus.adapters.erp_queries import ErpQueries
from bus.errors import (
    PermanentError,
    TransientError,
    UnknownOutcome,
    UpstreamRefused,
    UpstreamUnavailable,
)
from bus.settings import BreakerSettings, RealtimeSettings

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: ``fetch(timeout)``: one request for every key asked, answers in the same order.
Fetch = Callable[[float], Awaitable[Sequence[V]]]


@dataclass(frozen=True)
class Known(Generic[V]):
    """An answer and when it was fetched (monotonic seconds, and wall-clock for callers)."""

    value: V
    fetched: float
    as_of: dt.datetime


@dataclass(frozen=True)
class Answer(Generic[V]):
    """The answers for the keys asked, in order; ``stale`` when they are last known ones."""

    values: list[V]
    stale: bool
    as_of: dt.datetime


class _Breaker:
    """Consecutive failures open it for ``cooldown`` seconds; the next call after that probes."""

    def __init__(self, settings: BreakerSettings, clock: Callable[[], float]) -> None:
        self._settings = settings
        self._clock = clock
        self._failures = 0
        self._open_until = 0.0

    def remaining(self) -> float:
        """Seconds until the system is asked again; 0 when it may be asked now."""
        return max(0.0, self._open_until - self._clock())

    def succeeded(self) -> None:
        self._failures = 0

    def failed(self) -> None:
        self._failures += 1
        if self._failures >= self._settings.failure_threshold:
            self._open_until = self._clock() + self._settings.cooldown


class RealtimeQuery(Generic[K, V]):
    """One kind of query to one system (see the module docstring).

    Parameters:
        settings: budget, cache and breaker settings.
        system: the system's name, for errors.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        settings: RealtimeSettings,
        system: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._system = system
        self._clock = clock
        self._known: OrderedDict[K, Known[V]] = OrderedDict()
        self._breaker = _Breaker(settings.breaker, clock)

    async def ask(self, keys: list[K], fetch: Fetch[V]) -> Answer[V]:
        """The answers for ``keys``: cached, fetched within the budget, or last known."""
        known = [self._known.get(key) for key in keys]
        cached = [k for k in known if k is not None]
        if len(cached) == len(keys) and all(
            self._age(k) <= self._settings.cache_ttl for k in cached
        ):
            return self._answer(cached, stale=False)
        wait = self._breaker.remaining()
        if wait > 0:
            return self._fallback(keys, f"{self._system} is failing", wait)
        try:
            values = await self._fetch(fetch)
        except PermanentError as refused:
            self._breaker.succeeded()  # it answered
            raise UpstreamRefused({"system": self._system, "reason": refused.detail}) from None
        except (TransientError, UnknownOutcome, TimeoutError) as failure:
            self._breaker.failed()
            budget = self._settings.budget
            reason = getattr(failure, "detail", None) or f"no answer within {budget:g}s"
            return self._fallback(keys, reason, self._breaker.remaining() or 1.0)
        self._breaker.succeeded()
        fresh = [self._remember(key, value) for key, value in zip(keys, values, strict=True)]
        return self._answer(fresh, stale=False)

    async def _fetch(self, fetch: Fetch[V]) -> Sequence[V]:
        loop = asyncio.get_running_loop()
        budget = self._settings.budget
        deadline = loop.time() + budget
        async with asyncio.timeout(budget):
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(TransientError),
                stop=stop_after_attempt(3),
                wait=wait_random(0.02, 0.1),
                reraise=True,
            ):
                with attempt:
                    return await fetch(min(self._settings.attempt_timeout, deadline - loop.time()))
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    def _remember(self, key: K, value: V) -> Known[V]:
        known = Known(value, self._clock(), dt.datetime.now(dt.UTC))
        self._known[key] = known
        self._known.move_to_end(key)
        while len(self._known) > self._settings.cache_size:
            self._known.popitem(last=False)
        return known

    def _fallback(self, keys: list[K], reason: str, retry_after: float) -> Answer[V]:
        known = [self._known.get(key) for key in keys]
        usable = [k for k in known if k is not None and self._age(k) <= self._settings.stale_for]
        if len(usable) < len(keys):
            data = {"system": self._system, "reason": reason, "retry_after": round(retry_after, 1)}
            raise UpstreamUnavailable(data)
        log.warning("%s answered from last known values: %s", self._system, reason)
        return self._answer(usable, stale=True)

    def _age(self, known: Known[V]) -> float:
        return self._clock() - known.fetched

    @staticmethod
    def _answer(known: list[Known[V]], *, stale: bool) -> Answer[V]:
        return Answer([k.value for k in known], stale, min(k.as_of for k in known))


class ErpQuery(Generic[K, V]):
    """The base of a real-time ERP query service: the ERP's queries and a :class:`RealtimeQuery`.

    Parameters:
        settings: budget, cache and breaker settings.
        source: the ERP's queries.
        system: the ERP's name, for errors.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        settings: RealtimeSettings,
        source: ErpQueries,
        system: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._query: RealtimeQuery[K, V] = RealtimeQuery(settings, system, clock)
