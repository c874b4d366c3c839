"""Operators' pauses of targets: a maintenance window holds messages without spending attempts.

An operator pauses a target (``bus targets pause navision --reason "NAV upgrade" --until …``):
from then on a worker that claims a message of the target puts it back as ``held``, the attempt
given back, and sends nothing. The claim itself says whether the target is paused (a subquery in
its ``RETURNING``: no query more per delivery); the hold is then decided again under the pause
row's lock (:func:`hold`), serialized with a resume, so a message is never held by a pause that
has ended. A resume ends the pause and releases the target's held messages in one transaction
(a breaker still open holds them again as its own, as if no pause had been); once the pause's
``until`` passes, claims no longer see it, and the sweeper ends it and releases what it held
(:func:`end_expired`).

A pause is the operator's state of the target, kept apart from the breaker's (``circuits``): a
resume does not close a breaker, a breaker that closes does not end a pause, and the sweeper's
release of messages held for closed breakers leaves a paused target's alone. Each window is one
row, kept when it ends: who paused it and why, who ended it (an operator, or ``until``) and why.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bus.errors import InvalidTransition
from bus.journal.holds import hold_claimed
from bus.journal.ids import utcnow
from bus.journal.tables import Status, messages, target_pauses
from bus.journal.wakes import Wake

log = logging.getLogger(__name__)

#: Who ends a pause whose ``until`` passed, and why.
UNTIL_ACTOR = "bus"
UNTIL_REASON = "the pause's end (--until) passed"


@dataclass(frozen=True)
class Pause:
    """One maintenance window of a target, on or ended."""

    id: int
    target: str
    paused_at: dt.datetime
    paused_by: str
    reason: str
    until: dt.datetime | None
    resumed_at: dt.datetime | None
    resumed_by: str | None
    resume_reason: str | None

    def describe(self) -> str:
        """One line: who paused the target, since when, why, and until when."""
        until = f" until {self.until:%Y-%m-%d %H:%M}Z" if self.until else " until resumed"
        return (
            f"{self.target} is paused by {self.paused_by} since {self.paused_at:%Y-%m-%d %H:%M}Z"
            f"{until}: {self.reason}"
        )

    def as_dict(self) -> dict[str, Any]:
        """The window as JSON-ready values."""
        return {
            name: value.isoformat() if isinstance(value, dt.datetime) else value
            for name, value in self.__dict__.items()
        }


def on(now: Any) -> ColumnElement[bool]:
    """A pause row that holds its target's messages at ``now`` (a value or a bound parameter)."""
    c = target_pauses.c
    return and_(c.resumed_at.is_(None), or_(c.until.is_(None), c.until > now))


def paused_at_claim() -> ColumnElement[bool]:
    """Whether the claimed message's target is paused at the claim's ``now``: a column of the
    claim's ``RETURNING`` (the partial unique index finds the target's open window)."""
    return (
        exists()
        .where(target_pauses.c.target == messages.c.target, on(bindparam("now")))
        .label("paused")
    )


def paused_targets(now: dt.datetime) -> Select[tuple[str]]:
    """The targets paused at ``now``, as a subquery (the sweeper's and the breaker's releases
    leave their held messages alone)."""
    return select(target_pauses.c.target).where(on(now))


async def pause(
    conn: AsyncConnection,
    target: str,
    *,
    actor: str,
    reason: str,
    until: dt.datetime | None = None,
) -> Pause:
    """Pause ``target`` from now (until ``until``, or until resumed), recorded with who and why.

    Raises:
        InvalidTransition: the target is paused already (the window in force is named), or
            ``until`` is not in the future.
    """
    now = utcnow()
    if until is not None and until <= now:
        raise InvalidTransition(
            {"target": target, "until": until.isoformat(), "reason": "until is not in the future"}
        )
    current = await _current(conn, target, now, lock=True)
    if current is not None:
        raise InvalidTransition(
            {"target": target, "paused": current.as_dict(), "reason": current.describe()}
        )
    await _end_lapsed(conn, target, now)  # a window whose until passed is over before this one
    try:
        new_id = (
            await conn.execute(
                insert(target_pauses)
                .values(target=target, paused_at=now, paused_by=actor, reason=reason, until=until)
                .returning(target_pauses.c.id)
            )
        ).scalar_one()
    except IntegrityError:  # another operator paused it at the same moment (one window is on)
        raise InvalidTransition(
            {"target": target, "reason": f"{target} was paused meanwhile"}
        ) from None
    return Pause(new_id, target, now, actor, reason, until, None, None, None)


