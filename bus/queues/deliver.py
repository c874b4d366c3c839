"""One delivery attempt: claim, check for an earlier effect, call the adapter, record, finish.

Around the attempt: an operator's pause of the target or its circuit breaker may hold the message
instead (no attempt is counted, nothing is sent), a step a person waits on goes ahead of its
target's backlog in the target's pace, the route's previous step hands over its result
(or asks to skip this step: it ends ``skipped``, saying why), and entity states are remembered so
that the bus's own writes coming back as events are not forwarded.

The claim is the idempotency gate (a duplicate wake-up claims nothing and returns). An attempt that
follows one that may have landed first asks the target whether the effect is there (``lookup``),
so a repeated delivery never creates a second order. The finish and the attempt record commit
together, with the notices the finish tells (a failure to the storefront, the manager and the
CRM; with ``[storefront] notify = "all"`` a delivery too: :mod:`bus.queues.notify`), journaled
only if the finish applies; wake-ups (the next message of the key, a scheduled retry, the
notices) are enqueued after the commit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bus import logs, metrics, redaction
from bus.adapters import URGENT, Adapter, Delivery, EntityState, Receipt
from bus.adapters.pace import ahead_of_backlog
from bus.adapters.recording import ExchangeLog, start_log
from bus.db import reading, writing
from bus.errors import DeliveryError, PermanentError, TransientError, UnknownOutcome
from bus.journal import pauses
from bus.journal.accept import Command
from bus.journal.circuits import Admission
from bus.journal.delivery import Ahead, AttemptRecord, Claim, Finish, claim, finish, step_input
from bus.journal.entity_states import known, remember
from bus.journal.ids import utcnow
from bus.journal.tables import Status
from bus.journal.wakes import Wake
from bus.queues.breaker import Breakers
from bus.queues.notify import Notifier
from bus.queues.retry import after_failure
from bus.settings import Settings

log = logging.getLogger(__name__)

#: ``send(wakes, delay_ms)``: put wake-ups on their targets' queues after a commit.
Send = Callable[[list[Wake], int | None], Awaitable[None]]
#: ``take_next()``: the id of the message the caller runs next with :meth:`Deliverer.deliver`,
#: taken from its queue as an attempt finishes (``None``: nothing to take).
TakeNext = Callable[[], str | None]


class Deliverer:
    """Runs delivery attempts for the messages a worker is woken for.

    Parameters:
        settings: retry policies and the lease.
        engine: the journal.
        adapters: by system name.
        send: enqueues follow-up wake-ups.
    """

    def __init__(
        self, settings: Settings, engine: AsyncEngine, adapters: dict[str, Adapter], send: Send
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._adapters = adapters
        self._send = send
        self._lease = dt.timedelta(seconds=settings.queue.lease)
        self._breakers = Breakers(settings, engine)
        self._notifier = Notifier(settings, engine)
        #: claims made by finishes for the messages their runners take next, with when
        self._claimed_ahead: dict[str, tuple[Claim, float]] = {}

    async def deliver(self, message_id: str, take_next: TakeNext | None = None) -> Status | None:
        """Make one attempt at ``message_id``; the status it leaves, or ``None`` if not claimed.

        A caller that runs attempts one after another passes ``take_next``: the attempt's finish
        then claims the message it hands over, in its own statement (:class:`Ahead`), and the
        next call for that message runs without a claim of its own.
        """
        claimed = self._claim_made_ahead(message_id) or await claim(
            self._engine, message_id, self._lease
        )
        if claimed is None:
            return None
        with logs.attempt_ids(message_id, claimed.correlation_id):
            return await self._deliver(claimed, take_next)

    def _claim_made_ahead(self, message_id: str) -> Claim | None:
        """The claim a finish made for ``message_id``, while well within its lease (an older one,
        kept by a runner stopped in between, may have been taken over: it claims again)."""
        claimed, when = self._claimed_ahead.pop(message_id, (None, 0.0))
        fresh = time.monotonic() - when < self._lease.total_seconds() / 2
        return claimed if fresh else None

    def _ahead(self, take_next: TakeNext | None) -> Ahead | None:
        next_id = take_next() if take_next is not None else None
        return None if next_id is None else Ahead(next_id, self._lease)

    def _remember_ahead(self, ahead: Ahead | None) -> None:
        if ahead is not None and ahead.claim is not None:
            self._claimed_ahead[ahead.message_id] = (ahead.claim, time.monotonic())

    async def _deliver(self, claimed: Claim, take_next: TakeNext | None) -> Status | None:
        message_id = claimed.message_id
        previous = await self._step_input(claimed)
        admission = await self._admit(claimed, previous)
        if admission is Admission.HOLD:
            return Status.HELD
        if admission is Admission.LOST:
            return None
        exchanges = start_log()
        started_at, started = utcnow(), time.perf_counter()
        outcome, kind, error = await self._attempt(claimed, previous)
        wake = await self._observe_health(claimed.target, admission, kind, error)
        kept = _kept(kind, self._settings.retention.keep_exchange)
        record = _record(started_at, started, kind, error, exchanges, kept)
        notices = await self._notices(claimed, outcome, previous)
        if notices:  # journaled only if the finish applies: never lost, never doubled
            outcome = dataclasses.replace(outcome, follow_ups=notices)
        ahead = self._ahead(take_next)
        try:
            wake += await finish(self._engine, claimed, record, outcome, ahead)
        finally:  # a claim it made stands even if the rest of the finish failed
            self._remember_ahead(ahead)
        _count(claimed, record, outcome)
        if wake:
            await self._send(wake, None)
        if outcome.next_attempt_at is not None:
            delay = outcome.next_attempt_at - utcnow()
            retry = Wake(message_id, claimed.target, claimed.operation)
            await self._send([retry], max(0, int(delay.total_seconds() * 1000)))
        return outcome.status

    async def _admit(self, claimed: Claim, previous: dict[str, Any] | None) -> Admission:
        """Whether to attempt now. A step the one before skips asks its target nothing, so it
        goes on; otherwise the target's pause by an operator, then its breaker, may hold it."""
        if previous is not None and (previous.get("skip_next") or previous.get("skip_one")):
            return Admission.DELIVER
        if claimed.paused:  # decided again under the pause's lock: a resume may have ended it
            async with writing(self._engine) as conn:
                held = await pauses.hold(conn, claimed.message_id, claimed.attempt, claimed.target)
            if held is not None:
                return Admission.HOLD if held else Admission.LOST
        return await self._breakers.admit(claimed)

    async def _notices(
        self, claimed: Claim, outcome: Finish, previous: dict[str, Any] | None
    ) -> tuple[Command, ...]:
        """The notices of the finish; none, logged, if they cannot be made (a bug there must
        not keep the message from finishing, or it would be attempted again and again)."""
        try:
            return await self._notifier.follow_ups(claimed, outcome, previous)
        except Exception:
            log.exception("the notices of %s could not be made", claimed.message_id)
            return ()

    async def _step_input(self, claimed: Claim) -> dict[str, Any] | None:
        """The result of the chain's step before this one; ``None`` for a first step."""
        if claimed.parent_id is None:
            return None
        async with reading(self._engine) as conn:
            before = await step_input(conn, claimed.message_id, claimed.parent_id)
        if before is None:
            return None
        status, result = before
        if status not in (Status.DELIVERED, Status.SKIPPED):  # cancelled by an operator
            return {"skip_next": f"the step before was {status.value}"}
        return result

    async def _observe_health(
        self, target: str, admission: Admission, kind: str, error: DeliveryError | None
    ) -> list[Wake]:
        """Feed the attempt's outcome to the target's breaker; the held messages it released."""
        if kind in ("skipped", "error", "throttled"):
            return []  # the target was not asked, or we do not know what it said
        if error is None or isinstance(error, PermanentError):
            return await self._breakers.succeeded(target, admission)  # it answered
        await self._breakers.failed(target, admission)
        return []

    async def _attempt(
        self, claimed: Claim, previous: dict[str, Any] | None
    ) -> tuple[Finish, str, DeliveryError | None]:
        if previous is not None and previous.get("skip_next"):
            reason = previous["skip_next"]
            skipped = {"skipped": reason, "skip_next": reason}  # and the steps after it
            return Finish(Status.SKIPPED, result=skipped), "skipped", None
        if previous is not None and previous.get("skip_one"):
            # this step only: the next one runs, seeing what the steps before this one found
            skipped = {"skipped": previous["skip_one"], "context": _context(previous)}
            return Finish(Status.SKIPPED, result=skipped), "skipped", None
        policy = self._settings.retry_policy(claimed.target)
        try:
            async with asyncio.timeout(policy.attempt_timeout * 2):
                with _paced_as(claimed):
                    result = await self._perform(claimed, previous)
        except DeliveryError as exc:
            return after_failure(policy, claimed, exc, utcnow()), _kind(exc), exc
        except TimeoutError:
            lost = UnknownOutcome(f"no answer within {policy.attempt_timeout * 2:g}s")
            return after_failure(policy, claimed, lost, utcnow()), "unknown_outcome", lost
        except Exception as unexpected:  # a bug or a garbage answer: never lose the message
            log.exception("attempt at %s raised unexpectedly", claimed.message_id)
            lost = UnknownOutcome(f"internal error: {type(unexpected).__name__}")
            return after_failure(policy, claimed, lost, utcnow()), "error", lost
        if result.get("skipped"):  # the adapter found nothing to do (a mail to nobody), saying why
            return Finish(Status.SKIPPED, result=result), "skipped", None
        return Finish(Status.DELIVERED, result=result), "delivered", None

    async def _perform(self, claimed: Claim, previous: dict[str, Any] | None) -> dict[str, Any]:
        adapter = self._adapters.get(claimed.target)
        if adapter is None:
            raise PermanentError(f"no adapter for target {claimed.target!r}")
        delivery = Delivery(claimed.message_id, claimed.operation, claimed.payload, previous)
        receipt = None
        if claimed.may_have_landed:
            receipt = await adapter.lookup(delivery)
            if receipt is not None:
                log.info("%s was already delivered by an earlier attempt", claimed.message_id)
        if receipt is None:
            intended = adapter.intended_state(delivery)
            if intended is not None:
                await self._remember(intended)
            receipt = await adapter.deliver(delivery)
        if previous is not None and previous.get("state"):
            await self._remember(EntityState(**previous["state"]))  # forwarded: now known
        result = await self._result(receipt)
        if previous is not None:
            result["context"] = _context(previous)
        return result

    async def _result(self, receipt: Receipt) -> dict[str, Any]:
        """The stored result; an observed state the bus already knows skips the next step."""
        result: dict[str, Any] = {"reference": receipt.reference, **receipt.details}
        if receipt.skip_next:
            result["skip_next"] = receipt.skip_next
        if receipt.skip_one:
            result["skip_one"] = receipt.skip_one
        if receipt.state is not None:
            result["state"] = receipt.state.as_dict()
            async with reading(self._engine) as conn:
                own = await known(conn, receipt.state.entity)
            if receipt.state.fingerprint in own:
                result["skip_next"] = (
                    f"{receipt.state.entity} is as the bus last wrote or forwarded it, or just"
                    " before (its own echo, or an event repeated)"
                )
                log.info("%s unchanged: not forwarded", receipt.state.entity)
        return result

    async def _remember(self, state: EntityState) -> None:
        async with writing(self._engine) as conn:
            await remember(conn, state)


