"""Operator actions on messages: replay, release and cancel, each recorded with who and why."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bus.errors import InvalidTransition, MessageNotFound
from bus.journal import bulk
from bus.journal.circuits import OPEN
from bus.journal.ids import utcnow
from bus.journal.tables import Status, circuits, messages, operator_actions
from bus.journal.wakes import Wake


async def replay(conn: AsyncConnection, message_id: str, *, actor: str, reason: str) -> Status:
    """Give a failed (or parked) message a fresh retry budget and make it runnable again
    (:func:`bus.journal.bulk.replay`, for one message).

    Returns the new status: ``accepted``, or ``blocked`` when another message of its ordering key
    is the head now (a replayed cancelled message runs next after it).

    Raises:
        MessageNotFound: no such message.
        InvalidTransition: the message is not in a replayable status.
    """
    outcome = await bulk.replay(conn, [message_id], actor=actor, reason=reason, notify=False)
    _raise_refusal(outcome)
    [(_, status)] = outcome.done
    return status


async def release(conn: AsyncConnection, message_id: str, *, actor: str, reason: str) -> Wake:
    """Let a ``held`` message through now; returns it, to wake.

    The operator says the target is back: if its breaker is still open, its probe falls due now,
    so this message is the probe. Its success closes the breaker and releases every other held
    message; its failure holds it again and doubles the cooldown.

    Raises:
        MessageNotFound: no such message.
        InvalidTransition: the message is not held.
    """
    row = await _load(conn, message_id)
    if row.status != Status.HELD.value:
        raise InvalidTransition(
            {"message_id": message_id, "status": row.status, "allowed": [Status.HELD.value]}
        )
    now = utcnow()
    await _transition(
        conn,
        message_id,
        row.status,
        {"status": Status.ACCEPTED.value, "queued_at": None, "updated_at": now},
    )
    await conn.execute(
        update(circuits)
        .where(circuits.c.target == row.target, circuits.c.state == OPEN)
        .values(probe_at=now, updated_at=now)
    )
    await _record(conn, message_id, "release", actor, reason, row.status)
    return Wake(message_id, row.target, row.operation)


async def cancel(conn: AsyncConnection, message_id: str, *, actor: str, reason: str) -> Wake | None:
    """Withdraw a message that has not been delivered (:func:`bus.journal.bulk.cancel`, for one
    message); returns the next of its key, if promoted.

    Raises:
        MessageNotFound: no such message.
        InvalidTransition: the message is delivered, skipped, cancelled already, or in flight now.
    """
    outcome = await bulk.cancel(conn, [message_id], actor=actor, reason=reason, notify=False)
    _raise_refusal(outcome)
    return outcome.wake[0] if outcome.wake else None


def _raise_refusal(outcome: bulk.BatchOutcome) -> None:
    """Raise the error of a refused single-message action."""
    for refusal in outcome.refused:
        if refusal.status is None:
            raise MessageNotFound({"message_id": refusal.message_id})
        raise InvalidTransition(
            {
                "message_id": refusal.message_id,
                "status": refusal.status,
                "allowed": list(refusal.allowed),
            }
        )


async def _transition(
    conn: AsyncConnection, message_id: str, from_status: str, values: dict[str, Any]
) -> None:
    """Update the message only if it is still in ``from_status`` (a worker may have claimed it)."""
    changed = await conn.execute(
        update(messages)
        .where(messages.c.id == message_id, messages.c.status == from_status)
        .values(values)
    )
    if changed.rowcount != 1:
        raise InvalidTransition({"message_id": message_id, "status": "changed meanwhile"})


async def _load(conn: AsyncConnection, message_id: str):  # type: ignore[no-untyped-def]
    row = (
        await conn.execute(
            select(
                messages.c.status,
                messages.c.ordering_key,
                messages.c.target,
                messages.c.operation,
            ).where(messages.c.id == message_id)
        )
    ).first()
    if row is None:
        raise MessageNotFound({"message_id": message_id})
    return row


async def _record(
    conn: AsyncConnection, message_id: str, action: str, actor: str, reason: str, from_status: str
) -> None:
    await conn.execute(
        insert(operator_actions).values(
            message_id=message_id,
            action=action,
            actor=actor,
            reason=reason,
            from_status=from_status,
            at=utcnow(),
        )
    )
