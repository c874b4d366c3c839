"""One pace per target across processes: the Redis GCRA against a real Redis, and its fallbacks.

Grants are checked as a leaky bucket checks them: between any two grants ``i < j`` at most
``burst + rate * (t_j - t_i)`` requests went (with :data:`JITTER` seconds of slack for a
process's wake-up), and all of them together took at least as long as the pace makes them.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from bus.adapters.pace import (
    AHEAD_BURST,
    AHEAD_SHARE,
    LocalPace,
    Pace,
    ahead_of_backlog,
    target_pace,
)
from bus.adapters.shared import RETRY_AFTER, SharedRedis
from bus.errors import TransientError
from tests.support.redisserver import RedisServer
from tests.support.servers import REDIS_URL, redis_or_skip

pytestmark = pytest.mark.redis

#: Seconds a grant may come late (the script's answer, the event loop's wake-up), as slack.
JITTER = 0.06
RATE = 20.0
BURST = 3


def conforms(grants: list[float], rate: float, burst: int) -> list[str]:
    """Where ``grants`` (times, any order) went faster than ``rate``/s after ``burst``."""
    times = sorted(grants)
    faster = []
    for i, first in enumerate(times):
        for j in range(i, len(times)):
            allowed = burst + rate * (times[j] - first + JITTER)
            if j - i + 1 > allowed:
                faster.append(f"{j - i + 1} grants in {times[j] - first:.3f}s")
    return faster


def least_span(count: int, rate: float, burst: int) -> float:
    """How long ``count`` grants take at least, from the first to the last."""
    return (count - burst) / rate


@pytest.fixture
def namespace() -> Iterator[str]:
    """A namespace of its own in the shared Redis, its keys removed afterwards."""
    client = redis_or_skip()
    name = f"bus-test-pace-{uuid.uuid4().hex[:8]}"
    yield name
    for key in client.scan_iter(f"{name}:*"):
        client.delete(key)
    client.close()


@pytest.fixture
async def shared(namespace: str) -> AsyncIterator[SharedRedis]:
    link = SharedRedis(REDIS_URL, namespace)
    yield link
    await link.aclose()


async def grants_of(pace: Pace, count: int) -> list[float]:
    """Acquire ``count`` times, one after the other; the time of each grant."""
    times = []
    for _ in range(count):
        await pace.acquire(within=60)
        times.append(time.time())
    return times


def _process_grants(url: str, namespace: str, count: int, start_at: float) -> list[float]:
    """In a process of its own: wait for ``start_at``, then take ``count`` grants."""

    async def run() -> list[list[float]]:
        link = SharedRedis(url, namespace)
        pace = target_pace("bitrix24", "https://portal.example", RATE, BURST, link)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        try:
            return await asyncio.gather(*(grants_of(pace, count // 4) for _ in range(4)))
        finally:
            await link.aclose()

    return [t for task in asyncio.run(run()) for t in task]


def test_processes_keep_one_pace_together(namespace: str) -> None:
    start_at = time.time() + 3.0  # both processes started, the bus imported
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        per_process = pool.starmap(_process_grants, [(REDIS_URL, namespace, 16, start_at)] * 2)
    grants = [t for times in per_process for t in times]
    assert len(grants) == 32
    assert conforms(grants, RATE, BURST) == []
    span = max(grants) - min(grants)
    # Each process alone at the pace would have taken half as long.
    assert least_span(32, RATE, BURST) - JITTER <= span <= least_span(32, RATE, BURST) + 1.0


async def test_clients_on_their_own_connections_share_the_pace(namespace: str) -> None:
    links = [SharedRedis(REDIS_URL, namespace) for _ in range(3)]
    paces = [target_pace("bitrix24", "https://portal.example", RATE, BURST, link) for link in links]
    try:
        per_client = await asyncio.gather(*(grants_of(pace, 8) for pace in paces))
    finally:
        for link in links:
            await link.aclose()
    grants = [t for times in per_client for t in times]
    assert conforms(grants, RATE, BURST) == []
    assert max(grants) - min(grants) >= least_span(24, RATE, BURST) - JITTER


async def test_each_portal_has_a_pace_of_its_own(shared: SharedRedis) -> None:
    first = target_pace("bitrix24", "https://one.example", 2.0, 2, shared)
    second = target_pace("bitrix24", "https://two.example", 2.0, 2, shared)
    started = time.monotonic()
    await asyncio.gather(*(pace.acquire(within=5) for pace in (first, second, first, second)))
    assert time.monotonic() - started < 0.3  # each portal's burst, not one shared burst of 2
    with redis.Redis.from_url(REDIS_URL, decode_responses=True) as client:
        keys = set(client.scan_iter(f"{shared.namespace}:*"))
    assert keys == {
        f"{shared.namespace}:pace:bitrix24:https://one.example",
        f"{shared.namespace}:pace:bitrix24:https://two.example",
    }


async def test_the_key_expires_when_the_bucket_is_empty_again(shared: SharedRedis) -> None:
    pace = target_pace("bitrix24", "https://portal.example", 2.0, 1, shared)
    await pace.acquire(within=5)
    key = shared.key("pace", "bitrix24", "https://portal.example")
    assert 0 < await shared.client.pttl(key) <= 500


async def test_a_wait_past_the_budget_reserves_nothing(shared: SharedRedis) -> None:
    pace = target_pace("bitrix24", "https://portal.example", 2.0, 1, shared)
    await pace.acquire(within=5)  # the burst of one
    with pytest.raises(TransientError) as refused:
        await pace.acquire(within=0.1)
    assert refused.value.throttled
    assert refused.value.retry_after is not None and 0.3 < refused.value.retry_after <= 0.5
    started = time.monotonic()
    await pace.acquire(within=5)
    # The next free moment is still half a second after the first: the refusal took none.
    assert 0.3 < time.monotonic() - started < 0.5 + JITTER


async def test_without_redis_the_process_paces_alone() -> None:
    pace = target_pace("bitrix24", "https://portal.example", RATE, BURST, None)
    assert isinstance(pace, LocalPace)
    grants = await asyncio.gather(*(grants_of(pace, 4) for _ in range(3)))
    times = [t for each in grants for t in each]
    assert conforms(times, RATE, BURST) == []
    assert max(times) - min(times) >= least_span(12, RATE, BURST) - JITTER


async def test_the_local_pace_refuses_a_wait_past_the_budget() -> None:
    pace = LocalPace("bitrix24", 2.0, 1)
    await pace.acquire(within=1)
    with pytest.raises(TransientError) as refused:
        await pace.acquire(within=0.05)
    assert refused.value.throttled


@pytest.fixture(params=["shared", "local"])
async def pace(request: pytest.FixtureRequest, namespace: str) -> AsyncIterator[Pace]:
    """Bitrix24's pace kept through Redis, or by the process alone."""
    if request.param == "local":
        yield target_pace("bitrix24", "https://portal.example", RATE, BURST, None)
        return
    link = SharedRedis(REDIS_URL, namespace)
    yield target_pace("bitrix24", "https://portal.example", RATE, BURST, link)
    await link.aclose()