def _paced_as(claimed: Claim) -> AbstractContextManager[None]:
    """A step a person waits on goes ahead of its target's backlog in the target's pace too
    (its wake-up went to the target's urgent queue: bus.queues.broker.queue_of)."""
    if claimed.operation in URGENT.get(claimed.target, frozenset()):
        return ahead_of_backlog()
    return nullcontext()


#: Keys of a step's result that are about that step only, not facts for the steps after it.
_OWN_KEYS = frozenset({"context", "reference", "skip_next", "skip_one", "skipped", "state"})


def _context(previous: dict[str, Any]) -> dict[str, Any]:
    """What every earlier step produced, for the steps after this one (the nearest wins)."""
    produced = {key: value for key, value in previous.items() if key not in _OWN_KEYS}
    return {**(previous.get("context") or {}), **produced}


def _count(claimed: Claim, record: AttemptRecord, outcome: Finish) -> None:
    """Count the attempt and its outcome; log a permanent failure, once, where it happens."""
    metrics.ATTEMPT_SECONDS.labels(claimed.target, record.outcome).observe(
        record.duration_ms / 1000
    )
    if outcome.status is Status.DELIVERED:
        metrics.DELIVERED.labels(claimed.method, claimed.target).inc()
    elif outcome.status is Status.SKIPPED:
        metrics.SKIPPED.labels(claimed.method, claimed.target).inc()
    elif outcome.waits_for_operator:
        metrics.FAILED.labels(claimed.method, claimed.target).inc()
        error = redaction.redact(outcome.error or record.error or "")
        log.error(
            "%s to %s failed permanently (%s, attempt %d): %s",
            claimed.message_id,
            claimed.target,
            outcome.status.value,
            claimed.attempt,
            error,
            extra={
                "target": claimed.target,
                "method": claimed.method,
                "operation": claimed.operation,
                "status": outcome.status.value,
                "error": error,
            },
        )


