"""Circuit breakers in the journal: one row per target, shared by every worker process.

A breaker is *closed* (deliver) or *open* (hold). It opens after a run of consecutive failed
attempts; while open, a worker that claims a message for the target puts it back as ``held``
without counting the attempt. When ``probe_at`` passes, exactly one worker wins the probe (a
conditional update moves ``probe_at`` forward); its success closes the breaker and releases every
held message in the same transaction, its failure doubles the cooldown.

Holding is decided under the breaker row's lock (:func:`admit`), serialized with the closing
transaction: a message is held only while the breaker is open, and a breaker that closes releases
every message held before it closed. The sweeper releases held messages of a closed breaker all
the same (:func:`release_closed`), and wakes a probe for an open one whose probe is due.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bus.journal.holds import hold_claimed
from bus.journal.ids import utcnow
from bus.journal.pauses import paused_targets
from bus.journal.tables import Status, circuits, messages
from bus.journal.wakes import Wake
from bus.settings import BreakerSettings

CLOSED = "closed"
OPEN = "open"


class Admission(enum.Enum):
    """What a worker does with a message it claimed, given its target's breaker."""

    DELIVER = "deliver"
    PROBE = "probe"
    #: the message was put back as ``held``
    HOLD = "hold"
    #: the claim was lost meanwhile (its lease expired): the message is not ours to touch
    LOST = "lost"


@dataclass(frozen=True)
class Circuit:
    """A target's breaker as last read."""

    target: str
    state: str
    failures: int
    probe_at: dt.datetime | None

    @property
    def is_open(self) -> bool:
        """True while messages for the target are held."""
        return self.state == OPEN


def closed(target: str) -> Circuit:
    """The state of a target with no breaker row yet."""
    return Circuit(target, CLOSED, 0, None)


async def read(conn: AsyncConnection, target: str) -> Circuit:
    """The breaker of ``target`` (closed if it never failed)."""
    row = (await conn.execute(select(circuits).where(circuits.c.target == target))).first()
    if row is None:
        return closed(target)
    return Circuit(row.target, row.state, row.failures, row.probe_at)


async def record_failure(
    conn: AsyncConnection, target: str, breaker: BreakerSettings, *, probing: bool
) -> Circuit:
    """Count a failed attempt; open the breaker at the threshold, or re-open it after a probe."""
    now = utcnow()
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(circuits)
    row = (
        await conn.execute(
            insert.values(
                target=target, state=CLOSED, failures=1, cooldown=breaker.cooldown, updated_at=now
            )
            .on_conflict_do_update(
                index_elements=[circuits.c.target],
                set_={"failures": circuits.c.failures + 1, "updated_at": now},
            )
            .returning(circuits.c.state, circuits.c.failures, circuits.c.cooldown)
        )
    ).one()
    if probing and row.state == OPEN:
        cooldown = min(breaker.max_cooldown, row.cooldown * 2)
        return await _open(conn, target, cooldown, row.failures, now)
    if row.state == CLOSED and row.failures >= breaker.failure_threshold:
        return await _open(conn, target, breaker.cooldown, row.failures, now)
    return Circuit(target, row.state, row.failures, None)


async def _open(
    conn: AsyncConnection, target: str, cooldown: float, failures: int, now: dt.datetime
) -> Circuit:
    probe_at = now + dt.timedelta(seconds=cooldown)
    await conn.execute(
        update(circuits)
        .where(circuits.c.target == target)
        .values(state=OPEN, cooldown=cooldown, opened_at=now, probe_at=probe_at, updated_at=now)
    )
    return Circuit(target, OPEN, failures, probe_at)


