"""Operator actions on messages: replay, release and cancel, each recorded with who and why."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bus.errors import InvalidTransition, MessageNotFound
from bus.journal.circuits import OPEN
from bus.journal.delivery import count_open, release_key
from bus.journal.ids import utcnow
from bus.journal.tables import (
    RELEASING,
    REPLAYABLE,
    Status,
    circuits,
    messages,
    operator_actions,
)
from bus.journal.wakes import Wake


async def replay(conn: AsyncConnection, message_id: str, *, actor: str, reason: str) -> Status:
    """Give a failed (or parked) message a fresh retry budget and make it runnable again.

    Returns the new status: ``accepted``, or ``blocked`` when another message of its ordering key
    is the head now (a replayed cancelled message runs next after it).

    Raises:
        MessageNotFound: no such message.
        InvalidTransition: the message is not in a replayable status.
    """
    row = await _load(conn, message_id)
    if row.status not in {status.value for status in REPLAYABLE}:
        raise InvalidTransition(
            {
                "message_id": message_id,
                "status": row.status,
                "allowed": [status.value for status in REPLAYABLE],
            }
        )
    now = utcnow()
    await _transition(
        conn,
        message_id,
        row.status,
        {
            "status": Status.ACCEPTED.value,
            "attempts": 0,
            "next_attempt_at": None,
            "queued_at": None,
            "lease_until": None,
            "finished_at": None,
            "cycle_started_at": now,
            "updated_at": now,
        },
    )
    new_status = Status.ACCEPTED
    if row.ordering_key is not None and row.status == Status.CANCELLED.value:
        # Back among the key's unfinished messages; any other status here is the key's head.
        await count_open(conn, row.ordering_key, +1)
        if await _key_has_other_head(conn, row.ordering_key, message_id):
            new_status = Status.BLOCKED
            await _transition(conn, message_id, Status.ACCEPTED.value, {"status": new_status.value})
    await _record(conn, message_id, "replay", actor, reason, row.status)
    return new_status


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
    return Wake(message_id, row.target)


async def cancel(conn: AsyncConnection, message_id: str, *, actor: str, reason: str) -> Wake | None:
    """Withdraw a message that has not been delivered; returns the next of its key, if promoted.

    Raises:
        MessageNotFound: no such message.
        InvalidTransition: the message is delivered, skipped, cancelled already, or in flight now.
    """
    row = await _load(conn, message_id)
    final_or_running = {*(status.value for status in RELEASING), Status.IN_FLIGHT.value}
    if row.status in final_or_running:
        raise InvalidTransition({"message_id": message_id, "status": row.status})
    now = utcnow()
    await _transition(
        conn,
        message_id,
        row.status,
        {
            "status": Status.CANCELLED.value,
            "next_attempt_at": None,
            "queued_at": None,
            "finished_at": now,
            "updated_at": now,
        },
    )
    await _record(conn, message_id, "cancel", actor, reason, row.status)
    if row.ordering_key is None:
        return None
    if row.status == Status.BLOCKED.value:
        await count_open(conn, row.ordering_key, -1)
        return None  # the head of the key is still another message
    return await release_key(conn, row.ordering_key)


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
            select(messages.c.status, messages.c.ordering_key, messages.c.target).where(
                messages.c.id == message_id
            )
        )
    ).first()
    if row is None:
        raise MessageNotFound({"message_id": message_id})
    return row


async def _key_has_other_head(conn: AsyncConnection, key: str, message_id: str) -> bool:
    """True when another message of ``key`` is runnable or running (only one head at a time)."""
    waiting_or_done = [*(status.value for status in RELEASING), Status.BLOCKED.value]
    found = await conn.scalar(
        select(messages.c.id)
        .where(
            messages.c.ordering_key == key,
            messages.c.id != message_id,
            messages.c.status.not_in(waiting_or_done),
        )
        .limit(1)
    )
    return found is not None


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