async def ahead_grants(pace: Pace, count: int, start_after: float) -> list[tuple[float, float]]:
    """After ``start_after`` seconds, acquire ``count`` times ahead of the backlog; when each was
    asked for, and when it was granted."""
    await asyncio.sleep(start_after)
    asked_and_granted = []
    with ahead_of_backlog():
        for _ in range(count):
            asked = time.time()
            await pace.acquire(within=60)
            asked_and_granted.append((asked, time.time()))
    return asked_and_granted


async def test_a_request_ahead_of_the_backlog_waits_for_none_of_it(pace: Pace) -> None:
    """A backlog of 40 requests (2 s of the pace) is reserved; a request a person waits on,
    asked a moment later, goes at once, and so do its budget's few; the backlog pays for them:
    every grant together keeps the pace, with at most the budget's burst more at once."""
    backlog = [grants_of(pace, 10) for _ in range(4)]
    ahead = ahead_grants(pace, AHEAD_BURST, start_after=0.2)
    *per_task, asked_and_granted = await asyncio.gather(*backlog, ahead)
    waits = [granted - asked for asked, granted in asked_and_granted]
    assert max(waits) < JITTER, f"waited {waits} behind the backlog"
    grants = [t for times in per_task for t in times] + [t for _, t in asked_and_granted]
    assert conforms(grants, RATE, BURST + AHEAD_BURST) == []
    # the backlog paid: all of them took as long as the pace makes them, the ahead ones included
    assert max(grants) - min(grants) >= least_span(len(grants), RATE, BURST) - JITTER


async def test_requests_ahead_of_the_backlog_keep_a_pace_of_their_own(pace: Pace) -> None:
    """Past its burst, the budget ahead of the backlog is a share of the pace: a storm of them
    cannot take the target's whole pace from the backlog."""
    grants = [t for _, t in await ahead_grants(pace, AHEAD_BURST + 3, start_after=0)]
    assert conforms(grants, RATE * AHEAD_SHARE, AHEAD_BURST) == []
    assert max(grants) - min(grants) >= 3 / (RATE * AHEAD_SHARE) - JITTER


async def test_unreachable_redis_paces_locally_logs_once_and_comes_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = RedisServer()  # its port, nothing listening yet
    link = SharedRedis(server.url, "bus-test-pace")
    pace = target_pace("bitrix24", "https://portal.example", RATE, BURST, link)
    caplog.set_level(logging.INFO, logger="bus.adapters.shared")
    try:
        grants = await grants_of(pace, 10)
        assert conforms(grants, RATE, BURST) == []
        assert max(grants) - min(grants) >= least_span(10, RATE, BURST) - JITTER
        down = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(down) == 1
        assert "the pace of bitrix24 in this process alone" in down[0].getMessage()
        await asyncio.to_thread(server.start)
        await asyncio.sleep(RETRY_AFTER)
        await pace.acquire(within=5)
        with redis.Redis.from_url(server.url) as client:
            assert client.exists("bus-test-pace:pace:bitrix24:https://portal.example")
        back = [r for r in caplog.records if "answers again" in r.getMessage()]
        assert len(back) == 1
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    finally:
        await link.aclose()
        server.stop()
