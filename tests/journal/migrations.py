"""Journals at an older revision, on either backend, for the tests of the revisions after it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Inspector, inspect

from bus.db import create_engine
from bus.migrate import upgrade
from tests.support.servers import fresh_postgres_database

T = TypeVar("T")


@contextmanager
def journal_at(backend: str, revision: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a new journal (``sqlite`` or ``postgres``) upgraded to ``revision`` only."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        upgrade(url, revision)
        yield url
        return
    with fresh_postgres_database() as url:
        upgrade(url, revision)
        yield url


def inspected(url: str, read: Callable[[Inspector], T]) -> T:
    """What ``read`` finds in the journal at ``url``'s schema, as the database has it now."""

    async def run() -> T:
        engine = create_engine(url, null_pool=True)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(lambda sync: read(inspect(sync)))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def columns_of(url: str, table: str) -> set[str]:
    """The column names of ``table`` in the journal at ``url``."""
    return inspected(url, lambda found: {column["name"] for column in found.get_columns(table)})
