"""The worker's side of the journal: claim a message, record the attempt, finish it.

The claim is one conditional ``UPDATE … RETURNING``: zero rows means a duplicate wake-up, a message
not yet due, or one another worker holds; the worker then does nothing. ``attempts_total`` after
the claim is the fencing token: a finish only applies while the message is still ``in_flight``
under that token, so a worker whose lease expired cannot overwrite its successor's outcome.

On PostgreSQL a finish in autocommit may also claim the message its runner takes next
(:class:`Ahead`): one round trip and one commit for both, instead of one each.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, insert, literal, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bus import metrics
from bus.db import DriverStatement, autocommit, driver_connection, writing
from bus.journal import storable
from bus.journal.accept import Accepted, AcceptOutcome, Command, accept_batch
from bus.journal.ids import utcnow
from bus.journal.pauses import paused_at_claim
from bus.journal.tables import CLAIMABLE, RELEASING, Status, attempts, messages, ordering_keys
from bus.journal.wakes import Wake

#: A wake-up may arrive a little before ``next_attempt_at`` (clock skew between machines).
EARLY_TOLERANCE = dt.timedelta(seconds=1)


def due(now: Any) -> ColumnElement[bool]:
    """Claimable at ``now``: accepted, or waiting for a retry whose time has come.

    A retry without a next attempt time is not due: that is an ``unknown_outcome`` whose retries
    are exhausted, parked for an operator (reading a missing time as "now" retried it forever).
    """
    # Each status a bound parameter of its own: SQLAlchemy expands an IN list of plain values
    # again on every execution, which was a few percent of a worker's CPU in the claim.
    waiting = [literal(status.value) for status in CLAIMABLE if status is not Status.ACCEPTED]
    return or_(
        messages.c.status == Status.ACCEPTED.value,
        and_(messages.c.status.in_(waiting), messages.c.next_attempt_at <= now),
    )


@dataclass(frozen=True)
class Claim:
    """A message claimed for one delivery attempt."""

    message_id: str
    method: str
    target: str
    operation: str
    payload: dict[str, Any]
    attempt: int
    attempt_in_cycle: int
    cycle_started_at: dt.datetime
    ordering_key: str | None
    parent_id: str | None = None
    #: who sent the command the message belongs to (a later step keeps its first step's source)
    source: str = ""
    #: the correlation id of the call that sent it (its log lines carry it)
    correlation_id: str | None = None
    #: the claim saw the target paused by an operator (:mod:`bus.journal.pauses`): hold it
    paused: bool = False

    @property
    def may_have_landed(self) -> bool:
        """True when an earlier attempt may have reached the target: check before repeating."""
        return self.attempt > 1


@dataclass(frozen=True)
class AttemptRecord:
    """What one attempt did, as stored in the ``attempts`` table."""

    started_at: dt.datetime
    duration_ms: float
    outcome: str
    http_status: int | None = None
    error: str | None = None
    request: Any = None
    response: Any = None


@dataclass(frozen=True)
class Finish:
    """The status a finished attempt leaves its message in."""

    status: Status
    result: dict[str, Any] | None = None
    error: str | None = None
    next_attempt_at: dt.datetime | None = None
    #: the attempt does not count against the retry budget (the target throttled it)
    uncounted: bool = False
    #: commands journaled in the finish's transaction if the finish applies (telling the
    #: storefront of a failure): they cannot be lost, nor journaled for a finish that was not
    follow_ups: tuple[Command, ...] = ()

    @property
    def waits_for_operator(self) -> bool:
        """Failed, or an unknown outcome with no attempt left: nothing moves it on by itself."""
        return self.status is Status.FAILED or (
            self.status is Status.UNKNOWN_OUTCOME and self.next_attempt_at is None
        )


_CLAIM = (
    update(messages)
    .where(
        messages.c.id == bindparam("claim_id"),
        or_(
            due(bindparam("early")),
            and_(
                messages.c.status == Status.IN_FLIGHT.value,
                messages.c.lease_until < bindparam("now"),
            ),  # the lease was lost
        ),
    )
    .values(
        status=Status.IN_FLIGHT.value,
        attempts=messages.c.attempts + 1,
        attempts_total=messages.c.attempts_total + 1,
        lease_until=bindparam("lease_until"),
        updated_at=bindparam("now"),
    )
    .returning(
        messages.c.id,
        messages.c.method,
        messages.c.target,
        messages.c.operation,
        messages.c.payload,
        messages.c.attempts_total,
        messages.c.attempts,
        messages.c.cycle_started_at,
        messages.c.ordering_key,
        messages.c.parent_id,
        messages.c.source,
        messages.c.correlation_id,
        paused_at_claim(),  # a subquery on the claim's own round trip: no query more per delivery
    )
)
# Statements built once: constructing and cache-keying them per call was a tenth of a worker's CPU.
_RECORD_ATTEMPT = insert(attempts)
_FINISH = (
    update(messages)
    .where(
        messages.c.id == bindparam("message_id"),
        messages.c.status == Status.IN_FLIGHT.value,
        messages.c.attempts_total == bindparam("fence"),  # still ours: the lease was not lost
    )
    .values(
        attempts=messages.c.attempts - bindparam("uncounted"),
        **{
            column: bindparam(column)
            for column in (
                "status",
                "updated_at",
                "lease_until",
                "last_error",
                "next_attempt_at",
                "queued_at",
                "result",
                "finished_at",
            )
        },
    )
)


async def claim(engine: AsyncEngine, message_id: str, lease: dt.timedelta) -> Claim | None:
    """Claim ``message_id`` for one attempt under a lease; ``None`` if it is not ours to run.

    One atomic statement in autocommit (it needs no transaction around it); on PostgreSQL on the
    driver's connection (:class:`bus.db.DriverStatement`).
    """
    parameters = _claim_parameters(message_id, lease)
    row: Mapping[Any, Any] | None
    if engine.dialect.name == "postgresql":
        async with driver_connection(engine) as driver:
            row = await driver.fetchrow(_DRIVER_CLAIM.sql, *_DRIVER_CLAIM.arguments(parameters))
    else:
        async with autocommit(engine) as conn:
            found = (await conn.execute(_CLAIM, parameters)).first()
        row = None if found is None else found._mapping
    return None if row is None else _claimed(row)


def _claim_parameters(message_id: str, lease: dt.timedelta) -> dict[str, Any]:
    now = utcnow()
    return {
        "claim_id": message_id,
        "now": now,
        "early": now + EARLY_TOLERANCE,
        "lease_until": now + lease,
    }


@dataclass
class Ahead:
    """The message a runner attempts next, for its finish to claim on the way.

    On PostgreSQL a finish without follow-ups claims it in its first statement, the one that
    finishes in autocommit: one round trip and one commit for both. The claim skips a message
    another transaction holds locked rather than wait for it while holding the finished
    message's locks; the runner claims such a message on its own, as it does any the finish did
    not claim. After the finish, ``claim`` is the claim it made, if any.
    """

    message_id: str
    lease: dt.timedelta
    claim: Claim | None = None


def _claimed(row: Mapping[Any, Any]) -> Claim:
    return Claim(
        message_id=row["id"],
        method=row["method"],
        target=row["target"],
        operation=row["operation"],
        payload=row["payload"],
        attempt=row["attempts_total"],
        attempt_in_cycle=row["attempts"],
        cycle_started_at=row["cycle_started_at"],
        ordering_key=row["ordering_key"],
        parent_id=row["parent_id"],
        source=row["source"],
        correlation_id=row["correlation_id"],
        paused=bool(row["paused"]),
    )


async def step_input(
    conn: AsyncConnection, message_id: str, parent_id: str
) -> tuple[Status, dict[str, Any]] | None:
    """The status and stored result of the step just before ``message_id`` in its chain; ``None``
    for the first step of a branch.

    Every later step has the route's first message as its parent; the steps of one chain share
    an ordering key, so the one before is the sibling (or the parent) of the same key with the
    next lower sequence number.
    """
    me = select(messages.c.ordering_key, messages.c.ordering_seq).where(messages.c.id == message_id)
    mine = me.subquery()
    row = (
        await conn.execute(
            select(messages.c.status, messages.c.result)
            .where(
                or_(messages.c.id == parent_id, messages.c.parent_id == parent_id),
                messages.c.ordering_key == mine.c.ordering_key,
                messages.c.ordering_seq < mine.c.ordering_seq,
            )
            # an edited message takes its original's place (the same sequence number): the
            # newer one, the edit, is the step that ran
            .order_by(messages.c.ordering_seq.desc(), messages.c.id.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else (Status(row.status), row.result or {})


async def finish(
    engine: AsyncEngine,
    claimed: Claim,
    record: AttemptRecord,
    outcome: Finish,
    ahead: Ahead | None = None,
) -> list[Wake]:
    """Record the attempt and move the message to ``outcome``; if that released its ordering key
    with messages still waiting, promote the next one; journal the outcome's follow-ups. All in
    one transaction.

    One transaction, because a crash (of the worker, or of the database) between a committed
    finish and a separate promotion left the next message ``blocked`` with nothing to move it.
    On PostgreSQL the finish itself is one statement (data-modifying CTEs); one that releases no
    key and has no follow-up runs in autocommit, one round trip. The promotion is a statement of
    its own, after the finish took the key's row lock: its fresh snapshot sees every accept of
    the key that committed before, and accepts after it wait for this commit and see the lower
    count. A finish that releases the key it is the last open message of (nothing can wait
    behind it) is one statement too, in autocommit: :data:`_PG_FINISH_LAST`. Either statement
    claims ``ahead``'s message too, if given (:class:`Ahead`).

    Returns:
        The messages to wake (the promoted one, runnable follow-ups), after this returns.
    """
    values = _finish_values(claimed, record, outcome)
    postgres = engine.dialect.name == "postgresql"
    releases_key = values["releases"] and claimed.ordering_key is not None
    if postgres and not outcome.follow_ups:
        if await _finish_alone(engine, values, releases_key, _claimable_ahead(claimed, ahead)):
            return []
        # others of the key are open: finish and promote in one transaction, below
    async with writing(engine) as conn:
        if postgres and not outcome.follow_ups:
            applied, still_open = (
                True,
                (await conn.execute(_PG_FINISH, _as_pg_json(values))).scalar(),
            )
        else:
            applied, still_open = await _finish_in_steps(conn, values)
        journaled = await _follow_ups(conn, outcome.follow_ups) if applied else []
        woken = [
            wake
            for accepted in journaled
            if isinstance(accepted, Accepted) and accepted.created
            for wake in accepted.runnable
        ]
        if still_open:  # else nothing waits: not released, lease lost, or the key's last one
            promoted = await promote_next(conn, claimed.ordering_key)
            woken += [promoted] if promoted is not None else []
    metrics.count_accepted(journaled)
    return woken


def _claimable_ahead(claimed: Claim, ahead: Ahead | None) -> Ahead | None:
    """``ahead``, unless it names the finished message itself (a duplicate wake-up of it): one
    statement must not update a row twice."""
    return None if ahead is None or ahead.message_id == claimed.message_id else ahead


async def _finish_alone(
    engine: AsyncEngine, values: dict[str, Any], releases_key: bool, ahead: Ahead | None
) -> bool:
    """The finish as one statement in autocommit, claiming ``ahead``'s message on the way;
    false if it releases a key others of which are open (it changed nothing, but the claim)."""
    finishes = _FINISH_STATEMENTS[(releases_key, ahead is not None)]
    parameters = _as_pg_json(values)
    if ahead is not None:
        parameters |= _claim_parameters(ahead.message_id, ahead.lease)
    async with driver_connection(engine) as driver:
        row = await driver.fetchrow(finishes.sql, *finishes.arguments(parameters))
    if ahead is not None and row is not None and row["id"] is not None:
        ahead.claim = _claimed(row)
    return not releases_key or bool(row is not None and row["finished_last"])


async def _follow_ups(conn: AsyncConnection, commands: tuple[Command, ...]) -> list[AcceptOutcome]:
    if not commands:
        return []
    return await accept_batch(conn, commands, check_existing=True)


def _finish_values(claimed: Claim, record: AttemptRecord, outcome: Finish) -> dict[str, Any]:
    now = utcnow()
    finished = outcome.status in (*RELEASING, Status.FAILED)
    return {
        # the attempt
        "message_id": claimed.message_id,
        "number": claimed.attempt,
        "started_at": record.started_at,
        "duration_ms": record.duration_ms,
        "outcome": record.outcome,
        "http_status": record.http_status,
        "error": storable.text(record.error),
        "request": record.request,
        "response": record.response,
        # the message, fenced by the attempt number
        "fence": claimed.attempt,
        "status": outcome.status.value,
        "updated_at": now,
        "lease_until": None,
        "last_error": storable.text(outcome.error),
        "next_attempt_at": outcome.next_attempt_at,
        "queued_at": outcome.next_attempt_at,
        "result": outcome.result,
        "finished_at": now if finished else None,
        "uncounted": int(outcome.uncounted),
        # the key
        "releases": outcome.status in RELEASING,
        "ordering_key": claimed.ordering_key,
    }


async def _finish_in_steps(
    conn: AsyncConnection, values: dict[str, Any]
) -> tuple[bool, int | None]:
    """The finish as separate statements: whether it applied, and the key's open count after."""
    await conn.execute(_RECORD_ATTEMPT, {k: values[k] for k in _ATTEMPT_COLUMNS})
    applied = (await conn.execute(_FINISH, values)).rowcount == 1
    if not applied or not values["releases"] or values["ordering_key"] is None:
        return applied, None  # our lease was taken over, or the key stays held by this message
    return True, await count_open(conn, values["ordering_key"], -1)


