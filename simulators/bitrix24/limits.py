"""Bitrix24's leaky bucket: each request adds one, the bucket drains at a fixed rate."""

from __future__ import annotations

from collections.abc import Callable


class LeakyBucket:
    """A request counter that drains ``drain_per_second`` and refuses above ``capacity``.

    Parameters:
        capacity: the most requests the bucket holds (X in Bitrix24's docs, 50 on standard plans).
        drain_per_second: how fast it empties (Y, 2 on standard plans).
        clock: monotonic seconds; tests pass a fake to stay deterministic.
    """

    def __init__(self, capacity: int, drain_per_second: float, clock: Callable[[], float]) -> None:
        self.capacity = capacity
        self.drain_per_second = drain_per_second
        self._clock = clock
        self._level = 0.0
        self._at = clock()

    @property
    def level(self) -> float:
        """The current fill, after draining up to now."""
        now = self._clock()
        self._level = max(0.0, self._level - (now - self._at) * self.drain_per_second)
        self._at = now
        return self._level

    def admit(self) -> bool:
        """Count one request; ``False`` (and not counted) when it would overflow."""
        level = self.level + 1
        if level > self.capacity:
            return False
        self._level = level
        return True

    def reset(self) -> None:
        """Empty the bucket."""
        self._level = 0.0
        self._at = self._clock()
