"""What operators do: see the bus at a glance, find and group failures, inspect messages, and
replay, release or cancel them.

The CLI and the console are thin shells over these functions. Replay and cancel run in batches
(:mod:`bus.journal.bulk`): many messages per transaction, each one recorded with who did it and
why, and told to the storefront in the batch's transaction (unless ``[storefront] notify =
"none"``). Release acts on a few held messages at a time: one transaction each. Whatever an
action makes runnable (the messages themselves, the next message of a key whose head was
cancelled, the storefront's notices) is handed to the workers by a :class:`Waker`, the one way
every operator action wakes messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import dramatiq
import redis
import tenacity
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bus.db import reading, writing
from bus.errors import CallError, MessageNotFound
from bus.journal import bulk, operator
from bus.journal.groups import FailureGroup, failure_groups, group_members
from bus.journal.ids import utcnow
from bus.journal.notices import tell_operator_action
from bus.journal.overview import Overview, overview, queue_depths, with_queues
from bus.journal.queries import MessageFilter, get_message, list_messages
from bus.journal.tables import Status, messages
from bus.journal.wakes import Wake, stamp_queued
from bus.queues.broker import build_broker, delivery_queues, enqueue
from bus.settings import Settings

log = logging.getLogger(__name__)

#: Messages per transaction of a bulk replay or cancel.
BATCH_SIZE = 500
#: PostgreSQL states worth another try of a batch: deadlock (with a worker finishing a message
#: of the batch), serialization failure.
_RETRYABLE_SQLSTATES = {"40P01", "40001"}
_TRIES = 3


@dataclass(frozen=True)
class ActionResult:
    """The outcome of an operator action on one message."""

    message_id: str
    ok: bool
    status: str | None = None
    error: str | None = None


def refusals(results: Sequence[ActionResult]) -> Counter[str]:
    """How many messages were refused, per reason (most common first when iterated with
    ``most_common``)."""
    return Counter(r.error or "refused" for r in results if not r.ok)


#: Told how many more messages were handled, after each batch (a progress bar).
Progress = Callable[[int], None]


class Action(Protocol):
    """An operator action on messages by id (replay, release, cancel), recorded with who and why.

    Given a ``waker``, the caller reports what it could not wake (:meth:`Waker.unsent`);
    without one, the action logs it.
    """

    def __call__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        message_ids: list[str],
        *,
        actor: str,
        reason: str,
        progress: Progress | None = None,
        waker: Waker | None = None,
    ) -> Awaitable[list[ActionResult]]: ...


async def status(settings: Settings, engine: AsyncEngine, *, minutes: int = 15) -> Overview:
    """The overview of the bus (:func:`bus.journal.overview.overview`), with the depth of its
    Redis queues when it has them."""
    async with reading(engine) as conn:
        found = await overview(conn, minutes=minutes)
    if not settings.redis_url:
        return found
    try:
        depths = await queue_depths(
            settings.redis_url, settings.redis_namespace, delivery_queues(settings)
        )
    except redis.RedisError as error:
        return with_queues(found, (), error=f"Redis did not answer: {error}")
    return with_queues(found, depths)


async def groups(engine: AsyncEngine, where: MessageFilter | None = None) -> list[FailureGroup]:
    """The failure groups (:func:`bus.journal.groups.failure_groups`)."""
    async with reading(engine) as conn:
        return await failure_groups(conn, where)


async def find(engine: AsyncEngine, where: MessageFilter, limit: int) -> list[dict[str, Any]]:
    """Messages matching ``where``, newest first."""
    async with reading(engine) as conn:
        return await list_messages(conn, where, limit=limit)


async def count(engine: AsyncEngine, where: MessageFilter) -> int:
    """How many messages match ``where``: all of them, whatever a listing shows."""
    async with reading(engine) as conn:
        return int(await conn.scalar(where.apply(select(func.count()).select_from(messages))) or 0)


async def select_ids(
    engine: AsyncEngine,
    where: MessageFilter | None,
    *,
    group: str | None = None,
    limit: int | None = None,
) -> list[str]:
    """The ids of every message matching ``where`` (and in failure group ``group``), newest
    first; at most ``limit``."""
    async with reading(engine) as conn:
        if group is not None:
            found = await group_members(conn, group, where)
            return found[:limit] if limit is not None else found
        query = (where or MessageFilter()).apply(select(messages.c.id))
        query = query.order_by(messages.c.id.desc()).limit(limit)
        return list((await conn.execute(query)).scalars())


async def show(engine: AsyncEngine, message_id: str) -> dict[str, Any] | None:
    """One message with its attempts and operator actions."""
    async with reading(engine) as conn:
        return await get_message(conn, message_id)


async def replay(
    settings: Settings,
    engine: AsyncEngine,
    message_ids: list[str],
    *,
    actor: str,
    reason: str,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
    waker: Waker | None = None,
) -> list[ActionResult]:
    """Replay each message (:func:`bus.journal.bulk.replay`), ``batch_size`` per transaction;
    what it made runnable is woken after each commit (:class:`Waker`)."""
    act = functools.partial(bulk.replay, actor=actor, reason=reason, notify=_notify(settings))
    async with waking(settings, waker) as wakes:
        return await _in_batches(engine, message_ids, act, progress, batch_size, wakes)


async def cancel(
    settings: Settings,
    engine: AsyncEngine,
    message_ids: list[str],
    *,
    actor: str,
    reason: str,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
    waker: Waker | None = None,
) -> list[ActionResult]:
    """Cancel each message (:func:`bus.journal.bulk.cancel`), ``batch_size`` per transaction;
    the next message of each released ordering key and the storefront's notices are woken after
    the commit (:class:`Waker`)."""
    act = functools.partial(bulk.cancel, actor=actor, reason=reason, notify=_notify(settings))
    async with waking(settings, waker) as wakes:
        return await _in_batches(engine, message_ids, act, progress, batch_size, wakes)


async def release(
    settings: Settings,
    engine: AsyncEngine,
    message_ids: list[str],
    *,
    actor: str,
    reason: str,
    progress: Progress | None = None,
    waker: Waker | None = None,
) -> list[ActionResult]:
    """Release each held message in its own transaction; the released ones and the
    storefront's notices are woken after each commit (:class:`Waker`)."""
    results: list[ActionResult] = []
    async with waking(settings, waker) as wakes:
        for message_id in message_ids:
            try:
                async with writing(engine) as conn:
                    woken = [await operator.release(conn, message_id, actor=actor, reason=reason)]
                    if _notify(settings):
                        woken += await tell_operator_action(conn, message_id, "release", reason)
                    await wakes.journal(conn, woken)
            except CallError as exc:
                results.append(ActionResult(message_id, False, error=_reason(exc)))
            else:
                results.append(ActionResult(message_id, True, status=Status.ACCEPTED.value))
                await wakes.wake(engine, woken)
            if progress is not None:
                progress(1)
    return results


