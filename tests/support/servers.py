"""Real PostgreSQL and Redis for tests: skipped locally when absent, a failure under CI=true."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import pytest
import redis

CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unavailable(what: str, error: Exception) -> None:
    """Skip loudly when a server is missing locally; fail under CI, where it must be there."""
    message = f"{what} is not reachable ({type(error).__name__}: {error})"
    if CI:
        pytest.fail(f"{message}; CI must run it", pytrace=False)
    pytest.skip(f"SKIPPED LOUDLY: {message}; start it to run this test")


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create an empty database for this test run; yield its ``postgresql+asyncpg`` URL."""
    name = f"bus_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        unavailable("PostgreSQL at " + PG_ADMIN_URL, exc)
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def redis_or_skip() -> redis.Redis:
    """A client of the test Redis, after checking that it answers."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable("Redis at " + REDIS_URL, exc)
    return client


@contextmanager
def fresh_redis_namespace(prefix: str = "bus-test") -> Iterator[str]:
    """A namespace of the test Redis of its own (``<prefix>-<random>``); its keys are deleted
    afterwards."""
    client = redis_or_skip()
    namespace = f"{prefix}-{uuid.uuid4().hex[:8]}"
    try:
        yield namespace
    finally:
        for key in client.scan_iter(f"{namespace}*"):
            client.delete(key)
        client.close()
