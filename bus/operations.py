"""What operators do: see the bus at a glance, find and group failures, inspect messages, and
replay, release or cancel them.

The CLI is a thin shell over these functions. Replay and cancel run in batches
(:mod:`bus.journal.bulk`): many messages per transaction, each one recorded with who did it and
why, and told to the storefront in the batch's transaction (unless ``[storefront] notify =
"none"``). What may run then is woken after each batch's commit (with the embedded queue, which
lives inside ``bus serve``, its sweeper picks replayed messages up instead). Release acts on a few
held messages at a time: one transaction each.
"""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis
import tenacity
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bus.db import reading, writing
from bus.errors import CallError, MessageNotFound
from bus.journal import bulk, operator
from bus.journal.groups import FailureGroup, failure_groups, group_members
from bus.journal.notices import tell_operator_action
from bus.journal.overview import Overview, overview, queue_depths, with_queues
from bus.journal.queries import MessageFilter, get_message, list_messages
from bus.journal.tables import Status, messages
from bus.journal.wakes import Wake
from bus.queues.broker import build_broker, delivery_queues, enqueue
from bus.settings import Settings

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
    """An operator action on messages by id (replay, release, cancel), recorded with who and why."""

    def __call__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        message_ids: list[str],
        *,
        actor: str,
        reason: str,
        progress: Progress | None = None,
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
) -> list[ActionResult]:
    """Replay each message (:func:`bus.journal.bulk.replay`), ``batch_size`` per transaction;
    the runnable ones are woken after each commit when a Redis queue is configured."""
    act = functools.partial(bulk.replay, actor=actor, reason=reason, notify=_notify(settings))
    return await _in_batches(settings, engine, message_ids, act, progress, batch_size)


async def cancel(
    settings: Settings,
    engine: AsyncEngine,
    message_ids: list[str],
    *,
    actor: str,
    reason: str,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
) -> list[ActionResult]:
    """Cancel each message (:func:`bus.journal.bulk.cancel`), ``batch_size`` per transaction;
    the next message of each released ordering key is woken after the commit."""
    act = functools.partial(bulk.cancel, actor=actor, reason=reason, notify=_notify(settings))
    return await _in_batches(settings, engine, message_ids, act, progress, batch_size)


async def release(
    settings: Settings,
    engine: AsyncEngine,
    message_ids: list[str],
    *,
    actor: str,
    reason: str,
    progress: Progress | None = None,
) -> list[ActionResult]:
    """Release each held message in its own transaction; released ones are woken at once with
    a Redis queue."""
    results: list[ActionResult] = []
    waker = _Waker(settings)
    for message_id in message_ids:
        try:
            async with writing(engine) as conn:
                woken = [await operator.release(conn, message_id, actor=actor, reason=reason)]
                if _notify(settings):
                    woken += await tell_operator_action(conn, message_id, "release", reason)
        except CallError as exc:
            results.append(ActionResult(message_id, False, error=_reason(exc)))
        else:
            results.append(ActionResult(message_id, True, status=Status.ACCEPTED.value))
            await waker.wake(woken)
        if progress is not None:
            progress(1)
    return results


_Batch = Callable[[AsyncConnection, Sequence[str]], Awaitable[bulk.BatchOutcome]]


async def _in_batches(
    settings: Settings,
    engine: AsyncEngine,
    message_ids: list[str],
    act: _Batch,
    progress: Progress | None,
    batch_size: int,
) -> list[ActionResult]:
    """Apply ``act`` to ``message_ids``, ``batch_size`` per transaction; wake what it made
    runnable after each commit; one refusal does not stop the rest."""
    results: list[ActionResult] = []
    waker = _Waker(settings)
    for start in range(0, len(message_ids), batch_size):
        batch = message_ids[start : start + batch_size]
        outcome = await _committed(engine, act, batch)
        await waker.wake(list(outcome.wake))
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


async def _committed(engine: AsyncEngine, act: _Batch, batch: list[str]) -> bulk.BatchOutcome:
    """``act`` on ``batch`` in a transaction of its own, tried again after a deadlock."""

    async def once() -> bulk.BatchOutcome:
        async with writing(engine) as conn:
            return await act(conn, batch)

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


class _Waker:
    """Wakes messages through the Redis queue (built once per action); nothing to do with the
    embedded queue, whose sweeper picks runnable messages up."""

    def __init__(self, settings: Settings) -> None:
        self._broker = build_broker(settings) if settings.redis_url else None

    async def wake(self, wakes: list[Wake]) -> None:
        """Enqueue ``wakes`` (off the event loop: the Redis client blocks)."""
        if wakes and self._broker is not None:
            await asyncio.to_thread(enqueue, self._broker, wakes)


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
