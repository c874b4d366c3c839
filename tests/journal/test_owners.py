"""Every non-terminal status has an owner that moves it forward without luck (DESIGN.md §4).

Each test builds the situation a crash, a race or an exhausted budget leaves behind and checks that
the owner named in :data:`bus.journal.tables.OWNERS` moves the message on, or that it waits for an
operator, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.adapters.directory import DirectoryAdapter
from bus.db import reading, writing
from bus.errors import InvalidTransition, UnknownOutcome
from bus.journal import circuits, operator, pauses
from bus.journal.accept import Accepted, Command, accept_batch
from bus.journal.customers import CustomerDirectory
from bus.journal.delivery import Finish
from bus.journal.ids import utcnow
from bus.journal.queries import get_message
from bus.journal.tables import OWNERS, RELEASING, Status, messages, target_pauses
from bus.journal.wakes import Wake
from bus.queues.broker import build_broker
from bus.queues.deliver import Deliverer
from bus.queues.retry import after_failure
from bus.queues.sweeper import sweep_once
from bus.settings import BreakerSettings, RetryPolicy, Settings, TargetSettings
from tests.journal.test_delivery import accepted_ids, claim_one, finish_one, status_of

#: The directory is a target the worker delivers to without any HTTP: the journal's own table.
DIRECTORY = TargetSettings(breaker=BreakerSettings(failure_threshold=1, cooldown=60.0))
SETTINGS = Settings(directory=DIRECTORY)


def remember(key: str, customer: str = "C-1") -> Command:
    """A ``customer.remember`` for the directory target, keyed by the customer."""
    return Command(
        method="account.create",
        source="crm",
        target="directory",
        operation="customer.remember",
        payload={"erp_key": customer},
        idempotency_key=key,
        ordering_key=f"customer:{customer}",
    )


async def accept_all(engine: AsyncEngine, *commands: Command) -> list[str]:
    async with writing(engine) as conn:
        outcomes = await accept_batch(conn, list(commands))
    return [o.message_id for o in outcomes if isinstance(o, Accepted)]


def deliverer(engine: AsyncEngine) -> Deliverer:
    """A worker's deliverer with the directory adapter; wake-ups are dropped (the test drives)."""

    async def send(_wakes: list[Wake], _delay: int | None) -> None:
        return None

    adapters = {"directory": DirectoryAdapter(CustomerDirectory(engine))}
    return Deliverer(SETTINGS, engine, adapters, send)  # type: ignore[dict-item]


async def sweep(engine: AsyncEngine) -> int:
    return await sweep_once(SETTINGS, engine, build_broker(SETTINGS))


def test_every_status_is_either_terminal_or_has_an_owner() -> None:
    terminal = {Status.DELIVERED, Status.SKIPPED, Status.CANCELLED, Status.EDITED}
    assert set(RELEASING) == terminal  # what finishes a message releases its key
    assert set(OWNERS) == set(Status) - terminal
    assert all(owner.strip() for owner in OWNERS.values())


async def test_a_worker_with_a_stale_view_of_a_closed_breaker_delivers_instead_of_holding(
    journal: AsyncEngine,
) -> None:
    worker = deliverer(journal)
    first, second = await accept_all(journal, remember("k-1", "C-1"), remember("k-2", "C-2"))
    async with writing(journal) as conn:  # another worker saw the directory fail: open
        await circuits.record_failure(conn, "directory", DIRECTORY.breaker, probing=False)
    assert await worker.deliver(first) is Status.HELD  # this worker now believes it open
    async with writing(journal) as conn:  # another worker's probe closed it and released first
        released = await circuits.record_success(conn, "directory", DIRECTORY.breaker)
    assert released == [Wake(first, "directory", "customer.remember")]
    # Within the worker's cache window it must not hold a message of a closed breaker.
    assert await worker.deliver(second) is Status.DELIVERED
    assert await worker.deliver(first) is Status.DELIVERED


async def test_the_sweeper_releases_messages_held_for_a_breaker_that_is_closed(
    journal: AsyncEngine,
) -> None:
    [held] = await accept_all(journal, remember("k-1"))
    claimed = await claim_one(journal, held)
    assert claimed is not None
    async with writing(journal) as conn:  # held as a race would leave it: breaker closed
        await conn.execute(
            update(messages)
            .where(messages.c.id == held)
            .values(status=Status.HELD.value, lease_until=None, queued_at=None)
        )
    assert await sweep(journal) == 1
    assert await status_of(journal, held) == Status.ACCEPTED
    assert await deliverer(journal).deliver(held) is Status.DELIVERED


