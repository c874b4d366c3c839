"""Readiness: whether this process can do its work now, the journal and the broker asked for real.

Liveness (``/healthz``) only says the process answers. Readiness (``/readyz``) runs a query on the
journal and, in a Redis deployment, a ``PING`` on Redis, each within :data:`TIMEOUT`: a bus that
cannot journal, or cannot hand what it journals to the workers, is taken out of the load
balancer's rotation and says which of them is down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import reading
from bus.redaction import redact

#: Seconds each dependency may take to answer.
TIMEOUT = 2.0


@dataclass(frozen=True)
class Readiness:
    """What each dependency said: ``"ok"`` or why it is down, by name (``journal``, ``redis``)."""

    checks: dict[str, str]

    @property
    def ready(self) -> bool:
        """True when every dependency answered."""
        return all(state == "ok" for state in self.checks.values())

    def as_dict(self) -> dict[str, object]:
        """The answer of ``/readyz``."""
        return {"status": "ok" if self.ready else "unavailable", **self.checks}


class ReadinessProbe:
    """Asks the journal and (when configured) Redis whether they answer.

    Parameters:
        engine: the journal.
        redis_url: the broker's Redis; ``None`` for the embedded queue (nothing to ask).
    """

    def __init__(self, engine: AsyncEngine, redis_url: str | None) -> None:
        self._engine = engine
        self._redis = (
            aioredis.Redis.from_url(
                redis_url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT
            )
            if redis_url
            else None
        )

    async def check(self) -> Readiness:
        """Ask every dependency at once; each answer within :data:`TIMEOUT`."""
        names = ["journal"]
        probes: list[Awaitable[None]] = [self._journal()]
        if self._redis is not None:
            names.append("redis")
            probes.append(self._ping(self._redis))
        answers = await asyncio.gather(*(_within(probe) for probe in probes))
        return Readiness(dict(zip(names, answers, strict=True)))

    async def _journal(self) -> None:
        async with reading(self._engine) as conn:
            await conn.execute(text("SELECT 1"))

    @staticmethod
    async def _ping(client: aioredis.Redis) -> None:
        await client.ping()

    async def aclose(self) -> None:
        """Close the Redis client."""
        if self._redis is not None:
            await self._redis.aclose()


async def _within(probe: Awaitable[None]) -> str:
    """``"ok"``, or ``"unreachable: <why>"`` when the probe failed or took too long."""
    try:
        async with asyncio.timeout(TIMEOUT):
            await probe
    except TimeoutError:
        return f"unreachable: no answer within {TIMEOUT:g}s"
    except Exception as error:
        first = (str(error).splitlines() or [""])[0][:200]
        return redact(f"unreachable: {type(error).__name__}: {first}")  # a URL may hold a password
    return "ok"
