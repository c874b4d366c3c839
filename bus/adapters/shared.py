"""The Redis a deployment's processes share, for what adapters must agree on across processes.

Every worker process paces a target together with the others (:mod:`bus.adapters.pace`) and
sees what another one created (:mod:`bus.adapters.own_writes`) through the broker's Redis
(``redis_url``), under the bus's namespace (``redis_namespace``). Without Redis (the embedded
deployment, one process) there is nothing to share and these live in the process.

Redis going away must not fail deliveries: each user falls back to its in-process form, and
:class:`SharedRedis` says so once per outage (and once when Redis answers again), not per call.
"""

from __future__ import annotations

import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bus.redaction import redact
from bus.settings import Settings

log = logging.getLogger(__name__)

#: Seconds a command may take (connecting included) before the process goes on without Redis:
#: long enough for a loaded machine, as going on without it paces this process alone.
TIMEOUT = 5.0
#: Seconds after a failure before Redis is asked again (meanwhile: the in-process fallback).
RETRY_AFTER = 5.0
#: What a Redis command raises when Redis cannot be reached or answer.
UNREACHABLE: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)


class SharedRedis:
    """One process's client of the deployment's Redis, with its namespace and outage state.

    Parameters:
        url: ``redis_url``.
        namespace: ``redis_namespace``: every key starts with it.
    """

    def __init__(self, url: str, namespace: str) -> None:
        self.namespace = namespace
        self.client = aioredis.Redis.from_url(
            url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT
        )
        self._down_until = 0.0
        self._down = False

    @classmethod
    def of(cls, settings: Settings) -> SharedRedis | None:
        """The deployment's shared Redis; ``None`` without ``redis_url`` (embedded)."""
        if not settings.redis_url:
            return None
        return cls(settings.redis_url, settings.redis_namespace)

    def key(self, *parts: str) -> str:
        """A key in the bus's namespace: ``<namespace>:<part>:<part>…``."""
        return ":".join((self.namespace, *parts))

    @property
    def usable(self) -> bool:
        """False for :data:`RETRY_AFTER` seconds after a failure: use the fallback meanwhile."""
        return time.monotonic() >= self._down_until

    def failed(self, what: str, error: BaseException) -> None:
        """Note that ``what`` could not use Redis; logged once per outage."""
        self._down_until = time.monotonic() + RETRY_AFTER
        if not self._down:
            self._down = True
            log.warning(
                "shared Redis unreachable (%s: %s): %s in this process alone until it answers",
                type(error).__name__,
                redact(str(error)),
                what,
            )

    def answered(self) -> None:
        """Note that Redis answered; logged once after an outage."""
        if self._down:
            self._down = False
            log.info("shared Redis answers again: paces and records are shared again")

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self.client.aclose()
