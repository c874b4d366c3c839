"""The last state of each entity the bus wrote to, or forwarded from, a system.

An inbound event whose entity shows exactly that state is the bus's own echo (its write coming
back as a change event) or a repeat, and is not forwarded again.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bus.adapters.base import EntityState
from bus.journal.ids import utcnow
from bus.journal.tables import entity_states


async def known(conn: AsyncConnection, entity: str) -> str | None:
    """The fingerprint last remembered for ``entity``, if any."""
    query = select(entity_states.c.fingerprint).where(entity_states.c.entity == entity)
    fingerprint: str | None = (await conn.execute(query)).scalar()
    return fingerprint


async def remember(conn: AsyncConnection, state: EntityState) -> None:
    """Make ``state`` the entity's last known state."""
    now = utcnow()
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(entity_states)
    await conn.execute(
        insert.values(
            entity=state.entity, fingerprint=state.fingerprint, updated_at=now
        ).on_conflict_do_update(
            index_elements=[entity_states.c.entity],
            set_={"fingerprint": state.fingerprint, "updated_at": now},
        )
    )