_ATTEMPT_COLUMNS = (
    "message_id",
    "number",
    "started_at",
    "duration_ms",
    "outcome",
    "http_status",
    "error",
    "request",
    "response",
)
_JSON_VALUES = ("request", "response", "result")

#: The parts of the one-statement finishes below: the attempt's row, and the fenced update of
#: the message (it applies only while this worker's claim still holds).
_PG_INSERT_ATTEMPT = (
    " INSERT INTO attempts (message_id, number, started_at, duration_ms, outcome, http_status,"
    " error, request, response)"
)
_PG_ATTEMPT_ROW = (
    " :message_id, :number, :started_at, :duration_ms, :outcome, :http_status, :error,"
    " CAST(:request AS jsonb), CAST(:response AS jsonb)"
)
_PG_UPDATE_FINISHED = (
    " UPDATE messages SET status = :status, attempts = attempts - :uncounted,"
    " updated_at = :updated_at, lease_until = NULL,"
    " last_error = :last_error, next_attempt_at = :next_attempt_at, queued_at = :queued_at,"
    " result = CAST(:result AS jsonb), finished_at = :finished_at"
    " WHERE id = :message_id AND status = 'in_flight' AND attempts_total = :fence"
)

_PG_FINISH_CTES = (
    f"WITH attempt AS ({_PG_INSERT_ATTEMPT} VALUES ({_PG_ATTEMPT_ROW})),"
    f" finished AS ({_PG_UPDATE_FINISHED} RETURNING ordering_key)"
)

