"""Operator actions on many messages in one transaction: replay and cancel, batch by batch.

An operator replays two thousand failed orders at once, or cancels them. Each batch is a handful
of statements whatever its size: read and lock the batch's rows, refuse those not in a status the
action takes, change the others in one ``UPDATE``, record one ``operator_actions`` row per
message (who, why, from which status) in one ``INSERT``, tell the storefront
(:func:`bus.journal.notices.tell_operator_actions`). Ordering keys are counted in one statement;
only a replayed cancelled message of a key (it rejoins its key, as its head or behind it) and the
promotion of the next message of a key whose head was cancelled go one by one.

The rows are locked (``FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` locks it all) so
that a worker's claim or finish waits for the batch, then sees its outcome: a message is never
changed from a status other than the one it was checked in.

:func:`replay` and :func:`cancel` run in the caller's transaction and return what to wake after
its commit; :mod:`bus.operations` splits a selection into batches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bus.journal.delivery import count_open, promote_next
from bus.journal.ids import utcnow
from bus.journal.notices import tell_operator_actions
from bus.journal.tables import (
    RELEASING,
    REPLAYABLE,
    Status,
    messages,
    operator_actions,
    ordering_keys,
)
from bus.journal.wakes import Wake
from schemas.notices import OperatorAction

#: Statuses a message cannot be cancelled from: finished already, or being delivered right now.
NOT_CANCELLABLE = (*RELEASING, Status.IN_FLIGHT)
#: Statuses that do not hold their ordering key's head: finished, or waiting behind the head.
_NOT_A_HEAD = [*(status.value for status in RELEASING), Status.BLOCKED.value]


@dataclass(frozen=True)
class Refusal:
    """A message an action did not apply to, and why."""

    message_id: str
    #: its status, or ``None`` when there is no such message
    status: str | None
    #: the action's statuses, for the reason
    allowed: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        """Why, in words shared by every message refused for the same reason."""
        if self.status is None:
            return "no such message"
        return f"status {self.status}"


@dataclass(frozen=True)
class BatchOutcome:
    """What an action did to one batch of messages."""

    #: each message acted on, and its status now (a replayed message may be ``blocked``)
    done: tuple[tuple[str, Status], ...] = ()
    refused: tuple[Refusal, ...] = ()
    #: what may run now, to wake after the commit (replayed messages, promoted ones, notices)
    wake: tuple[Wake, ...] = field(default=())


async def replay(
    conn: AsyncConnection,
    message_ids: Sequence[str],
    *,
    actor: str,
    reason: str,
    notify: bool = True,
) -> BatchOutcome:
    """Give each failed (or parked, or cancelled) message a fresh retry budget and make it
    runnable again; the others are refused.

    A replayed cancelled message of an ordering key rejoins the key's unfinished messages: it is
    ``blocked`` when another message of its key is the head by then, else it is the head. The
    cancelled messages of one key are replayed in their key's order, so the earliest is the head.

    Parameters:
        notify: tell the storefront of each replay of one of its messages.
    """
    rows = await _locked(conn, message_ids)
    allowed = tuple(status.value for status in REPLAYABLE)
    ready = [row for row in rows.values() if row.status in allowed]
    refused = _refusals(message_ids, rows, allowed)
    rejoining = [r for r in ready if r.status == Status.CANCELLED.value and r.ordering_key]
    rest = [row for row in ready if row not in rejoining]
    now = utcnow()
    await _set_status(conn, [row.id for row in rest], Status.ACCEPTED, _fresh_budget(now))
    done = {row.id: Status.ACCEPTED for row in rest}
    for row in sorted(rejoining, key=lambda r: (r.ordering_key, r.ordering_seq)):
        done[row.id] = await _rejoin(conn, row, now)
    await _record(conn, ready, "replay", actor, reason, now)
    told = await tell_operator_actions(conn, list(done), "replay", reason) if notify else []
    runnable = [
        Wake(row.id, row.target, row.operation) for row in ready if done[row.id] is Status.ACCEPTED
    ]
    return BatchOutcome(_in_order(message_ids, done), refused, (*runnable, *told))


async def cancel(
    conn: AsyncConnection,
    message_ids: Sequence[str],
    *,
    actor: str,
    reason: str,
    notify: bool = True,
) -> BatchOutcome:
    """Withdraw each message that is not delivered, cancelled already or in flight; the others
    are refused. A cancelled head of an ordering key lets the key's next message run.

    Parameters:
        notify: tell the storefront of each cancel of one of its messages.
    """
    rows = await _locked(conn, message_ids)
    allowed = tuple(s.value for s in Status if s not in NOT_CANCELLABLE)
    ready = [row for row in rows.values() if row.status in allowed]
    refused = _refusals(message_ids, rows, allowed)
    now = utcnow()
    finished = {"next_attempt_at": None, "queued_at": None, "finished_at": now, "updated_at": now}
    await _set_status(conn, [row.id for row in ready], Status.CANCELLED, finished)
    await _record(conn, ready, "cancel", actor, reason, now)
    promoted = await _release_keys(conn, ready)
    done = {row.id: Status.CANCELLED for row in ready}
    told = await tell_operator_actions(conn, list(done), "cancel", reason) if notify else []
    return BatchOutcome(_in_order(message_ids, done), refused, (*promoted, *told))


async def _locked(conn: AsyncConnection, message_ids: Sequence[str]) -> dict[str, Any]:
    """The batch's rows by id, locked until the commit (in id order: one lock order for all)."""
    c = messages.c
    query = (
        select(c.id, c.status, c.target, c.operation, c.ordering_key, c.ordering_seq)
        .where(c.id.in_(list(message_ids)))
        .order_by(c.id)
        .with_for_update()
    )
    return {row.id: row for row in await conn.execute(query)}


