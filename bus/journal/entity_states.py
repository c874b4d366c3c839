"""The last state of each entity the bus wrote to, or forwarded from, a system.

An inbound event whose entity shows exactly that state is the bus's own echo (its write coming
back as a change event) or a repeat, and is not forwarded again.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bus.adapters.base import EntityState
from bus.journal.keyed import upsert
from bus.journal.tables import entity_states


async def known(conn: AsyncConnection, entity: str) -> str | None:
    """The fingerprint last remembered for ``entity``, if any."""
    query = select(entity_states.c.fingerprint).where(entity_states.c.entity == entity)
    fingerprint: str | None = (await conn.execute(query)).scalar()
    return fingerprint


async def remember(conn: AsyncConnection, state: EntityState) -> None:
    """Make ``state`` the entity's last known state."""
    await upsert(conn, entity_states, {"entity": state.entity}, {"fingerprint": state.fingerprint})
