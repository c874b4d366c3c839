"""What the journal hands the queue after a commit: the messages to wake, with their targets."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bus.journal.tables import messages


class Wake(NamedTuple):
    """A message that may run now, with its target and operation, which choose its queue.

    The journal knows both where it makes a message runnable (the row is at hand), so the queue
    routes each wake-up without reading the message again (:func:`bus.queues.broker.queue_of`).
    """

    message_id: str
    target: str
    operation: str


def ids(wakes: list[Wake]) -> list[str]:
    """The message ids of ``wakes``, in order."""
    return [wake.message_id for wake in wakes]


async def wakes_of(conn: AsyncConnection, message_ids: list[str]) -> list[Wake]:
    """The wake-ups of messages known only by id (one query); unknown ids are left out."""
    if not message_ids:
        return []
    found = await conn.execute(
        select(messages.c.id, messages.c.target, messages.c.operation).where(
            messages.c.id.in_(message_ids)
        )
    )
    known = {row.id: Wake(row.id, row.target, row.operation) for row in found}
    return [known[m] for m in message_ids if m in known]


async def stamp_queued(conn: AsyncConnection, wakes: list[Wake], at: dt.datetime | None) -> None:
    """Record when the wake-ups of ``wakes`` were sent: ``at``, or ``None`` when none is (yet).

    The sweeper (:func:`bus.journal.sweep.take_due`) reads this: a runnable message never
    queued is woken at its next round, one queued is left to its wake-up until
    ``queue.requeue_after`` has passed. A process that will send the wake-ups itself stamps
    them queued in the transaction that makes them runnable; one that cannot reach the queue
    leaves them unqueued, so that the sweeper hands them over within seconds.
    """
    if wakes:
        await conn.execute(
            update(messages).where(messages.c.id.in_(ids(wakes))).values(queued_at=at)
        )
