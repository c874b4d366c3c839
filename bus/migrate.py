"""Schema migrations of the journal (Alembic), callable from the CLI and at start-up."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from bus.db import create_engine


def alembic_config(database_url: str) -> Config:
    """An Alembic configuration for the packaged migrations and ``database_url``."""
    config = Config()
    config.set_main_option("script_location", "bus:migrations")
    config.set_main_option("sqlalchemy.url", database_url)
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the journal's schema to ``revision`` (blocking; not from a running event loop)."""
    command.upgrade(alembic_config(database_url), revision)


async def pending_revision(database_url: str) -> str | None:
    """The head revision when the database is behind it, else ``None``."""
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()

    def current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    engine = create_engine(database_url, null_pool=True)
    try:
        async with engine.connect() as conn:
            revision = await conn.run_sync(current)
    finally:
        await engine.dispose()
    return None if revision == head else head


def ensure_schema(database_url: str) -> None:
    """Upgrade the schema if it is behind (blocking)."""
    if asyncio.run(pending_revision(database_url)) is not None:
        upgrade(database_url)
