"""Credentials that systems rotate, kept in the journal so every worker process shares the newest.

Adapters see them through :class:`bus.adapters.base.SecretStore`; this is its journal-backed
implementation.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import reading, writing
from bus.journal.ids import utcnow
from bus.journal.tables import credentials


class JournalSecrets:
    """A :class:`~bus.adapters.base.SecretStore` in the journal's ``credentials`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, name: str) -> dict[str, Any] | None:
        """The value stored under ``name``, if any."""
        async with reading(self._engine) as conn:
            query = select(credentials.c.value).where(credentials.c.name == name)
            value: dict[str, Any] | None = (await conn.execute(query)).scalar()
        return value

    async def put(self, name: str, value: dict[str, Any]) -> None:
        """Store ``value`` under ``name``, replacing what was there."""
        now = utcnow()
        async with writing(self._engine) as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            insert = dialect.insert(credentials).values(name=name, value=value, updated_at=now)
            await conn.execute(
                insert.on_conflict_do_update(
                    index_elements=[credentials.c.name], set_={"value": value, "updated_at": now}
                )
            )
