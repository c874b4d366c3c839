"""What integration engineers do to messages: find, inspect, replay, release and cancel them.

The CLI is a thin shell over these functions. Each action runs in its own transaction per message
and is recorded with who did it and why; wake-ups are enqueued after the commit (with the embedded
queue, which lives inside ``bus serve``, the sweeper picks replayed messages up instead). An
action on a message of the storefront's is told to it in the action's transaction
(:func:`bus.journal.notices.tell_operator_action`), unless ``[storefront] notify = "none"``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bus.db import reading, writing
from bus.errors import CallError
from bus.journal import operator
from bus.journal.notices import tell_operator_action
from bus.journal.queries import MessageFilter, get_message, list_messages
from bus.journal.tables import Status
from bus.queues.broker import build_broker, enqueue
from bus.settings import Settings
from schemas.notices import OperatorAction


@dataclass(frozen=True)
class ActionResult:
    """The outcome of an operator action on one message."""

    message_id: str
    ok: bool
    status: str | None = None
    error: str | None = None


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
    ) -> Awaitable[list[ActionResult]]: ...


async def find(engine: AsyncEngine, where: MessageFilter, limit: int) -> list[dict[str, Any]]:
    """Messages matching ``where``, newest first."""
    async with reading(engine) as conn:
        return await list_messages(conn, where, limit=limit)


async def show(engine: AsyncEngine, message_id: str) -> dict[str, Any] | None:
    """One message with its attempts and operator actions."""
    async with reading(engine) as conn:
        return await get_message(conn, message_id)


async def replay(
    settings: Settings, engine: AsyncEngine, message_ids: list[str], *, actor: str, reason: str
) -> list[ActionResult]:
    """Replay each message; runnable ones are woken at once when a Redis queue is configured."""

    async def replay_one(conn: AsyncConnection, message_id: str) -> ActionResult:
        status = await operator.replay(conn, message_id, actor=actor, reason=reason)
        told.extend(await _tell(settings, conn, message_id, "replay", reason))
        return ActionResult(message_id, True, status=status.value)

    told: list[str] = []
    results = await _each(engine, message_ids, replay_one)
    _wake(settings, [r.message_id for r in results if r.status == Status.ACCEPTED.value] + told)
    return results


async def release(
    settings: Settings, engine: AsyncEngine, message_ids: list[str], *, actor: str, reason: str
) -> list[ActionResult]:
    """Release each held message; released ones are woken at once with a Redis queue."""

    async def release_one(conn: AsyncConnection, message_id: str) -> ActionResult:
        await operator.release(conn, message_id, actor=actor, reason=reason)
        told.extend(await _tell(settings, conn, message_id, "release", reason))
        return ActionResult(message_id, True, status=Status.ACCEPTED.value)

    told: list[str] = []
    results = await _each(engine, message_ids, release_one)
    _wake(settings, [r.message_id for r in results if r.ok] + told)
    return results


async def cancel(
    settings: Settings, engine: AsyncEngine, message_ids: list[str], *, actor: str, reason: str
) -> list[ActionResult]:
    """Cancel each message; the next message of a released ordering key is woken."""
    promoted: list[str] = []

    async def cancel_one(conn: AsyncConnection, message_id: str) -> ActionResult:
        next_id = await operator.cancel(conn, message_id, actor=actor, reason=reason)
        promoted.extend([next_id] if next_id else [])
        promoted.extend(await _tell(settings, conn, message_id, "cancel", reason))
        return ActionResult(message_id, True, status=Status.CANCELLED.value)

    results = await _each(engine, message_ids, cancel_one)
    _wake(settings, promoted)
    return results


async def _each(
    engine: AsyncEngine,
    message_ids: list[str],
    act: Callable[[AsyncConnection, str], Awaitable[ActionResult]],
) -> list[ActionResult]:
    """Apply ``act`` to each message in its own transaction; one refusal does not stop the rest."""
    results: list[ActionResult] = []
    for message_id in message_ids:
        try:
            async with writing(engine) as conn:
                results.append(await act(conn, message_id))
        except CallError as exc:
            results.append(ActionResult(message_id, False, error=_reason(exc)))
    return results


async def _tell(
    settings: Settings, conn: AsyncConnection, message_id: str, action: OperatorAction, reason: str
) -> list[str]:
    """Tell the storefront of the action, in its transaction, unless it hears of nothing."""
    if settings.storefront.notify == "none":
        return []
    return await tell_operator_action(conn, message_id, action, reason)


def _wake(settings: Settings, message_ids: list[str]) -> None:
    if message_ids and settings.redis_url:
        enqueue(build_broker(settings), message_ids)


def _reason(error: CallError) -> str:
    data = error.data if isinstance(error.data, dict) else {}
    status = data.get("status")
    return f"{error.message} (status {status})" if status else error.message