async def test_the_sweeper_promotes_the_next_message_of_a_key_whose_head_finished(
    journal: AsyncEngine,
) -> None:
    head, second, third = await accepted_ids(journal, "k-1", "k-2", "k-3")
    async with writing(journal) as conn:  # a finish committed, its promotion never ran
        await conn.execute(
            update(messages)
            .where(messages.c.id == head)
            .values(status=Status.DELIVERED.value, finished_at=utcnow())
        )
    assert await sweep(journal) >= 1
    assert await status_of(journal, second) == Status.ACCEPTED
    assert await status_of(journal, third) == Status.BLOCKED  # one head at a time
    assert await sweep(journal) == 0 or await status_of(journal, third) == Status.BLOCKED


async def test_a_failed_head_is_not_repaired_away(journal: AsyncEngine) -> None:
    head, second = await accepted_ids(journal, "k-1", "k-2")
    claimed = await claim_one(journal, head)
    assert claimed is not None
    await finish_one(journal, claimed, Finish(Status.FAILED, error="400"))
    await sweep(journal)
    assert await status_of(journal, second) == Status.BLOCKED  # waits for the operator


async def test_an_exhausted_unknown_outcome_waits_for_an_operator(journal: AsyncEngine) -> None:
    policy = RetryPolicy(max_attempts=1)
    [message_id] = await accepted_ids(journal, "k-1")
    claimed = await claim_one(journal, message_id)
    assert claimed is not None
    outcome = after_failure(policy, claimed, UnknownOutcome("no answer"), utcnow())
    assert outcome.status is Status.UNKNOWN_OUTCOME and outcome.next_attempt_at is None
    await finish_one(journal, claimed, outcome)
    async with writing(journal) as conn:  # long after: the sweeper's lost-wake-up window passed
        await conn.execute(
            update(messages)
            .where(messages.c.id == message_id)
            .values(updated_at=utcnow() - dt.timedelta(hours=1))
        )
    assert await claim_one(journal, message_id) is None
    assert await sweep(journal) == 0
    assert await status_of(journal, message_id) == Status.UNKNOWN_OUTCOME


async def test_an_operator_releases_a_held_message_with_a_reason(journal: AsyncEngine) -> None:
    [held] = await accept_all(journal, remember("k-1"))
    async with writing(journal) as conn:
        await conn.execute(
            update(messages).where(messages.c.id == held).values(status=Status.HELD.value)
        )
        released = await operator.release(conn, held, actor="ops", reason="NAV is back")
        assert released == Wake(held, "directory", "customer.remember")
        with pytest.raises(InvalidTransition):
            await operator.release(conn, held, actor="ops", reason="twice")
    async with reading(journal) as conn:
        message = await get_message(conn, held)
    assert message is not None and message["status"] == Status.ACCEPTED
    assert [(a["action"], a["reason"]) for a in message["actions"]] == [("release", "NAV is back")]


async def test_a_blocked_message_names_the_message_that_blocks_it(journal: AsyncEngine) -> None:
    head, second, third = await accepted_ids(journal, "k-1", "k-2", "k-3")
    async with reading(journal) as conn:
        blocked = await get_message(conn, third)
        runnable = await get_message(conn, head)
    assert blocked is not None and runnable is not None
    assert blocked["blocked_by"] == {"id": head, "status": Status.ACCEPTED.value}
    assert runnable["blocked_by"] is None
    assert second != head


async def test_replaying_the_failed_head_moves_the_rest(journal: AsyncEngine) -> None:
    head, second = await accepted_ids(journal, "k-1", "k-2")
    claimed = await claim_one(journal, head)
    assert claimed is not None
    await finish_one(journal, claimed, Finish(Status.FAILED, error="400"))
    async with writing(journal) as conn:
        await operator.replay(conn, head, actor="ops", reason="fixed the item")
    again = await claim_one(journal, head)
    assert again is not None
    promoted = await finish_one(journal, again, Finish(Status.DELIVERED, result={}))
    assert promoted == second


async def test_statuses_left_non_terminal_all_have_a_way_forward(journal: AsyncEngine) -> None:
    """The owners table is what the code enforces: every status it names exists in the journal."""
    chained = dataclasses.replace(remember("k-1"), then=(("directory", "customer.remember"),))
    await accept_all(journal, chained)
    async with reading(journal) as conn:
        statuses = set((await conn.execute(select(messages.c.status))).scalars())
    assert statuses <= {status.value for status in OWNERS}


