"""Per-client limits of the JSON-RPC edge: a call rate (token bucket) and requests in flight.

One key must not be able to flood the edge: each client has a bucket of ``client_burst`` calls that
refills at ``client_rate`` calls per second (a batch takes one token per call), and at most
``client_concurrency`` of its HTTP requests are served at once. What is over either limit is
refused at once with :class:`bus.errors.RateLimited` and how long to wait; nothing queues, so a
flooding client cannot hold memory or sockets of the edge either.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bus.errors import RateLimited
from bus.settings import Limits

#: What a client refused for its concurrency is told to wait: a request in flight is short.
CONCURRENCY_RETRY_AFTER = 1.0


@dataclass
class _Bucket:
    tokens: float
    stamp: float
    in_flight: int = 0


class ClientLimits:
    """The rate and concurrency limits of every client, kept in this process.

    Parameters:
        limits: the edge's limits (``client_rate``, ``client_burst``, ``client_concurrency``).
        clock: monotonic seconds (a parameter so the arithmetic can be checked without sleeping).
    """

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = limits.client_rate
        self._burst = float(limits.client_burst)
        self._concurrency = limits.client_concurrency
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def enter(self, client: str) -> None:
        """Count one more request of ``client`` in flight, or raise ``RateLimited``."""
        bucket = self._bucket(client)
        if bucket.in_flight >= self._concurrency:
            raise RateLimited(
                {
                    "retry_after": CONCURRENCY_RETRY_AFTER,
                    "limit": "concurrency",
                    "max_in_flight": self._concurrency,
                }
            )
        bucket.in_flight += 1

    def leave(self, client: str) -> None:
        """One request of ``client`` is answered."""
        self._bucket(client).in_flight -= 1

    def take(self, client: str, calls: int) -> None:
        """Spend ``calls`` tokens of ``client``'s bucket, or raise ``RateLimited`` spending none."""
        bucket = self._bucket(client)
        now = self._clock()
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.stamp) * self._rate)
        bucket.stamp = now
        # A batch larger than the whole burst passes on a full bucket (else it never could).
        need = min(float(calls), self._burst)
        if bucket.tokens >= need:
            bucket.tokens -= need
            return
        missing = need - bucket.tokens
        raise RateLimited(
            {
                "retry_after": round(max(missing / self._rate, 0.001), 3),
                "limit": "rate",
                "calls_per_second": self._rate,
                "burst": int(self._burst),
            }
        )

    def _bucket(self, client: str) -> _Bucket:
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = _Bucket(self._burst, self._clock())
        return bucket
