"""Every API process hears at once that a customer's profile changed.

An API process keeps the profiles it routes and checks orders by for ``directory_ttl`` seconds
(:class:`bus.order_routing.OrderRouter`): an accept must not wait on the journal for what rarely
changes. When it does change (a deactivation, a provisioning), a customer deactivated a moment ago
must not have its next order accepted, nor one provisioned again see its orders refused, for the
rest of that time. So the worker that writes a profile announces it
(:class:`AnnouncedDirectory`): to this process's listeners (the embedded deployment delivers in the
API's own process) and, on the deployment's Redis, on the channel ``<redis_namespace>:directory``,
which every API process listens to (:class:`DirectoryListener`) and on which it drops that
customer's profile, so its next order reads the directory.

Redis pub/sub keeps nothing for a listener that is away: a listener that (re)subscribes drops every
profile it holds, and while it cannot subscribe, ``directory_ttl`` bounds how old a profile may be.
An announcement that cannot be published is logged (once per outage of Redis, as
:class:`bus.adapters.shared.SharedRedis` says); the profile is in the journal all the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from bus.adapters.base import DocumentStore
from bus.adapters.shared import RETRY_AFTER, TIMEOUT, UNREACHABLE, SharedRedis
from bus.redaction import redact
from bus.settings import Settings

log = logging.getLogger(__name__)

#: What hears of a change: called with the customer's ERP key.
Forget = Callable[[str], None]

#: Seconds between pings of an idle subscription.
HEALTH_CHECK = 10

_local_listeners: list[Forget] = []


def channel(namespace: str) -> str:
    """The Redis channel of the directory's changes in ``namespace``."""
    return f"{namespace}:directory"


class AnnouncedDirectory:
    """A :class:`DocumentStore` of customer profiles whose every write is announced (after it).

    Parameters:
        store: the directory (the journal's ``customers`` table).
        settings: the deployment's Redis, if any.
    """

    def __init__(self, store: DocumentStore, settings: Settings) -> None:
        self._store = store
        self._shared = SharedRedis.of(settings)

    async def get(self, key: str) -> dict[str, Any] | None:
        """See :class:`DocumentStore`."""
        return await self._store.get(key)

    async def put(self, key: str, value: dict[str, Any]) -> None:
        """Write the profile, then announce it."""
        await self._store.put(key, value)
        for forget in list(_local_listeners):
            forget(key)
        shared = self._shared
        if shared is None:
            return
        try:  # every time, however recently Redis failed: profiles change rarely
            await shared.client.publish(channel(shared.namespace), key)
        except UNREACHABLE as error:  # directory_ttl bounds how long the listeners keep the old
            shared.failed("new customer profiles are announced", error)
            return
        shared.answered()

    async def aclose(self) -> None:
        """Close the Redis connection, if any."""
        if self._shared is not None:
            await self._shared.aclose()


class DirectoryListener:
    """Drops the profiles an API process holds when their customers' are announced.

    Parameters:
        settings: the deployment's Redis, if any (without it, only this process's writes are
            heard: the embedded deployment, where they are all of them).
        forget: drops one customer's profile.
        forget_all: drops every profile (after a time the listener may have missed some).
    """

    def __init__(self, settings: Settings, forget: Forget, forget_all: Callable[[], None]) -> None:
        self._settings = settings
        self._forget = forget
        self._forget_all = forget_all
        self._task: asyncio.Task[None] | None = None
        self._local: Forget | None = None

    def start(self) -> None:
        """Hear this process's writes, and the deployment's on its Redis (call on the loop that
        reads the profiles: a write in another thread is handed to it)."""
        loop = asyncio.get_running_loop()
        forget = self._forget

        def local(key: str) -> None:
            try:
                loop.call_soon_threadsafe(forget, key)
            except RuntimeError:  # the loop closed: the process is stopping, nothing to forget
                pass

        self._local = local
        _local_listeners.append(local)
        if self._settings.redis_url:
            listening = self._listen(self._settings.redis_url)
            self._task = asyncio.create_task(listening, name="directory-listener")

    async def stop(self) -> None:
        """Stop listening."""
        if self._local in _local_listeners:
            _local_listeners.remove(self._local)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _listen(self, url: str) -> None:
        outage = False
        while True:
            # pinged while idle: a connection that died silently is noticed, not waited on
            client = aioredis.Redis.from_url(
                url, socket_connect_timeout=TIMEOUT, health_check_interval=HEALTH_CHECK
            )
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(channel(self._settings.redis_namespace))
                    self._forget_all()  # what was announced while away was not heard
                    if outage:
                        log.info("directory changes are heard again")
                        outage = False
                    while True:
                        message = await pubsub.get_message(timeout=1.0)
                        if message is not None:
                            self._forget(_text(message["data"]))
            except UNREACHABLE as error:
                if not outage:
                    outage = True
                    log.warning(
                        "cannot hear directory changes (%s): customer profiles are kept for up"
                        " to directory_ttl meanwhile",
                        redact(str(error)),
                    )
                await asyncio.sleep(RETRY_AFTER)
            finally:
                await client.aclose()


def _text(data: Any) -> str:
    return data.decode() if isinstance(data, bytes) else str(data)
