"""Fixtures shared by the whole suite: journals on SQLite and PostgreSQL, Redis, real processes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import create_engine, writing
from bus.journal.tables import (
    attempts,
    circuits,
    credentials,
    entity_states,
    messages,
    operator_actions,
    ordering_keys,
    target_pauses,
)
from bus.migrate import upgrade
from tests.support.servers import fresh_postgres_database


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database of its own for this test session."""
    with fresh_postgres_database() as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite journal file for this test session."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('journal') / 'bus.db'}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def journal_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty, migrated journal: once on SQLite, once on PostgreSQL."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
async def journal(journal_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on an empty journal (tables emptied before the test)."""
    engine = create_engine(journal_url)
    async with writing(engine) as conn:
        for table in (
            attempts,
            operator_actions,
            messages,
            ordering_keys,
            circuits,
            entity_states,
            credentials,
            target_pauses,
        ):
            await conn.execute(delete(table))
    yield engine
    await engine.dispose()


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    """Where the processes of a test write their output."""
    path = tmp_path / "logs"
    path.mkdir()
    return path