_Batch = Callable[[AsyncConnection, Sequence[str]], Awaitable[bulk.BatchOutcome]]


async def _in_batches(
    engine: AsyncEngine,
    message_ids: list[str],
    act: _Batch,
    progress: Progress | None,
    batch_size: int,
    waker: Waker,
) -> list[ActionResult]:
    """Apply ``act`` to ``message_ids``, ``batch_size`` per transaction; wake what it made
    runnable after each commit; one refusal does not stop the rest."""
    results: list[ActionResult] = []
    for start in range(0, len(message_ids), batch_size):
        batch = message_ids[start : start + batch_size]
        outcome = await _committed(engine, act, batch, waker)
        await waker.wake(engine, list(outcome.wake))
        refused = {r.message_id: r.reason for r in outcome.refused}
        done = dict(outcome.done)
        for message_id in dict.fromkeys(batch):
            if message_id in done:
                results.append(ActionResult(message_id, True, status=done[message_id].value))
            else:
                results.append(ActionResult(message_id, False, error=refused.get(message_id)))
        if progress is not None:
            progress(len(batch))
    return results


async def _committed(
    engine: AsyncEngine, act: _Batch, batch: list[str], waker: Waker
) -> bulk.BatchOutcome:
    """``act`` on ``batch`` in a transaction of its own, tried again after a deadlock."""

    async def once() -> bulk.BatchOutcome:
        async with writing(engine) as conn:
            outcome = await act(conn, batch)
            await waker.journal(conn, list(outcome.wake))
            return outcome

    retrying = tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception(_deadlocked),
        stop=tenacity.stop_after_attempt(_TRIES),
        reraise=True,
    )
    return await retrying(once)