#: The finish as one statement: data-modifying CTEs run together, atomically. The key's count
#: drops only if the fenced update applied and the status releases the key.
_PG_FINISH = text(
    f"{_PG_FINISH_CTES}"
    " UPDATE ordering_keys SET open_count = open_count - 1"
    " WHERE CAST(:releases AS boolean) AND key = (SELECT ordering_key FROM finished)"
    " RETURNING open_count"
)

#: The claim on PostgreSQL (:data:`_CLAIM` elsewhere), its condition between the two parts: the
#: message is due (:func:`due`), or in flight under a lease that expired.
_PG_CLAIM_SET = (
    " UPDATE messages SET status = 'in_flight', attempts = attempts + 1,"
    " attempts_total = attempts_total + 1, lease_until = :lease_until, updated_at = :now"
)
_PG_CLAIMABLE = (
    "(status = 'accepted' OR (status IN ("
    + ", ".join(f"'{status.value}'" for status in CLAIMABLE if status is not Status.ACCEPTED)
    + ") AND next_attempt_at <= :early) OR (status = 'in_flight' AND lease_until < :now))"
)
_PG_CLAIM_RETURNING = (
    " RETURNING id, method, target, operation, payload, attempts_total, attempts,"
    " cycle_started_at, ordering_key, parent_id, source, correlation_id,"
    " EXISTS (SELECT 1 FROM target_pauses AS p WHERE p.target = messages.target"
    " AND p.resumed_at IS NULL AND (p.until IS NULL OR p.until > :now)) AS paused"
)
_PG_CLAIM = text(f"{_PG_CLAIM_SET} WHERE id = :claim_id AND {_PG_CLAIMABLE}{_PG_CLAIM_RETURNING}")
#: The claim of :class:`Ahead`: a message another transaction holds locked is left alone.
_PG_CLAIM_AHEAD = (
    f"{_PG_CLAIM_SET} WHERE id = (SELECT id FROM messages"
    f" WHERE id = :claim_id AND {_PG_CLAIMABLE} FOR UPDATE SKIP LOCKED){_PG_CLAIM_RETURNING}"
)

