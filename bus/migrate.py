"""Schema migrations of the journal (Alembic), callable from the CLI and at start-up."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
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


@dataclass(frozen=True)
class Upgrade:
    """What ``bus db upgrade`` did: the schema's revision before and after, and the newest."""

    before: str | None
    after: str | None
    head: str | None

    def describe(self) -> str:
        """One line saying what was done, for the operator."""
        if self.before == self.after:
            newest = " (the newest)" if self.after == self.head else f" (the newest is {self.head})"
            return f"the journal's schema was at revision {self.after}{newest} already: no change"
        if self.before is None:
            return f"the journal's schema was created: none -> revision {self.after}"
        return f"the journal's schema was upgraded: revision {self.before} -> {self.after}"


def head_revision(database_url: str) -> str | None:
    """The newest revision this version of the bus knows."""
    return ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()


async def current_revision(database_url: str) -> str | None:
    """The revision the journal's schema is at; ``None`` for a database without it."""

    def current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    engine = create_engine(database_url, null_pool=True)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(current)
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class SchemaState:
    """The journal's schema as a process of this bus finds it: its revision, the newest this
    bus knows, and whether this bus knows the revision at all (a newer bus may have migrated)."""

    current: str | None
    head: str | None
    known: bool

    @property
    def behind(self) -> bool:
        """Whether an upgrade would change the schema."""
        return self.known and self.current != self.head

    def unknown(self) -> str:
        """Why this bus cannot work on a schema it does not know, in one line."""
        return (
            f"the journal's schema is at revision {self.current}, which this bus does not know"
            f" (its newest is {self.head}): a newer version of the bus migrated it"
        )


async def schema_state(database_url: str) -> SchemaState:
    """The journal's schema now (connects to the journal)."""
    scripts = ScriptDirectory.from_config(alembic_config(database_url))
    current = await current_revision(database_url)
    try:
        known = current is None or scripts.get_revision(current) is not None
    except CommandError:
        known = False
    return SchemaState(current=current, head=scripts.get_current_head(), known=known)


async def pending_revision(database_url: str) -> str | None:
    """The head revision when the database is behind it, else ``None``."""
    head = head_revision(database_url)
    return None if await current_revision(database_url) == head else head


def upgrade_reporting(database_url: str, revision: str = "head") -> Upgrade:
    """``upgrade``, telling the revision before and after (blocking)."""
    before = asyncio.run(current_revision(database_url))
    upgrade(database_url, revision)
    after = asyncio.run(current_revision(database_url))
    return Upgrade(before=before, after=after, head=head_revision(database_url))


def ensure_schema(database_url: str) -> None:
    """Upgrade the schema if it is behind (blocking)."""
    if asyncio.run(pending_revision(database_url)) is not None:
        upgrade(database_url)
