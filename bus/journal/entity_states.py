"""The states of each entity the bus wrote to, or forwarded from, a system: its last, and the few
just before it.

An inbound event whose entity shows the last state is the bus's own echo (its write coming back as
a change event) or a repeat, and is not forwarded again. So is one showing a state the bus wrote
just before the last: an event read while the bus's next write is under way (the new state is
remembered before it is sent, so that its own event is known) still shows the previous one.
Forwarded, that stale state would undo what the bus has just written, and its own event, no longer
the last known, would be forwarded after it. Earlier states count for :data:`ECHO_WINDOW` after they
were superseded: a manager who puts an entity back as the bus once wrote it, later, is heard.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bus.adapters.base import EntityState
from bus.journal.ids import utcnow
from bus.journal.keyed import upsert
from bus.journal.tables import entity_states

#: How long a superseded state still counts as the bus's own: an echo is read within seconds.
ECHO_WINDOW = dt.timedelta(minutes=2)
#: How many superseded states are kept.
EARLIER_KEPT = 4


async def known(conn: AsyncConnection, entity: str) -> frozenset[str]:
    """The fingerprints of ``entity`` that are the bus's own: the last remembered, and those
    superseded within :data:`ECHO_WINDOW`."""
    query = select(entity_states.c.fingerprint, entity_states.c.earlier).where(
        entity_states.c.entity == entity
    )
    row = (await conn.execute(query)).first()
    if row is None:
        return frozenset()
    return frozenset({row.fingerprint, *(f for f, _ in _recent(row.earlier, utcnow()))})


async def remember(conn: AsyncConnection, state: EntityState) -> None:
    """Make ``state`` the entity's last known state, the one before it among the earlier ones
    (call in a writing transaction: the row is locked until it commits)."""
    query = (
        select(entity_states.c.fingerprint, entity_states.c.earlier)
        .where(entity_states.c.entity == state.entity)
        .with_for_update()
    )
    row = (await conn.execute(query)).first()
    if row is None:
        await upsert(
            conn, entity_states, {"entity": state.entity}, {"fingerprint": state.fingerprint}
        )
        return
    now = utcnow()
    superseded = [] if row.fingerprint == state.fingerprint else [[row.fingerprint, now]]
    earlier = [
        [fingerprint, at.isoformat()]
        for fingerprint, at in [*superseded, *_recent(row.earlier, now)]
        if fingerprint != state.fingerprint
    ][:EARLIER_KEPT]
    await conn.execute(
        update(entity_states)
        .where(entity_states.c.entity == state.entity)
        .values(fingerprint=state.fingerprint, earlier=earlier, updated_at=now)
    )


def _recent(earlier: Any, now: dt.datetime) -> list[tuple[str, dt.datetime]]:
    """The superseded states still within :data:`ECHO_WINDOW` of ``now``."""
    kept = [(str(f), dt.datetime.fromisoformat(str(at))) for f, at in earlier or []]
    return [(f, at) for f, at in kept if now - at <= ECHO_WINDOW]