#: A finish that releases no key, claiming the runner's next message: one row if it did.
_PG_FINISH_CLAIM = text(f"{_PG_FINISH_CTES}, claimed AS ({_PG_CLAIM_AHEAD}) SELECT * FROM claimed")


#: :data:`_PG_FINISH` for the last open message of its key, or nothing. Under the message's row
#: lock, then the key's (the order every finish takes them in), the key's count is read as it
#: is now, not as the statement's snapshot saw it: 1 means this message is the only one open,
#: so no message waits behind it, and an accept of the key waits for this commit and finds the
#: key free. Anything else changes nothing here and answers false: the caller finishes in a
#: transaction that promotes the next message.
_PG_FINISH_LAST_CTES = (
    "WITH mine AS (SELECT ordering_key FROM messages WHERE id = :message_id FOR UPDATE),"
    " held AS (SELECT open_count FROM ordering_keys"
    " WHERE key = (SELECT ordering_key FROM mine) FOR UPDATE),"
    " last AS (SELECT 1 FROM held WHERE open_count = 1),"
    f" attempt AS ({_PG_INSERT_ATTEMPT} SELECT {_PG_ATTEMPT_ROW} FROM last),"
    f" finished AS ({_PG_UPDATE_FINISHED} AND EXISTS (SELECT 1 FROM last) RETURNING ordering_key),"
    " released AS (UPDATE ordering_keys SET open_count = open_count - 1"
    " WHERE key = (SELECT ordering_key FROM finished) RETURNING open_count)"
)
_PG_FINISH_LAST = text(
    f"{_PG_FINISH_LAST_CTES} SELECT EXISTS (SELECT 1 FROM last) AS finished_last"
)
#: :data:`_PG_FINISH_LAST` claiming the runner's next message: one row, its columns null if not.
_PG_FINISH_LAST_CLAIM = text(
    f"{_PG_FINISH_LAST_CTES}, claimed AS ({_PG_CLAIM_AHEAD})"
    " SELECT EXISTS (SELECT 1 FROM last) AS finished_last, claimed.*"
    " FROM (VALUES (1)) AS one LEFT JOIN claimed ON true"
)


