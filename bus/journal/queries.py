"""Reading the journal: one message with its attempts, and filtered listings."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bus.journal.tables import RELEASING, Status, attempts, messages, operator_actions


@dataclass(frozen=True)
class MessageFilter:
    """Criteria for listing messages; every field left ``None`` matches everything."""

    statuses: tuple[str, ...] = ()
    method: str | None = None
    target: str | None = None
    source: str | None = None
    ordering_key: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    error_contains: str | None = None
    ids: tuple[str, ...] = field(default=())
    #: any further condition (stuck requests: :meth:`bus.journal.deadlines.Deadlines.stuck`)
    condition: ColumnElement[bool] | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        """Add this filter's conditions to ``query`` over ``messages``."""
        c = messages.c
        if self.statuses:
            query = query.where(c.status.in_(self.statuses))
        if self.ids:
            query = query.where(c.id.in_(self.ids))
        equal = {
            c.method: self.method,
            c.target: self.target,
            c.source: self.source,
            c.ordering_key: self.ordering_key,
        }
        for column, value in equal.items():
            if value is not None:
                query = query.where(column == value)
        if self.since is not None:
            query = query.where(c.accepted_at >= self.since)
        if self.until is not None:
            query = query.where(c.accepted_at < self.until)
        if self.error_contains:
            # on ix_messages_errors: only messages with an error are searched
            query = query.where(
                c.last_error.is_not(None), c.last_error.ilike(f"%{self.error_contains}%")
            )
        if self.condition is not None:
            query = query.where(self.condition)
        return query


#: An attempt without its request and response bodies (``get_message(..., bodies=False)``).
_ATTEMPT_HEAD = [column for column in attempts.c if column.name not in ("request", "response")]


async def get_message(
    conn: AsyncConnection, message_id: str, *, bodies: bool = True
) -> dict[str, Any] | None:
    """Return one message as a dict, with its ``attempts``, operator ``actions``, the
    ``children`` (the later steps of its route), when blocked, what ``blocked_by``, and the
    operator's ``edit`` it underwent or came from; or
    ``None``. Without ``bodies`` the attempts come without their request and response (the
    larger part of the journal), for readers that do not show them."""
    row = (
        (await conn.execute(select(messages).where(messages.c.id == message_id))).mappings().first()
    )
    if row is None:
        return None
    message = dict(row)
    tries = await conn.execute(
        select(*(attempts.c if bodies else _ATTEMPT_HEAD))
        .where(attempts.c.message_id == message_id)
        .order_by(attempts.c.number)
    )
    message["attempts_log"] = [dict(attempt) for attempt in tries.mappings()]
    actions = await conn.execute(
        select(operator_actions)
        .where(operator_actions.c.message_id == message_id)
        .order_by(operator_actions.c.id)
    )
    message["actions"] = [dict(action) for action in actions.mappings()]
    steps = await conn.execute(
        select(
            messages.c.id,
            messages.c.method,
            messages.c.status,
            messages.c.target,
            messages.c.operation,
        )
        .where(messages.c.parent_id == message_id)
        .order_by(messages.c.ordering_seq, messages.c.id)
    )
    message["children"] = [dict(step) for step in steps.mappings()]
    message["blocked_by"] = await _blocked_by(conn, message)
    message["edit"] = await _edit(conn, message)
    return message


async def _edit(conn: AsyncConnection, message: dict[str, Any]) -> dict[str, Any] | None:
    """An operator's edit this message underwent or came from (``bus messages edit``): the
    original, the edit, who, when, why and the payload's diff; ``None`` for most messages."""
    original = message["id"] if message["status"] == Status.EDITED.value else None
    original = original or message.get("edited_from")
    if original is None:
        return None
    action = (
        (
            await conn.execute(
                select(operator_actions)
                .where(
                    operator_actions.c.message_id == original, operator_actions.c.action == "edit"
                )
                .order_by(operator_actions.c.id.desc())
                .limit(1)
            )
        )
        .mappings()
        .first()
    )
    detail = (action["detail"] if action is not None else None) or {}
    return {
        "original": original,
        "edited": detail.get("edited_as") or (message["id"] if original != message["id"] else None),
        "actor": action["actor"] if action is not None else None,
        "reason": action["reason"] if action is not None else None,
        "at": action["at"] if action is not None else None,
        "diff": detail.get("diff"),
    }


async def _blocked_by(conn: AsyncConnection, message: dict[str, Any]) -> dict[str, Any] | None:
    """For a ``blocked`` message, the oldest unfinished message before it in its ordering key:
    the one an operator acts on (replay or cancel) to move the key forward."""
    if message["status"] != Status.BLOCKED.value:
        return None
    head = (
        await conn.execute(
            select(messages.c.id, messages.c.status)
            .where(
                messages.c.ordering_key == message["ordering_key"],
                messages.c.ordering_seq < message["ordering_seq"],
                messages.c.status.not_in([status.value for status in RELEASING]),
            )
            .order_by(messages.c.ordering_seq)
            .limit(1)
        )
    ).first()
    return None if head is None else {"id": head.id, "status": head.status}


async def list_messages(
    conn: AsyncConnection, where: MessageFilter, *, limit: int = 100
) -> list[dict[str, Any]]:
    """Return messages matching ``where``, newest first, without payloads' attempts."""
    query = where.apply(select(messages)).order_by(messages.c.id.desc()).limit(limit)
    return [dict(row) for row in (await conn.execute(query)).mappings()]


async def repeat_of(
    conn: AsyncConnection, source: str, idempotency_key: str, digest: str
) -> str | None:
    """The message ``source`` journaled under ``idempotency_key`` with this content's
    ``digest`` (:func:`bus.journal.accept.sent_digest`), if there is one."""
    query = select(messages.c.id).where(
        messages.c.source == source,
        messages.c.idempotency_key == idempotency_key,
        messages.c.payload_hash == digest,
    )
    found: str | None = (await conn.execute(query)).scalar()
    return found