async def attempts_of(engine: AsyncEngine, message_id: str) -> tuple[int, int]:
    async with reading(engine) as conn:
        row = (
            await conn.execute(
                select(messages.c.attempts, messages.c.attempts_total).where(
                    messages.c.id == message_id
                )
            )
        ).one()
    return row.attempts, row.attempts_total


async def test_a_paused_target_holds_without_an_attempt_until_the_operator_resumes_it(
    journal: AsyncEngine,
) -> None:
    worker = deliverer(journal)
    [held] = await accept_all(journal, remember("k-1"))
    async with writing(journal) as conn:
        await pauses.pause(conn, "directory", actor="ops", reason="directory upgrade")
    assert await worker.deliver(held) is Status.HELD
    assert await attempts_of(journal, held) == (0, 0)  # the attempt was given back
    assert await sweep(journal) == 0  # the sweeper's release of closed breakers leaves it held
    assert await status_of(journal, held) == Status.HELD
    async with writing(journal) as conn:  # a breaker closing does not end the pause either
        assert await circuits.record_success(conn, "directory", DIRECTORY.breaker) == []
        window, released = await pauses.resume(conn, "directory", actor="ops", reason="done")
    assert [wake.message_id for wake in released] == [held]
    assert (window.paused_by, window.resumed_by, window.resume_reason) == ("ops", "ops", "done")
    assert await worker.deliver(held) is Status.DELIVERED
    assert await attempts_of(journal, held) == (1, 1)


async def test_the_sweeper_ends_a_pause_whose_until_passed_and_releases_what_it_held(
    journal: AsyncEngine,
) -> None:
    worker = deliverer(journal)
    first, second = await accept_all(journal, remember("k-1", "C-1"), remember("k-2", "C-2"))
    until = utcnow() + dt.timedelta(minutes=5)
    async with writing(journal) as conn:
        await pauses.pause(conn, "directory", actor="ops", reason="window", until=until)
    assert await worker.deliver(first) is Status.HELD
    async with writing(journal) as conn:  # five minutes later, as far as the journal knows
        await conn.execute(update(target_pauses).values(until=utcnow() - dt.timedelta(seconds=1)))
    # a claim no longer sees the pause, whether or not the sweeper has ended it yet
    assert await worker.deliver(second) is Status.DELIVERED
    assert await sweep(journal) == 1
    assert await status_of(journal, first) == Status.ACCEPTED
    async with reading(journal) as conn:
        [window] = await pauses.history(conn, "directory")
    assert window.resumed_by == pauses.UNTIL_ACTOR and window.resumed_at is not None
    assert await worker.deliver(first) is Status.DELIVERED


async def test_a_claim_that_saw_a_pause_ended_meanwhile_is_delivered_not_held(
    journal: AsyncEngine,
) -> None:
    [message_id] = await accept_all(journal, remember("k-1"))
    async with writing(journal) as conn:
        await pauses.pause(conn, "directory", actor="ops", reason="window")
    claimed = await claim_one(journal, message_id)
    assert claimed is not None and claimed.paused
    async with writing(journal) as conn:  # the operator resumes between the claim and the hold
        await pauses.resume(conn, "directory", actor="ops", reason="done early")
    async with writing(journal) as conn:
        assert await pauses.hold(conn, message_id, claimed.attempt, "directory") is None
    assert await status_of(journal, message_id) == Status.IN_FLIGHT  # the worker goes on


async def test_a_resume_leaves_messages_to_a_breaker_still_open(journal: AsyncEngine) -> None:
    worker = deliverer(journal)
    [message_id] = await accept_all(journal, remember("k-1"))
    async with writing(journal) as conn:
        await pauses.pause(conn, "directory", actor="ops", reason="window")
        await circuits.record_failure(conn, "directory", DIRECTORY.breaker, probing=False)
    assert await worker.deliver(message_id) is Status.HELD
    async with writing(journal) as conn:
        await pauses.resume(conn, "directory", actor="ops", reason="done")
    # released, then held again by the breaker, still without an attempt
    assert await worker.deliver(message_id) is Status.HELD
    assert await attempts_of(journal, message_id) == (0, 0)
    async with reading(journal) as conn:
        message = await get_message(conn, message_id)
    assert message is not None and "circuit breaker is open" in message["last_error"]
