"""Group commit: concurrent accepts share one transaction, so a durable commit serves many calls.

Calls wait in an asyncio queue; each of a few writer tasks takes whatever is waiting (up to a batch
limit), journals it in one transaction and answers every caller after the commit. Under light load a
batch holds one call and adds no delay; under heavy load batches grow by themselves while the
previous commit is in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bus import metrics
from bus.db import journal_unreachable, writing
from bus.journal.accept import Accepted, AcceptOutcome, Command, LostInsertRace, accept_batch
from bus.journal.wakes import Wake

log = logging.getLogger(__name__)

#: PostgreSQL states worth one more try of the whole batch: deadlock, serialization failure.
_RETRYABLE_SQLSTATES = {"40P01", "40001"}
_MAX_TRIES = 5

_Pending = tuple[Command, "asyncio.Future[AcceptOutcome]"]


class GroupCommitter:
    """Journals commands in shared transactions and reports which new messages are runnable.

    Parameters:
        engine: the journal.
        on_committed: called with the newly accepted, runnable messages after each commit.
        max_batch: most commands in one transaction.
        writers: transactions in flight at once.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        on_committed: Callable[[list[Wake]], None],
        *,
        max_batch: int = 500,
        writers: int = 4,
    ) -> None:
        self._engine = engine
        self._on_committed = on_committed
        self._max_batch = max_batch
        self._writers = writers
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start the writer tasks on the running loop."""
        self._tasks = [asyncio.create_task(self._write_forever()) for _ in range(self._writers)]

    async def stop(self) -> None:
        """Finish what is queued, then stop the writers."""
        await self._queue.join()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def accept(self, command: Command) -> AcceptOutcome:
        """Journal ``command``; return once its transaction has committed."""
        future: asyncio.Future[AcceptOutcome] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((command, future))
        return await future

    async def _write_forever(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[_Pending]) -> None:
        try:
            outcomes = await self._commit([command for command, _ in batch])
        except Exception as exc:  # each caller logs it with its correlation id
            if len(batch) > 1 and not journal_unreachable(exc):
                # One command the journal refuses must fail its own caller, not the callers
                # that happened to share its transaction: commit them one by one.
                log.warning(
                    "accept of a batch of %d failed (%s); committing its calls one by one",
                    len(batch),
                    type(exc).__name__,
                )
                for pending in batch:
                    await self._write([pending])
                return
            log.error("accept of a batch of %d failed: %s", len(batch), type(exc).__name__)
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():  # the caller may have given up (its time budget)
                future.set_result(outcome)
        metrics.count_accepted(outcomes)
        runnable = [
            wake
            for outcome in outcomes
            if isinstance(outcome, Accepted) and outcome.created
            for wake in outcome.runnable
        ]
        self._on_committed(runnable)

    async def _commit(self, commands: Sequence[Command]) -> list[AcceptOutcome]:
        check_existing = False  # optimistic: most keys are new
        for attempt in range(1, _MAX_TRIES + 1):
            try:
                async with writing(self._engine) as conn:
                    return await accept_batch(conn, commands, check_existing=check_existing)
            except LostInsertRace:
                check_existing = (
                    True  # a repeated key: redo the batch, answering it from the journal
                )
            except DBAPIError as exc:
                if _sqlstate(exc) not in _RETRYABLE_SQLSTATES or attempt == _MAX_TRIES:
                    raise
                log.info("accept batch hit %s; retrying", _sqlstate(exc))
        raise RuntimeError("accept batch kept losing races")  # pragma: no cover


def _sqlstate(exc: DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
