"""Edit-and-replay in the journal: an operator's edited payload becomes a new message that takes
the original's place in its ordering key.

The original (``failed``, an exhausted ``unknown_outcome``, ``retry_wait`` or ``held``: it heads
its key, or has none) becomes ``edited``, a terminal status no replay or cancel applies to, so it
can never run as well. The edit is journaled as a new message with the same method, target,
operation, caller, ordering key and sequence number (``edited_from`` names the original), a fresh
retry budget, runnable at once: the messages blocked behind the original stay behind the edit,
and the key's count of unfinished messages is unchanged (one left, one came).

The route's later steps that have not run yet and carry the original's payload (an order's CRM
step after its ERP step) carry the edited payload from now on, and the steps of an edited first
step become the edit's (their ``parent_id``): a later step reads the step before it by parent
and sequence (:func:`bus.journal.delivery.step_input`). The operator's action on the original
keeps who, why, the edit's id and the payload's diff. All in the caller's transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from bus.errors import InvalidTransition, MessageNotFound
from bus.journal.accept import sent_digest
from bus.journal.ids import new_message_id, utcnow
from bus.journal.tables import Status, messages, operator_actions
from bus.journal.wakes import Wake

#: Statuses an operator may edit a message in: it waits, and has not delivered (an
#: ``unknown_outcome`` only once it has no attempt left: until then its next attempt checks).
EDITABLE = (Status.FAILED, Status.UNKNOWN_OUTCOME, Status.RETRY_WAIT, Status.HELD)


@dataclasses.dataclass(frozen=True)
class Edited:
    """What an edit journaled."""

    original: str
    edited: str
    #: the original's status before the edit
    from_status: str
    #: the later steps of the route that now carry the edited payload
    carried: tuple[str, ...]
    #: the new message, to wake after the commit
    wake: Wake


async def original(conn: AsyncConnection, message_id: str, *, lock: bool = True) -> RowMapping:
    """The message to edit, checked editable (with ``lock``, locked on PostgreSQL until the
    commit).

    Raises:
        MessageNotFound: no such message.
        InvalidTransition: not in an editable status (an ``unknown_outcome`` with attempts left
            is not: its next attempt looks its effect up first).
    """
    query = select(messages).where(messages.c.id == message_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).mappings().first()
    if row is None:
        raise MessageNotFound({"message_id": message_id})
    parked = row["status"] != Status.UNKNOWN_OUTCOME.value or row["next_attempt_at"] is None
    if row["status"] not in {status.value for status in EDITABLE} or not parked:
        raise InvalidTransition(
            {
                "message_id": message_id,
                "status": row["status"],
                "allowed": [status.value for status in EDITABLE],
                "reason": _why_not(row),
            }
        )
    return row


def _why_not(row: RowMapping) -> str:
    if row["status"] == Status.UNKNOWN_OUTCOME.value:
        return (
            "its outcome is unknown and it has attempts left: its next attempt looks its effect"
            " up first; edit it once it has none"
        )
    if row["status"] == Status.EDITED.value:
        return "it was edited already: act on its edit (bus messages show names it)"
    return f"a {row['status']} message is not edited (only {', '.join(s.value for s in EDITABLE)})"


async def edit(
    conn: AsyncConnection,
    row: RowMapping,
    payload: dict[str, Any],
    *,
    actor: str,
    reason: str,
    diff: str,
) -> Edited:
    """Journal ``payload`` as the edit of ``row`` (read by :func:`original` in this
    transaction), in its place; see the module docstring."""
    now = utcnow()
    new_id = new_message_id()
    digest = sent_digest(row["method"], payload)
    fresh = {
        **row,
        "id": new_id,
        "payload": payload,
        "payload_hash": digest,
        # the caller's key stays the original's: a repeated call is answered with the original
        "idempotency_key": f"edit:{new_id}",
        "status": Status.ACCEPTED.value,
        "attempts": 0,
        "attempts_total": 0,
        "next_attempt_at": None,
        "lease_until": None,
        "queued_at": None,  # woken by the caller, or by the sweeper with the embedded queue
        "last_error": None,
        "result": None,
        "accepted_at": now,
        "cycle_started_at": now,
        "updated_at": now,
        "finished_at": None,
        "edited_from": row["id"],
    }
    changed = await conn.execute(
        update(messages)
        .where(messages.c.id == row["id"], messages.c.status == row["status"])
        .values(
            status=Status.EDITED.value,
            next_attempt_at=None,
            queued_at=None,
            lease_until=None,
            finished_at=now,
            updated_at=now,
            awaiting=None,  # a request's answer is its edit's now: the ERP decides the edit
        )
    )
    if changed.rowcount != 1:  # a worker claimed it meanwhile (SQLite reads it unlocked)
        raise InvalidTransition({"message_id": row["id"], "status": "changed meanwhile"})
    await conn.execute(insert(messages).values(fresh))
    carried = await _carry(conn, row, new_id, payload, digest)
    await conn.execute(
        insert(operator_actions).values(
            message_id=row["id"],
            action="edit",
            actor=actor,
            reason=reason,
            from_status=row["status"],
            at=now,
            detail={"edited_as": new_id, "diff": diff, "carried": list(carried)},
        )
    )
    return Edited(
        row["id"], new_id, row["status"], carried, Wake(new_id, row["target"], row["operation"])
    )


async def _carry(
    conn: AsyncConnection, row: RowMapping, new_id: str, payload: dict[str, Any], digest: str
) -> tuple[str, ...]:
    """Hand the edited payload to the route's later steps that have not run and carry the
    original's; the steps of an edited first step become the edit's."""
    if row["ordering_key"] is None:
        return ()
    c = messages.c
    first_step = row["parent_id"] is None
    steps = await conn.execute(
        select(c.id, c.payload).where(
            c.ordering_key == row["ordering_key"],
            c.ordering_seq > row["ordering_seq"],
            c.status == Status.BLOCKED.value,
            c.parent_id == (row["id"] if first_step else row["parent_id"]),
        )
    )
    later = [step.id for step in steps if step.payload == row["payload"]]
    if not later:
        return ()
    values: dict[str, Any] = {"payload": payload, "payload_hash": digest}
    if first_step:
        values["parent_id"] = new_id
    await conn.execute(update(messages).where(c.id.in_(later)).values(values))
    return tuple(later)


async def edits_of(conn: AsyncConnection, message_ids: Sequence[str]) -> dict[str, str]:
    """The edit each of ``message_ids`` became, if it was edited: original -> edit."""
    rows = await conn.execute(
        select(messages.c.edited_from, messages.c.id).where(
            messages.c.edited_from.in_(list(message_ids))
        )
    )
    return {row.edited_from: row.id for row in rows}
