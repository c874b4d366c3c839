"""The bus at a glance, from its journal: what ``bus status`` and the web console show.

:func:`overview` reads, in one read-only transaction:

- how many messages each target has in each status;
- the oldest message in each status that is not final (how long the longest wait is);
- each target's circuit breaker, with its held messages and the last error that tripped it;
- how many messages were delivered and failed in each of the last minutes (by ``finished_at``);
- the targets an operator paused.

The depth of the Redis queues is read by :func:`queue_depths` (the journal does not know it);
:func:`with_queues` adds it to an overview. Every query stays on an index, so an overview of a
journal of a million messages takes a few hundred milliseconds (``bench/journal_listings.py``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bus.journal import pauses
from bus.journal.circuits import OPEN
from bus.journal.ids import utcnow
from bus.journal.pauses import Pause
from bus.journal.tables import RELEASING, Status, attempts, circuits, messages

#: Statuses a message leaves again (every one but delivered and cancelled), in lifecycle order.
WAITING = tuple(status for status in Status if status not in RELEASING)
#: Statuses of the messages whose attempts say why a target's breaker tripped.
_FAILING = (
    Status.RETRY_WAIT.value,
    Status.HELD.value,
    Status.UNKNOWN_OUTCOME.value,
    Status.FAILED.value,
)


@dataclass(frozen=True)
class StatusCount:
    """How many messages for ``target`` are in ``status``."""

    target: str
    status: str
    count: int


@dataclass(frozen=True)
class Oldest:
    """The oldest message in a status that is not final: the longest wait in it."""

    status: str
    message_id: str
    accepted_at: dt.datetime
    #: seconds since it was accepted, at the overview's time
    age_seconds: float


@dataclass(frozen=True)
class Breaker:
    """A target's circuit breaker (``bus.journal.circuits``)."""

    target: str
    #: ``closed`` (deliver) or ``open`` (hold messages until the probe)
    state: str
    #: consecutive failed attempts counted
    failures: int
    #: messages held for the target now
    held: int
    opened_at: dt.datetime | None
    #: when a held message is let through to probe the target (open breakers)
    probe_at: dt.datetime | None
    #: the newest error of an attempt at the target's messages that wait (for a retry, the
    #: breaker or an operator)
    last_error: str | None


@dataclass(frozen=True)
class Minute:
    """Messages that finished in the minute starting at ``start`` (UTC)."""

    start: dt.datetime
    delivered: int
    #: failed for good in that minute, and still failed (a replayed one is counted no more)
    failed: int


@dataclass(frozen=True)
class QueueDepth:
    """A Redis delivery queue's messages (dramatiq's keys under the bus's namespace)."""

    queue: str
    #: waiting for a worker
    ready: int
    #: wake-ups for a later time (retries), not yet due
    delayed: int
    #: taken by a worker and not yet acknowledged
    in_progress: int
    #: dead-lettered by dramatiq (the journal still has their messages: the sweeper wakes them)
    dead: int


@dataclass(frozen=True)
class Overview:
    """The bus at ``at``, as :func:`overview` read it."""

    at: dt.datetime
    counts: tuple[StatusCount, ...]
    oldest: tuple[Oldest, ...]
    breakers: tuple[Breaker, ...]
    #: the last minutes, oldest first, one entry per minute (zeros included)
    throughput: tuple[Minute, ...]
    #: the targets an operator paused (:mod:`bus.journal.pauses`)
    paused: tuple[Pause, ...]
    #: the Redis queues (:func:`with_queues`); ``None`` when not read (the embedded queue, which
    #: lives inside ``bus serve``, or an overview of the journal alone)
    queues: tuple[QueueDepth, ...] | None = None
    #: why the queues could not be read (Redis did not answer)
    queue_error: str | None = None

    def count(self, *, target: str | None = None, status: str | None = None) -> int:
        """Messages of ``target`` (any when ``None``) in ``status`` (any when ``None``)."""
        return sum(
            c.count
            for c in self.counts
            if target in (None, c.target) and status in (None, c.status)
        )

    @property
    def targets(self) -> list[str]:
        """Every target with a message, in name order."""
        return sorted({c.target for c in self.counts})

    @property
    def statuses(self) -> list[str]:
        """Every status some message is in, in lifecycle order."""
        present = {c.status for c in self.counts}
        return [status.value for status in Status if status.value in present]

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for JSON)."""
        return dataclasses.asdict(self)


async def overview(
    conn: AsyncConnection, *, now: dt.datetime | None = None, minutes: int = 15
) -> Overview:
    """Read the overview of the journal at ``conn`` (a read-only transaction is enough).

    Parameters:
        now: the time ages and minutes are counted from (default: now).
        minutes: how many minutes of throughput, the current one included.
    """
    now = now or utcnow()
    counts = await status_counts(conn)
    held = {c.target: c.count for c in counts if c.status == Status.HELD.value}
    return Overview(
        at=now,
        counts=counts,
        oldest=await oldest_waiting(conn, now),
        breakers=await breakers(conn, held),
        throughput=await throughput(conn, now, minutes),
        paused=tuple(await pauses.current(conn)),
    )


def with_queues(
    found: Overview, depths: Sequence[QueueDepth], *, error: str | None = None
) -> Overview:
    """``found`` with the depths of the Redis queues, or why they could not be read."""
    return dataclasses.replace(found, queues=tuple(depths), queue_error=error)


async def status_counts(conn: AsyncConnection) -> tuple[StatusCount, ...]:
    """Messages per target and status (an index-only scan of ``ix_messages_target_status``)."""
    c = messages.c
    rows = await conn.execute(select(c.target, c.status, func.count()).group_by(c.target, c.status))
    order = {status.value: n for n, status in enumerate(Status)}
    found = [StatusCount(target, status, count) for target, status, count in rows]
    return tuple(sorted(found, key=lambda s: (s.target, order.get(s.status, 99))))


async def oldest_waiting(conn: AsyncConnection, now: dt.datetime) -> tuple[Oldest, ...]:
    """The oldest message of each status that is not final (ids are ULIDs: the smallest id is
    the earliest accepted), on ``ix_messages_status_due``."""
    c = messages.c
    firsts = await conn.execute(
        select(func.min(c.id))
        .where(c.status.in_([status.value for status in WAITING]))
        .group_by(c.status)
    )
    ids = list(firsts.scalars())
    if not ids:
        return ()
    rows = await conn.execute(select(c.id, c.status, c.accepted_at).where(c.id.in_(ids)))
    order = {status.value: n for n, status in enumerate(Status)}
    found = [
        Oldest(row.status, row.id, row.accepted_at, (now - row.accepted_at).total_seconds())
        for row in rows
    ]
    return tuple(sorted(found, key=lambda o: order.get(o.status, 99)))


async def breakers(conn: AsyncConnection, held: dict[str, int]) -> tuple[Breaker, ...]:
    """Every target's breaker that ever counted a failure (a target without one is closed),
    with ``held`` (messages held per target) and the latest error of a failing breaker."""
    found = []
    for row in await conn.execute(select(circuits).order_by(circuits.c.target)):
        failing = row.state == OPEN or row.failures > 0
        found.append(
            Breaker(
                target=row.target,
                state=row.state,
                failures=row.failures,
                held=held.get(row.target, 0),
                opened_at=row.opened_at,
                probe_at=row.probe_at if row.state == OPEN else None,
                last_error=await _last_error(conn, row.target) if failing else None,
            )
        )
    return tuple(found)


async def _last_error(conn: AsyncConnection, target: str) -> str | None:
    """The newest error of an attempt at one of ``target``'s messages that wait for a retry, the
    breaker or an operator (their attempts, on ``ix_messages_target_status`` and
    ``ix_attempts_message``): a held message's own error says only that the breaker is open."""
    c, a = messages.c, attempts.c
    error: str | None = await conn.scalar(
        select(a.error)
        .select_from(attempts.join(messages, messages.c.id == a.message_id))
        .where(c.target == target, c.status.in_(_FAILING), a.error.is_not(None))
        .order_by(a.started_at.desc())
        .limit(1)
    )
    return error