def _refusals(
    message_ids: Sequence[str], rows: dict[str, Row[Any]], allowed: tuple[str, ...]
) -> tuple[Refusal, ...]:
    refused = []
    for message_id in dict.fromkeys(message_ids):
        row = rows.get(message_id)
        if row is None or row.status not in allowed:
            refused.append(Refusal(message_id, None if row is None else row.status, allowed))
    return tuple(refused)


def _fresh_budget(now: Any) -> dict[str, Any]:
    return {
        "attempts": 0,
        "next_attempt_at": None,
        "queued_at": None,
        "lease_until": None,
        "finished_at": None,
        "cycle_started_at": now,
        "updated_at": now,
    }


async def _set_status(
    conn: AsyncConnection, message_ids: list[str], status: Status, values: dict[str, Any]
) -> None:
    if message_ids:
        await conn.execute(
            update(messages)
            .where(messages.c.id.in_(message_ids))
            .values(status=status.value, **values)
        )


async def _rejoin(conn: AsyncConnection, row: Row[Any], now: Any) -> Status:
    """Replay a cancelled message of an ordering key: back among the key's unfinished messages,
    the head if no other message is, else ``blocked`` behind it."""
    await count_open(conn, row.ordering_key, +1)
    status = Status.BLOCKED if await _key_has_head(conn, row) else Status.ACCEPTED
    await _set_status(conn, [row.id], status, _fresh_budget(now))
    return status


async def _key_has_head(conn: AsyncConnection, row: Row[Any]) -> bool:
    """True when another message of ``row``'s key is runnable or running (one head at a time)."""
    found = await conn.scalar(
        select(messages.c.id)
        .where(
            messages.c.ordering_key == row.ordering_key,
            messages.c.id != row.id,
            messages.c.status.not_in(_NOT_A_HEAD),
        )
        .limit(1)
    )
    return found is not None


_COUNT_OUT = (
    update(ordering_keys)
    .where(ordering_keys.c.key == bindparam("ordering_key"))
    .values(open_count=ordering_keys.c.open_count - bindparam("cancelled"))
)


async def _release_keys(conn: AsyncConnection, cancelled: list[Row[Any]]) -> list[Wake]:
    """Count the cancelled messages out of their keys, and promote the next message of every
    key whose head was cancelled and that still has messages waiting."""
    per_key = Counter(row.ordering_key for row in cancelled if row.ordering_key)
    if not per_key:
        return []
    keys = sorted(per_key)  # the keys' rows locked in one order, as accepts lock them
    await conn.execute(
        _COUNT_OUT, [{"ordering_key": key, "cancelled": per_key[key]} for key in keys]
    )
    heads = sorted(
        {r.ordering_key for r in cancelled if r.ordering_key and r.status != Status.BLOCKED.value}
    )
    if not heads:
        return []  # only messages behind a head were cancelled: the head is still another one
    still_open = await conn.execute(
        select(ordering_keys.c.key).where(
            ordering_keys.c.key.in_(heads), ordering_keys.c.open_count > 0
        )
    )
    promoted = [await promote_next(conn, key) for key in still_open.scalars()]
    return [wake for wake in promoted if wake is not None]


async def _record(
    conn: AsyncConnection,
    rows: list[Row[Any]],
    action: OperatorAction,
    actor: str,
    reason: str,
    now: Any,
) -> None:
    """One ``operator_actions`` row per message: who did what, why, and from which status."""
    if rows:
        await conn.execute(
            insert(operator_actions),
            [
                {
                    "message_id": row.id,
                    "action": action,
                    "actor": actor,
                    "reason": reason,
                    "from_status": row.status,
                    "at": now,
                }
                for row in rows
            ],
        )


def _in_order(
    message_ids: Sequence[str], done: dict[str, Status]
) -> tuple[tuple[str, Status], ...]:
    return tuple((m, done[m]) for m in dict.fromkeys(message_ids) if m in done)
