"""What the sweeper finds: messages that are due but whose wake-up is not (or no longer) queued,
and keys whose next message has nobody left to promote it.

Due (DESIGN.md §4): never enqueued (the process died between commit and enqueue, or the enqueue
failed), queued long ago but never claimed (Redis lost it: restart, ``FLUSHALL``), and claimed by a
worker whose lease expired (the worker died mid-delivery). Stranded: a key whose messages are all
finished or ``blocked``, so no head will ever finish and promote the next (a journal written before
finish and promotion shared a transaction, or a head an operator edited by hand).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bus.journal.delivery import due, promote_next
from bus.journal.ids import utcnow
from bus.journal.tables import RELEASING, Status, messages, ordering_keys
from bus.journal.wakes import Wake, ids

#: An arbitrary constant naming the sweeper's PostgreSQL advisory lock.
_SWEEPER_LOCK = 0x62757373  # "buss"


async def take_due(
    conn: AsyncConnection, *, requeue_after: dt.timedelta, grace: dt.timedelta, limit: int
) -> list[Wake]:
    """Return up to ``limit`` due messages and stamp them queued now (caller enqueues them).

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
    runnable = and_(due(now), or_(never_queued, queue_lost))
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
    found = await conn.execute(
        select(messages.c.id, messages.c.target, messages.c.operation)
        .where(or_(runnable, lease_expired))
        .order_by(messages.c.id)
        .limit(limit)
    )
    due_now = [Wake(row.id, row.target, row.operation) for row in found]
    if due_now:
        await conn.execute(
            update(messages).where(messages.c.id.in_(ids(due_now))).values(queued_at=now)
        )
    return due_now


#: Statuses that do not hold a key's head: finished for good, or waiting behind the head.
_NOT_A_HEAD = [*(status.value for status in RELEASING), Status.BLOCKED.value]


async def promote_stranded(conn: AsyncConnection, *, limit: int) -> list[Wake]:
    """Promote the next message of every key that has ``blocked`` messages but no head.

    Each candidate key is checked again under its row lock, in a statement of its own (a fresh
    snapshot on PostgreSQL): a finish or an accept of the key that committed meanwhile is seen,
    and one still running holds the lock until it has committed. Returns the promoted messages.
    """
    blocked = messages.alias("blocked")
    head = messages.alias("head")
    has_head = (
        select(head.c.id)
        .where(head.c.ordering_key == blocked.c.ordering_key, head.c.status.not_in(_NOT_A_HEAD))
        .exists()
    )
    candidates = list(
        (
            await conn.execute(
                select(blocked.c.ordering_key)
                .where(blocked.c.status == Status.BLOCKED.value, ~has_head)
                .distinct()
                .limit(limit)
            )
        ).scalars()
    )
    promoted: list[Wake] = []
    for key in candidates:
        await conn.execute(
            select(ordering_keys.c.key).where(ordering_keys.c.key == key).with_for_update()
        )
        running = await conn.scalar(
            select(messages.c.id)
            .where(messages.c.ordering_key == key, messages.c.status.not_in(_NOT_A_HEAD))
            .limit(1)
        )
        if running is None and (next_one := await promote_next(conn, key)) is not None:
            promoted.append(next_one)
    return promoted
