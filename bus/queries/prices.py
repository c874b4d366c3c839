"""``prices.get``: personal prices from the ERP within a time budget, with a stale fallback.

A call takes at most ``prices.budget`` seconds whatever the ERP does. Inside the budget a failed
request is retried (tenacity, short jittered waits). Fresh answers are cached for ``cache_ttl``
(per customer, item and quantity: quantity breaks change the price). When the ERP cannot answer
(down, slow, failing, or its breaker is open) the last known prices are returned flagged
``stale``, if they are not older than ``stale_for``; otherwise the caller gets
``UpstreamUnavailable`` with ``retry_after``. The breaker is per process: consecutive failures open
it, and while it is open calls do not wait for the ERP at all.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random

from bus.adapters.pricing import PriceSource, Quote
from bus.errors import (
    PermanentError,
    TransientError,
    UnknownOutcome,
    UpstreamRefused,
    UpstreamUnavailable,
)
from bus.settings import BreakerSettings, PricesSettings

log = logging.getLogger(__name__)

Key = tuple[str, str, float]


@dataclass(frozen=True)
class _Known:
    quote: Quote
    fetched: float  # monotonic seconds
    as_of: dt.datetime


class _Breaker:
    """Consecutive failures open it for ``cooldown`` seconds; the next call after that probes."""

    def __init__(self, settings: BreakerSettings, clock: Callable[[], float]) -> None:
        self._settings = settings
        self._clock = clock
        self._failures = 0
        self._open_until = 0.0

    def remaining(self) -> float:
        """Seconds until the ERP is asked again; 0 when it may be asked now."""
        return max(0.0, self._open_until - self._clock())

    def succeeded(self) -> None:
        self._failures = 0

    def failed(self) -> None:
        self._failures += 1
        if self._failures >= self._settings.failure_threshold:
            self._open_until = self._clock() + self._settings.cooldown


class PriceService:
    """Answers ``prices.get`` for one ERP.

    Parameters:
        settings: budget, cache and breaker settings.
        source: the ERP's price query.
        system: the ERP's name, for errors.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        settings: PricesSettings,
        source: PriceSource,
        system: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._source = source
        self._system = system
        self._clock = clock
        self._known: OrderedDict[Key, _Known] = OrderedDict()
        self._breaker = _Breaker(settings.breaker, clock)

    async def get(self, customer: str, lines: list[tuple[str, float]]) -> dict[str, Any]:
        """The prices of ``lines`` for ``customer`` (see the module docstring)."""
        keys = [(customer, item, quantity) for item, quantity in lines]
        known = [self._known.get(key) for key in keys]
        if all(k is not None and self._age(k) <= self._settings.cache_ttl for k in known):
            return self._answer(customer, [k for k in known if k is not None], stale=False)
        wait = self._breaker.remaining()
        if wait > 0:
            return self._fallback(customer, keys, f"{self._system} is failing", wait)
        try:
            quotes = await self._ask(customer, lines)
        except PermanentError as refused:
            self._breaker.succeeded()  # it answered
            raise UpstreamRefused({"system": self._system, "reason": refused.detail}) from None
        except (TransientError, UnknownOutcome, TimeoutError) as failure:
            self._breaker.failed()
            reason = getattr(failure, "detail", None) or f"no answer within {self._budget:g}s"
            retry_after = self._breaker.remaining() or 1.0
            return self._fallback(customer, keys, reason, retry_after)
        self._breaker.succeeded()
        fresh = [self._remember(key, quote) for key, quote in zip(keys, quotes, strict=True)]
        return self._answer(customer, fresh, stale=False)

    @property
    def _budget(self) -> float:
        return self._settings.budget

    async def _ask(self, customer: str, lines: list[tuple[str, float]]) -> list[Quote]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._budget
        async with asyncio.timeout(self._budget):
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(TransientError),
                stop=stop_after_attempt(3),
                wait=wait_random(0.02, 0.1),
                reraise=True,
            ):
                with attempt:
                    timeout = min(self._settings.attempt_timeout, deadline - loop.time())
                    return await self._source.quote(customer, lines, timeout)
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    def _remember(self, key: Key, quote: Quote) -> _Known:
        known = _Known(quote, self._clock(), dt.datetime.now(dt.UTC))
        self._known[key] = known
        self._known.move_to_end(key)
        while len(self._known) > self._settings.cache_size:
            self._known.popitem(last=False)
        return known

    def _fallback(
        self, customer: str, keys: list[Key], reason: str, retry_after: float
    ) -> dict[str, Any]:
        known = [self._known.get(key) for key in keys]
        usable = [k for k in known if k is not None and self._age(k) <= self._settings.stale_for]
        if len(usable) < len(keys):
            data = {"system": self._system, "reason": reason, "retry_after": round(retry_after, 1)}
            raise UpstreamUnavailable(data)
        log.warning("prices for %s answered stale: %s", customer, reason)
        return self._answer(customer, usable, stale=True)

    def _age(self, known: _Known) -> float:
        return self._clock() - known.fetched

    def _answer(self, customer: str, known: list[_Known], *, stale: bool) -> dict[str, Any]:
        return {
            "customer": customer,
            "currency": self._source.currency,
            "stale": stale,
            "as_of": min(k.as_of for k in known).isoformat(),
            "prices": [
                {
                    "item": k.quote.item,
                    "quantity": k.quote.quantity,
                    "price": k.quote.price,
                    "kind": k.quote.kind,
                    "promo": k.quote.promo,
                }
                for k in known
            ],
        }