#: The claim and the finishes in autocommit, compiled once for the driver's connection; the
#: finishes by (releases a key, claims ahead).
_DRIVER_CLAIM = DriverStatement.of(_PG_CLAIM)
_FINISH_STATEMENTS = {
    (False, False): DriverStatement.of(_PG_FINISH),
    (False, True): DriverStatement.of(_PG_FINISH_CLAIM),
    (True, False): DriverStatement.of(_PG_FINISH_LAST),
    (True, True): DriverStatement.of(_PG_FINISH_LAST_CLAIM),
}


def _as_pg_json(values: dict[str, Any]) -> dict[str, Any]:
    encoded = dict(values)
    for name in _JSON_VALUES:
        encoded[name] = None if values[name] is None else storable.json_dumps(values[name])
    del encoded["ordering_key"]
    return encoded


_COUNT_OPEN = (
    update(ordering_keys)
    .where(ordering_keys.c.key == bindparam("ordering_key"))
    .values(open_count=ordering_keys.c.open_count + bindparam("delta"))
    .returning(ordering_keys.c.open_count)
)


async def count_open(conn: AsyncConnection, key: str, delta: int) -> int:
    """Change ``key``'s count of unfinished messages and return it; row-locks the key."""
    return int(
        (await conn.execute(_COUNT_OPEN, {"ordering_key": key, "delta": delta})).scalar_one()
    )


async def release_key(conn: AsyncConnection, key: str | None) -> Wake | None:
    """A message of ``key`` finished for good: count it out and promote the next; it, if any.

    Taking the key's row lock first serializes with accepts of the key: either the accept sees
    the lower count (its message is the head), or this promotion sees the accept's message.
    """
    if key is None:
        return None
    still_open = await count_open(conn, key, -1)
    return await promote_next(conn, key) if still_open else None


async def promote_next(conn: AsyncConnection, key: str | None) -> Wake | None:
    """Make the oldest ``blocked`` message of ``key`` runnable; return it, to wake, if any.

    The update applies only to a message still ``blocked``: one cancelled meanwhile by an operator
    stays cancelled, and the next one in line is taken instead.
    """
    if key is None:
        return None
    while True:
        oldest = (await conn.execute(_OLDEST_BLOCKED, {"ordering_key": key})).first()
        if oldest is None:
            return None
        now = utcnow()
        promoted = await conn.execute(_PROMOTE, {"message_id": oldest.id, "now": now})
        if promoted.rowcount == 1:
            return Wake(str(oldest.id), oldest.target, oldest.operation)


_OLDEST_BLOCKED = (
    select(messages.c.id, messages.c.target, messages.c.operation)
    .where(
        messages.c.ordering_key == bindparam("ordering_key"),
        messages.c.status == Status.BLOCKED.value,
    )
    .order_by(messages.c.ordering_seq)
    .limit(1)
)
_PROMOTE = (
    update(messages)
    .where(messages.c.id == bindparam("message_id"), messages.c.status == Status.BLOCKED.value)
    .values(status=Status.ACCEPTED.value, updated_at=bindparam("now"), queued_at=bindparam("now"))
)
