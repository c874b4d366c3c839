"""Announcing profile changes: heard on Redis, and what a listener does when Redis is away.

A listener that cannot subscribe keeps its profiles (``directory_ttl`` bounds them); once it
subscribes, it drops every one (it may have missed announcements), then each one announced.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from bus.adapters.shared import RETRY_AFTER
from bus.directory_changes import AnnouncedDirectory, DirectoryListener
from bus.settings import Settings
from tests.support.documents import MemoryDocuments
from tests.support.redisserver import RedisServer

pytestmark = pytest.mark.redis


async def until(check: Any, seconds: float) -> None:
    for _ in range(int(seconds * 20)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {seconds}s")


async def test_a_listener_hears_changes_once_redis_answers_and_drops_what_it_may_have_missed() -> (
    None
):
    server = RedisServer()  # its port, nothing listening yet
    settings = Settings(redis_url=server.url, redis_namespace=f"bus-test-{uuid.uuid4().hex[:8]}")
    forgotten: list[str] = []
    cleared: list[bool] = []
    listener = DirectoryListener(settings, forgotten.append, lambda: cleared.append(True))
    listener.start()
    directory = AnnouncedDirectory(MemoryDocuments(), settings)
    try:
        await directory.put("10000", {"name": "before Redis"})  # heard in this process only
        await until(lambda: forgotten == ["10000"], 1)
        assert cleared == []  # not subscribed: the profiles stay, for directory_ttl at most
        await asyncio.to_thread(server.start)
        await until(lambda: cleared == [True], RETRY_AFTER + 2)
        await directory.put("20000", {"name": "with Redis"})
        # this process's listener, then the Redis announcement
        await until(lambda: forgotten == ["10000", "20000", "20000"], 2)
    finally:
        await listener.stop()
        await directory.aclose()
        server.stop()