async def record_success(
    conn: AsyncConnection, target: str, breaker: BreakerSettings
) -> list[Wake]:
    """Close the breaker and release its held messages; them, to wake after the commit."""
    now = utcnow()
    await conn.execute(
        update(circuits)
        .where(circuits.c.target == target)
        .values(
            state=CLOSED,
            failures=0,
            cooldown=breaker.cooldown,
            opened_at=None,
            probe_at=None,
            updated_at=now,
        )
    )
    released = await conn.execute(
        update(messages)
        .where(
            messages.c.target == target,
            messages.c.status == Status.HELD.value,
            messages.c.target.not_in(paused_targets(now)),  # they wait for the pause's end
        )
        .values(status=Status.ACCEPTED.value, updated_at=now, queued_at=now)
        .returning(messages.c.id, messages.c.operation)
    )
    return [Wake(row.id, target, row.operation) for row in released]


async def admit(
    conn: AsyncConnection, claimed_id: str, fence: int, target: str, breaker: BreakerSettings
) -> tuple[Admission, Circuit]:
    """Decide, under the breaker row's lock, what to do with a claimed message; and the breaker.

    Closed: deliver. Open with its probe due: this message is the probe (``probe_at`` moves one
    cooldown on, so one worker wins). Open otherwise: the message is held, uncounted. The lock
    (``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) serializes this with the probe's
    success, which closes the breaker and releases held messages in one transaction: a message
    is never held by a breaker that has already closed.
    """
    row = (
        await conn.execute(select(circuits).where(circuits.c.target == target).with_for_update())
    ).first()
    circuit = (
        closed(target) if row is None else Circuit(target, row.state, row.failures, row.probe_at)
    )
    if not circuit.is_open:
        return Admission.DELIVER, circuit
    now = utcnow()
    if circuit.probe_at is not None and circuit.probe_at <= now:
        next_probe = now + dt.timedelta(seconds=breaker.cooldown)
        await conn.execute(
            update(circuits)
            .where(circuits.c.target == target)
            .values(probe_at=next_probe, updated_at=now)
        )
        return Admission.PROBE, Circuit(target, OPEN, circuit.failures, next_probe)
    reason = f"{target} is unavailable: its circuit breaker is open until {circuit.probe_at}"
    held = await hold_claimed(conn, claimed_id, fence, reason)
    return (Admission.HOLD if held else Admission.LOST), circuit


async def release_closed(conn: AsyncConnection) -> list[Wake]:
    """Make runnable every message held for a breaker that is not open, of a target that is not
    paused; them, to wake.

    The probe's success releases held messages as it closes the breaker; this is the sweeper's
    net under that, for whatever a crash or an operator's edit of the breaker left behind.
    """
    now = utcnow()
    still_open = select(circuits.c.target).where(circuits.c.state == OPEN)
    released = await conn.execute(
        update(messages)
        .where(
            messages.c.status == Status.HELD.value,
            messages.c.target.not_in(still_open),
            messages.c.target.not_in(paused_targets(now)),  # held by an operator's pause
        )
        .values(status=Status.ACCEPTED.value, updated_at=now, queued_at=now)
        .returning(messages.c.id, messages.c.target, messages.c.operation)
    )
    return [Wake(row.id, row.target, row.operation) for row in released]


async def probe_candidates(conn: AsyncConnection, limit: int = 1) -> list[Wake]:
    """For every open breaker whose probe is due, its oldest held message, made runnable again.

    The sweeper enqueues them; the worker that claims one then takes the probe.
    """
    now = utcnow()
    due = (
        await conn.execute(
            select(circuits.c.target).where(
                circuits.c.state == OPEN,
                circuits.c.probe_at <= now,
                circuits.c.target.not_in(paused_targets(now)),  # no probe while paused
            )
        )
    ).scalars()
    woken: list[Wake] = []
    for target in list(due):
        oldest = (
            await conn.execute(
                select(messages.c.id, messages.c.operation)
                .where(messages.c.target == target, messages.c.status == Status.HELD.value)
                .order_by(messages.c.id)
                .limit(limit)
            )
        ).all()
        ids = [row.id for row in oldest]
        if ids:
            await conn.execute(
                update(messages)
                .where(messages.c.id.in_(ids), messages.c.status == Status.HELD.value)
                .values(status=Status.ACCEPTED.value, updated_at=now, queued_at=now)
            )
            woken.extend(Wake(row.id, target, row.operation) for row in oldest)
    return woken
