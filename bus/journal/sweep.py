"""What the sweeper finds: messages that are due but whose wake-up is not (or no longer) queued.

Three cases (DESIGN.md §4): never enqueued (the process died between commit and enqueue, or the
enqueue failed), queued long ago but never claimed (Redis lost it: restart, ``FLUSHALL``), and
claimed by a worker whose lease expired (the worker died mid-delivery).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bus.journal.ids import utcnow
from bus.journal.tables import CLAIMABLE, Status, messages

#: An arbitrary constant naming the sweeper's PostgreSQL advisory lock.
_SWEEPER_LOCK = 0x62757373  # "buss"


async def take_due(
    conn: AsyncConnection, *, requeue_after: dt.timedelta, grace: dt.timedelta, limit: int
) -> list[str]:
    """Return up to ``limit`` due message ids and stamp them queued now (caller enqueues them).

    On PostgreSQL only one sweeper works at a time (a transaction-level advisory lock); the others
    return nothing for this round.
    """
    if conn.dialect.name == "postgresql":
        locked = await conn.scalar(
            text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _SWEEPER_LOCK}
        )
        if not locked:
            return []
    now = utcnow()
    never_queued = and_(messages.c.queued_at.is_(None), messages.c.updated_at < now - grace)
    queue_lost = messages.c.queued_at < now - requeue_after
    runnable = and_(
        messages.c.status.in_([status.value for status in CLAIMABLE]),
        or_(messages.c.next_attempt_at.is_(None), messages.c.next_attempt_at <= now),
        or_(never_queued, queue_lost),
    )
    lease_expired = and_(
        messages.c.status == Status.IN_FLIGHT.value,
        messages.c.lease_until < now,
        # once per expiry: not again until that wake-up is lost as well
        or_(
            messages.c.queued_at.is_(None),
            messages.c.queued_at < messages.c.lease_until,
            queue_lost,
        ),
    )
    due_ids = list(
        (
            await conn.execute(
                select(messages.c.id)
                .where(or_(runnable, lease_expired))
                .order_by(messages.c.id)
                .limit(limit)
            )
        ).scalars()
    )
    if due_ids:
        await conn.execute(update(messages).where(messages.c.id.in_(due_ids)).values(queued_at=now))
    return due_ids
