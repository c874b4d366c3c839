"""Holding a claimed message without an attempt: how a target's open breaker
(:mod:`bus.journal.circuits`) or an operator's pause of it (:mod:`bus.journal.pauses`) says
"not now" to a worker that already claimed one of its messages."""

from __future__ import annotations

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bus.journal.ids import utcnow
from bus.journal.tables import Status, messages


async def hold_claimed(conn: AsyncConnection, message_id: str, fence: int, reason: str) -> bool:
    """Put a claimed message back as ``held`` without counting the attempt (its target's breaker
    is open, or an operator paused the target); ``False`` if the claim was lost meanwhile."""
    held = await conn.execute(
        _HOLD, {"message_id": message_id, "fence": fence, "reason": reason, "now": utcnow()}
    )
    return held.rowcount == 1


_HOLD = (
    update(messages)
    .where(
        messages.c.id == bindparam("message_id"),
        messages.c.status == Status.IN_FLIGHT.value,
        messages.c.attempts_total == bindparam("fence"),
    )
    .values(
        status=Status.HELD.value,
        # The claim counted an attempt that never happened: give it back.
        attempts=messages.c.attempts - 1,
        attempts_total=messages.c.attempts_total - 1,
        lease_until=None,
        next_attempt_at=None,
        queued_at=None,
        last_error=bindparam("reason"),
        updated_at=bindparam("now"),
    )
)