def _kind(error: DeliveryError) -> str:
    if isinstance(error, PermanentError):
        return "permanent"
    if isinstance(error, TransientError):
        return "throttled" if error.throttled else "transient"
    return "unknown_outcome"


def _kept(kind: str, keep_exchange: str) -> tuple[bool, bool]:
    """Whether an attempt of ``kind`` keeps its requests, and its responses, as
    ``retention.keep_exchange`` says.

    A delivered attempt's answer is in its result (the reference, the receipt): with ``"sent"``
    only what it sent is kept, with ``"failed"`` neither (the payload says what was to be sent).
    Bodies not kept are not even redacted.
    """
    if kind != "delivered":
        return True, True
    return keep_exchange != "failed", keep_exchange == "all"


def _record(
    started_at: dt.datetime,
    started: float,
    kind: str,
    error: DeliveryError | None,
    exchanges: ExchangeLog,
    kept: tuple[bool, bool],
) -> AttemptRecord:
    """The attempt's row; its requests and responses (redacted) as far as ``kept`` says
    (:func:`_kept`)."""
    last = exchanges.last
    requests, responses = kept
    sent = exchanges.exchanges if requests else []
    answered = exchanges.exchanges if responses else []
    return AttemptRecord(
        started_at=started_at,
        duration_ms=(time.perf_counter() - started) * 1000,
        outcome=kind,
        http_status=(error.http_status if error else None) or (last.status if last else None),
        error=error.detail if error else None,
        request=[exchange.request for exchange in sent] or None,
        response=[exchange.response for exchange in answered] or None,
    )