def _deadlocked(error: BaseException) -> bool:
    return isinstance(error, DBAPIError) and (
        getattr(error.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES
    )


class Waker:
    """Hands to the workers what an operator action made runnable: the replayed, released or
    edited messages, the next message of a key whose head was cancelled, a resumed target's
    held messages, and the storefront's notices the action journals. Every operator action, the
    CLI's and the console's, wakes through one, so all of them behave alike.

    It works on both sides of the action's commit:

    - :meth:`journal`, in the action's transaction, stamps the messages queued when this process
      will send their wake-ups (Redis), and not queued otherwise. With the embedded queue it is
      always otherwise: that queue lives inside ``bus serve``, out of reach of the operator's
      process, and its sweeper wakes unqueued messages at its next round
      (``queue.sweep_interval``), where a message stamped queued would wait for
      ``queue.requeue_after`` (the bound for a lost wake-up).
    - :meth:`wake`, after the commit, sends the wake-ups through Redis. If Redis cannot be
      reached, the action is done all the same (the journal has it): the messages are left to
      the sweeper, the rest of the action does not try Redis again, and :meth:`unsent` says so
      in one line.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._broker: dramatiq.Broker | None = None
        self._sends = settings.redis_url is not None
        self._unsent = 0
        self._error = ""

    async def journal(self, conn: AsyncConnection, wakes: list[Wake]) -> None:
        """Stamp ``wakes`` in the action's transaction, before its commit: queued now if this
        process sends their wake-ups, else left for the sweeper's next round."""
        await stamp_queued(conn, wakes, utcnow() if self._sends else None)

    async def wake(self, engine: AsyncEngine, wakes: list[Wake]) -> None:
        """Send the wake-ups of ``wakes``, committed by now (off the event loop: the Redis
        client blocks); never raises: a failure leaves them to the sweeper."""
        if not wakes or self._settings.redis_url is None:
            return  # the embedded queue's sweeper wakes them (journal() left them unqueued)
        if not self._sends:
            self._unsent += len(wakes)  # Redis failed earlier in this action: not tried again
            return
        try:
            if self._broker is None:
                self._broker = build_broker(self._settings)
            await asyncio.to_thread(enqueue, self._broker, wakes)
        except Exception as error:  # whatever the client raised: the action is done
            self._sends = False
            self._unsent += len(wakes)
            self._error = f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:200]}"
            await self._leave_to_sweeper(engine, wakes)

    def unsent(self) -> str | None:
        """One line saying how many messages could not be woken now and who wakes them
        instead; ``None`` when every one was."""
        if not self._unsent:
            return None
        after = self._settings.queue.requeue_after
        return (
            f"{self._unsent} message(s) it made runnable not woken now (Redis did not answer:"
            f" {self._error}); the action is done: the sweeper hands them to a worker within"
            f" {after:g}s (queue.requeue_after) once it reaches Redis"
        )

    async def _leave_to_sweeper(self, engine: AsyncEngine, wakes: list[Wake]) -> None:
        """Unstamp ``wakes``, so that the sweeper's next round takes them."""
        try:
            async with writing(engine) as conn:
                await stamp_queued(conn, wakes, None)
        except Exception:
            # Stamped queued, they are the sweeper's all the same once requeue_after has passed.
            log.warning("could not flag %d message(s) for the sweeper", len(wakes), exc_info=True)


@contextlib.asynccontextmanager
async def waking(settings: Settings, waker: Waker | None) -> AsyncIterator[Waker]:
    """The :class:`Waker` of an action: the caller's ``waker`` (the caller reports what it
    could not wake), or one of the action's own, whose unsent wake-ups are logged at the
    action's end (the console's actions: in ``bus serve``'s log)."""
    if waker is not None:
        yield waker
        return
    own = Waker(settings)
    try:
        yield own
    finally:
        if (line := own.unsent()) is not None:
            log.warning("%s", line)


def _notify(settings: Settings) -> bool:
    """Whether the storefront hears of operators' actions on its messages."""
    return settings.storefront.notify != "none"


def _reason(error: CallError) -> str:
    """Why, in the words of :attr:`bus.journal.bulk.Refusal.reason`."""
    if isinstance(error, MessageNotFound):
        return "no such message"
    data = error.data if isinstance(error.data, dict) else {}
    found = data.get("status")
    return f"status {found}" if found else error.message