async def resume(
    conn: AsyncConnection, target: str, *, actor: str, reason: str
) -> tuple[Pause, list[Wake]]:
    """End ``target``'s pause and release its held messages; the pause, and the messages to wake.

    Raises:
        InvalidTransition: the target is not paused.
    """
    now = utcnow()
    current = await _current(conn, target, now, lock=True)
    if current is None:
        raise InvalidTransition({"target": target, "reason": f"{target} is not paused"})
    ended = await _end(conn, current, actor, reason, now)
    # Not stamped queued: the caller enqueues them with a Redis queue; with the embedded one,
    # which lives in ``bus serve``, the sweeper wakes them in its next round.
    return ended, await _release(conn, target, now, queued_at=None)


async def end_expired(conn: AsyncConnection) -> list[Wake]:
    """End every pause whose ``until`` passed and release what it held; the messages to wake.

    The sweeper's part: a claim already ignores such a pause, so this records its end and lets
    the messages it held run.
    """
    now = utcnow()
    lapsed = (
        await conn.execute(
            select(target_pauses)
            .where(
                target_pauses.c.resumed_at.is_(None),
                target_pauses.c.until.is_not(None),
                target_pauses.c.until <= now,
            )
            .with_for_update()
        )
    ).mappings()
    woken: list[Wake] = []
    for row in list(lapsed):
        window = Pause(**row)
        await _end(conn, window, UNTIL_ACTOR, UNTIL_REASON, now)
        released = await _release(conn, window.target, now, queued_at=now)
        log.warning(
            "the pause of %s ended (its --until passed): %d held message(s) released",
            window.target,
            len(released),
        )
        woken += released
    return woken


async def hold(conn: AsyncConnection, message_id: str, fence: int, target: str) -> bool | None:
    """Hold a message its claim saw paused, if its target is still paused (decided under the
    pause row's lock, serialized with a resume).

    Returns:
        ``None`` when the target is no longer paused (deliver it); ``True`` when the message is
        held; ``False`` when the claim was lost meanwhile (the message is not ours to touch).
    """
    current = await _current(conn, target, utcnow(), lock=True)
    if current is None:
        return None
    return await hold_claimed(conn, message_id, fence, current.describe())


async def current(conn: AsyncConnection) -> list[Pause]:
    """Every pause in force now, by target."""
    now = utcnow()
    rows = await conn.execute(select(target_pauses).where(on(now)).order_by(target_pauses.c.target))
    return [Pause(**row) for row in rows.mappings()]


async def history(conn: AsyncConnection, target: str | None = None, limit: int = 20) -> list[Pause]:
    """The latest windows (on and ended), newest first; of one target if given."""
    query = select(target_pauses).order_by(target_pauses.c.id.desc()).limit(limit)
    if target is not None:
        query = query.where(target_pauses.c.target == target)
    return [Pause(**row) for row in (await conn.execute(query)).mappings()]


async def held_counts(conn: AsyncConnection) -> dict[str, int]:
    """How many messages are held, by target."""
    rows = await conn.execute(
        select(messages.c.target, func.count())
        .where(messages.c.status == Status.HELD.value)
        .group_by(messages.c.target)
    )
    return {target: count for target, count in rows}


async def _current(
    conn: AsyncConnection, target: str, now: dt.datetime, *, lock: bool
) -> Pause | None:
    query = select(target_pauses).where(target_pauses.c.target == target, on(now))
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else Pause(**row)


async def _end(
    conn: AsyncConnection, window: Pause, actor: str, reason: str, now: dt.datetime
) -> Pause:
    await conn.execute(
        update(target_pauses)
        .where(target_pauses.c.id == window.id)
        .values(resumed_at=now, resumed_by=actor, resume_reason=reason)
    )
    return dataclasses.replace(window, resumed_at=now, resumed_by=actor, resume_reason=reason)


async def _end_lapsed(conn: AsyncConnection, target: str, now: dt.datetime) -> None:
    """Record the end of ``target``'s window whose ``until`` passed (the sweeper had not yet)."""
    await conn.execute(
        update(target_pauses)
        .where(
            target_pauses.c.target == target,
            target_pauses.c.resumed_at.is_(None),
            target_pauses.c.until <= now,
        )
        .values(resumed_at=now, resumed_by=UNTIL_ACTOR, resume_reason=UNTIL_REASON)
    )


async def _release(
    conn: AsyncConnection, target: str, now: dt.datetime, *, queued_at: dt.datetime | None
) -> list[Wake]:
    """Make ``target``'s held messages runnable. The pause does not judge the breaker: if it
    is open, the worker that claims each one holds it again for the breaker, uncounted (or
    takes the probe, if due)."""
    released = await conn.execute(
        update(messages)
        .where(messages.c.target == target, messages.c.status == Status.HELD.value)
        .values(status=Status.ACCEPTED.value, updated_at=now, queued_at=queued_at)
        .returning(messages.c.id, messages.c.operation)
    )
    return [Wake(row.id, target, row.operation) for row in released]