async def throughput(conn: AsyncConnection, now: dt.datetime, minutes: int) -> tuple[Minute, ...]:
    """Messages delivered and failed in each of the last ``minutes`` minutes, oldest first.

    A message's ``updated_at`` is never before its ``finished_at``, so the range on
    ``ix_messages_updated_at`` reads only the messages changed since the first minute.
    """
    c = messages.c
    first = now.replace(second=0, microsecond=0) - dt.timedelta(minutes=minutes - 1)
    bucket = _minute_of(c.finished_at, conn.dialect.name)
    rows = await conn.execute(
        select(bucket.label("minute"), c.status, func.count())
        .where(
            c.updated_at >= first,
            c.finished_at >= first,
            c.status.in_([Status.DELIVERED.value, Status.FAILED.value]),
        )
        .group_by(bucket, c.status)
    )
    tally: dict[dt.datetime, dict[str, int]] = {}
    for minute, status, count in rows:
        tally.setdefault(_as_utc(minute), {})[status] = count
    starts = (first + dt.timedelta(minutes=n) for n in range(minutes))
    return tuple(
        Minute(
            start,
            tally.get(start, {}).get(Status.DELIVERED.value, 0),
            tally.get(start, {}).get(Status.FAILED.value, 0),
        )
        for start in starts
    )


def _minute_of(column: Any, dialect: str) -> ColumnElement[Any]:
    """The start of the minute of ``column`` (a UTC time)."""
    if dialect == "postgresql":
        return func.date_trunc("minute", column)
    return func.strftime("%Y-%m-%d %H:%M:00", column)  # SQLite keeps naive UTC text


def _as_utc(value: dt.datetime | str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


async def queue_depths(
    redis_url: str, namespace: str, queues: Iterable[str]
) -> tuple[QueueDepth, ...]:
    """The depth of each dramatiq queue in ``queues`` under ``namespace``, in one round trip.

    dramatiq keeps, for a queue ``q`` under namespace ``ns``: the list ``ns:q`` of ready message
    ids and the hash ``ns:q.msgs`` of every message not yet acknowledged (ready or taken), the
    hash ``ns:q.DQ.msgs`` of delayed messages, and the sorted set ``ns:q.XQ`` of dead ones.
    """
    names = list(queues)
    client = Redis.from_url(redis_url, socket_timeout=5)
    try:
        async with client.pipeline(transaction=False) as pipe:
            for name in names:
                key = f"{namespace}:{name}"
                pipe.llen(key)
                pipe.hlen(f"{key}.msgs")
                pipe.hlen(f"{key}.DQ.msgs")
                pipe.zcard(f"{key}.XQ")
            answers = await pipe.execute()
    finally:
        await client.aclose()
    depths = []
    for n, name in enumerate(names):
        ready, unacknowledged, delayed, dead = (int(a) for a in answers[4 * n : 4 * n + 4])
        depths.append(QueueDepth(name, ready, delayed, max(0, unacknowledged - ready), dead))
    return tuple(depths)
