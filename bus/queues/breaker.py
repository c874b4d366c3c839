"""Per-target circuit breakers as a worker sees them: a short cache over the journal's rows.

Reading the breaker row on every delivery would add a query to the hot path; a closed breaker is
the common case, so a worker trusts what it read for ``CACHE_SECONDS``. Another process opening
the breaker is noticed that much later, at the cost of a few more failed attempts.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import reading, writing
from bus.journal import circuits
from bus.journal.circuits import Admission, Circuit
from bus.journal.delivery import Claim
from bus.journal.wakes import Wake
from bus.settings import Settings

log = logging.getLogger(__name__)

#: How long a worker trusts the breaker state it read.
CACHE_SECONDS = 1.0


class Breakers:
    """The breakers of every target, for one worker process.

    Parameters:
        settings: each target's breaker settings.
        engine: the journal.
    """

    def __init__(self, settings: Settings, engine: AsyncEngine) -> None:
        self._settings = settings
        self._engine = engine
        self._cache: dict[str, tuple[Circuit, float]] = {}

    async def admit(self, claimed: Claim) -> Admission:
        """Deliver, probe (the breaker is open, its probe is due and we won it), or hold.

        A breaker the cache shows closed is trusted (the common case costs no query). One it
        shows open is decided again in the journal, under the breaker's row lock, where holding
        happens: a worker whose view is stale never holds a message for a breaker that closed.
        """
        target = claimed.target
        if not (await self._current(target)).is_open:
            return Admission.DELIVER
        breaker = self._settings.target(target).breaker
        async with writing(self._engine) as conn:
            admission, circuit = await circuits.admit(
                conn, claimed.message_id, claimed.attempt, target, breaker
            )
        self._cache[target] = (circuit, time.monotonic())
        if admission is Admission.PROBE:
            log.info("breaker of %s: probing", target)
        return admission

    async def succeeded(self, target: str, admission: Admission) -> list[Wake]:
        """The target answered: close its breaker if needed; the held messages it released."""
        cached = self._cache.get(target)
        calm = cached is not None and cached[0].failures == 0 and not cached[0].is_open
        if admission is Admission.DELIVER and calm:
            return []
        async with writing(self._engine) as conn:
            released = await circuits.record_success(
                conn, target, self._settings.target(target).breaker
            )
        if admission is Admission.PROBE or released:
            log.warning("breaker of %s closed; %d held message(s) released", target, len(released))
        self._cache[target] = (circuits.closed(target), time.monotonic())
        return released

    async def failed(self, target: str, admission: Admission) -> None:
        """The target failed (unreachable, 5xx, timeout): count it, maybe opening the breaker."""
        async with writing(self._engine) as conn:
            circuit = await circuits.record_failure(
                conn,
                target,
                self._settings.target(target).breaker,
                probing=admission is Admission.PROBE,
            )
        was_open = (cached := self._cache.get(target)) is not None and cached[0].is_open
        if circuit.is_open and (admission is Admission.PROBE or not was_open):
            log.warning("breaker of %s open until %s", target, circuit.probe_at)
        self._cache[target] = (circuit, time.monotonic())

    async def _current(self, target: str) -> Circuit:
        cached = self._cache.get(target)
        if cached is not None and time.monotonic() - cached[1] < CACHE_SECONDS:
            return cached[0]
        async with reading(self._engine) as conn:
            circuit = await circuits.read(conn, target)
        self._cache[target] = (circuit, time.monotonic())
        return circuit
