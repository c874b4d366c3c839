"""The operating budget: each method's summed execution time over the last 10 minutes.

Bitrix24 adds every call's execution time to the method's current 1-minute bucket and keeps
ten buckets. While the sum is over the budget (on-premise default 420 s) the method answers
429 ``OPERATION_TIME_LIMIT``; the block lifts as old buckets drop out.

Execution time is measured on the injectable clock, plus a simulated cost per call that the
control API can set for a method, so a test with a fake clock can exhaust and restore the
budget deterministically.
"""

from __future__ import annotations

from collections.abc import Callable

#: The length of one bucket and how many buckets make the window.
BUCKET_SECONDS = 60
BUCKETS = 10
#: Bitrix24's on-premise default budget per method and window, in seconds.
DEFAULT_BUDGET = 420.0


class OperatingMeter:
    """Execution time per method in 1-minute buckets, and the simulated cost per call.

    Parameters:
        budget: the seconds a method may run within the window before it is blocked.
        clock: monotonic seconds; tests pass a fake.
    """

    def __init__(self, budget: float, clock: Callable[[], float]) -> None:
        self.budget = budget
        self.clock = clock
        #: Lowercase method name -> extra seconds every call of it counts.
        self.costs: dict[str, float] = {}
        self._buckets: dict[str, dict[int, float]] = {}

    def _live(self, method: str) -> dict[int, float]:
        """The method's buckets still inside the window (older ones are dropped)."""
        buckets = self._buckets.get(method, {})
        oldest = int(self.clock() // BUCKET_SECONDS) - BUCKETS + 1
        for index in [i for i in buckets if i < oldest]:
            del buckets[index]
        return buckets

    def used(self, method: str) -> float:
        """The method's execution time within the window."""
        return sum(self._live(method).values())

    def blocked(self, method: str) -> bool:
        """Whether the method has run longer than the budget within the window."""
        return self.used(method) > self.budget

    def record(self, method: str, seconds: float) -> None:
        """Add one call's execution time, plus the method's simulated cost."""
        index = int(self.clock() // BUCKET_SECONDS)
        buckets = self._buckets.setdefault(method, {})
        buckets[index] = buckets.get(index, 0.0) + seconds + self.costs.get(method, 0.0)

    def seconds_to_reset(self, method: str) -> float:
        """Seconds until the method's oldest bucket leaves the window (a full window if none)."""
        live = self._live(method)
        now = self.clock()
        if not live:
            return float(BUCKETS * BUCKET_SECONDS)
        return (min(live) + BUCKETS) * BUCKET_SECONDS - now

    def reset(self) -> None:
        """Forget every bucket and simulated cost."""
        self._buckets.clear()
        self.costs.clear()
