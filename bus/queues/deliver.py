"""One delivery attempt: claim, check for an earlier effect, call the adapter, record, finish.

The claim is the idempotency gate (a duplicate wake-up claims nothing and returns). An attempt that
follows one that may have landed first asks the target whether the effect is there (``lookup``),
so a repeated delivery never creates a second order. The finish and the attempt record commit
together; wake-ups (the next message of the key, a scheduled retry) are enqueued after the commit.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from bus.adapters import Adapter, Delivery, Receipt
from bus.adapters.recording import ExchangeLog, start_log
from bus.db import autocommit
from bus.errors import DeliveryError, PermanentError, TransientError, UnknownOutcome
from bus.journal.delivery import AttemptRecord, Claim, Finish, claim, finish
from bus.journal.ids import utcnow
from bus.journal.tables import Status
from bus.queues.retry import after_failure
from bus.settings import Settings

log = logging.getLogger(__name__)

#: ``send(ids, delay_ms)``: put wake-ups on the queue after a commit.
Send = Callable[[list[str], int | None], Awaitable[None]]


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

    async def deliver(self, message_id: str) -> Status | None:
        """Make one attempt at ``message_id``; the status it leaves, or ``None`` if not claimed."""
        async with autocommit(self._engine) as conn:
            claimed = await claim(conn, message_id, self._lease)
        if claimed is None:
            return None
        exchanges = start_log()
        started_at, started = utcnow(), time.perf_counter()
        outcome, kind, error = await self._attempt(claimed)
        record = _record(started_at, started, kind, error, exchanges)
        promoted = await finish(self._engine, claimed, record, outcome)
        if promoted is not None:
            await self._send([promoted], None)
        if outcome.next_attempt_at is not None:
            delay = outcome.next_attempt_at - utcnow()
            await self._send([message_id], max(0, int(delay.total_seconds() * 1000)))
        return outcome.status

    async def _attempt(self, claimed: Claim) -> tuple[Finish, str, DeliveryError | None]:
        policy = self._settings.retry_policy(claimed.target)
        try:
            async with asyncio.timeout(policy.attempt_timeout * 2):
                receipt = await self._perform(claimed)
        except DeliveryError as exc:
            return after_failure(policy, claimed, exc, utcnow()), _kind(exc), exc
        except TimeoutError:
            lost = UnknownOutcome(f"no answer within {policy.attempt_timeout * 2:g}s")
            return after_failure(policy, claimed, lost, utcnow()), "unknown_outcome", lost
        except Exception as unexpected:  # a bug or a garbage answer: never lose the message
            log.exception("attempt at %s raised unexpectedly", claimed.message_id)
            lost = UnknownOutcome(f"internal error: {type(unexpected).__name__}")
            return after_failure(policy, claimed, lost, utcnow()), "error", lost
        result = {"reference": receipt.reference, **receipt.details}
        return Finish(Status.DELIVERED, result=result), "delivered", None

    async def _perform(self, claimed: Claim) -> Receipt:
        adapter = self._adapters.get(claimed.target)
        if adapter is None:
            raise PermanentError(f"no adapter for target {claimed.target!r}")
        delivery = Delivery(claimed.message_id, claimed.operation, claimed.payload)
        if claimed.may_have_landed:
            earlier = await adapter.lookup(delivery)
            if earlier is not None:
                log.info("%s was already delivered by an earlier attempt", claimed.message_id)
                return earlier
        return await adapter.deliver(delivery)


def _kind(error: DeliveryError) -> str:
    if isinstance(error, PermanentError):
        return "permanent"
    if isinstance(error, TransientError):
        return "transient"
    return "unknown_outcome"


def _record(
    started_at: dt.datetime,
    started: float,
    kind: str,
    error: DeliveryError | None,
    exchanges: ExchangeLog,
) -> AttemptRecord:
    last = exchanges.last
    last_status = (last.response or {}).get("status") if last else None
    return AttemptRecord(
        started_at=started_at,
        duration_ms=(time.perf_counter() - started) * 1000,
        outcome=kind,
        http_status=(error.http_status if error else None) or last_status,
        error=error.detail if error else None,
        request=[exchange.request for exchange in exchanges.exchanges] or None,
        response=[exchange.response for exchange in exchanges.exchanges] or None,
    )
