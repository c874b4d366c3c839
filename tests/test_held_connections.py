"""Connections held for the statements a worker runs on the driver's connection (the claim, the
finish): :class:`bus.db.HeldConnections`, on a real PostgreSQL server.

They are reused without going through the pool, held no more than the pool's size, dropped with a
server that went away (and every idle one with them), given back to the pool when a statement is
cut, and closed with the engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import create_engine, driver_connection

pytestmark = pytest.mark.postgres

CLOSED_UNDER_US = (
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
)


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(postgres_url, pool_size=2)
    yield engine
    await engine.dispose()


def checked_out(engine: AsyncEngine) -> int:
    """Connections out of the engine's pool: the held ones, and those in use by others."""
    return int(engine.sync_engine.pool.checkedout())  # type: ignore[attr-defined]


async def backend_pid(engine: AsyncEngine, seconds: float = 0.0) -> int:
    async with driver_connection(engine) as driver:
        return int(await driver.fetchval("SELECT pg_backend_pid() FROM pg_sleep($1)", seconds))


async def test_statements_run_on_one_held_connection(engine: AsyncEngine) -> None:
    pids = {await backend_pid(engine) for _ in range(5)}

    assert len(pids) == 1
    assert checked_out(engine) == 1  # held, not given back to the pool after each statement


async def test_no_more_are_held_than_the_pool_keeps(engine: AsyncEngine) -> None:
    pids = await asyncio.gather(*(backend_pid(engine, 0.2) for _ in range(4)))

    assert len(set(pids)) == 4  # four at once: two held, two from the pool's overflow
    assert checked_out(engine) == 2


async def test_a_dead_held_connection_is_dropped_with_the_idle_ones(
    engine: AsyncEngine, postgres_url: str
) -> None:
    held = set(await asyncio.gather(backend_pid(engine, 0.1), backend_pid(engine, 0.1)))
    assert len(held) == 2
    admin = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
    try:
        for pid in held:  # as a restart of the server would
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()

    # the statement on a connection the server closed fails (as the driver says so: it depends
    # on when the driver noticed the closing)
    with pytest.raises(CLOSED_UNDER_US):
        await backend_pid(engine)
    # the other closed one went with it: the next statement runs on a new connection
    assert await backend_pid(engine) not in held
    assert checked_out(engine) == 1


async def test_a_cut_statement_gives_its_connection_back_to_the_pool(engine: AsyncEngine) -> None:
    await backend_pid(engine)
    assert checked_out(engine) == 1

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await backend_pid(engine, 5)

    assert checked_out(engine) == 0
    assert await backend_pid(engine) > 0


async def test_disposing_of_the_engine_closes_the_held_connections(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    async with driver_connection(engine) as driver:
        await driver.fetchval("SELECT 1")
    assert not driver.is_closed()

    await engine.dispose()

    assert driver.is_closed()
