"""Claim (the idempotency gate), fencing, head-of-line promotion, sweeping, replay and cancel."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import reading, writing
from bus.errors import InvalidTransition
from bus.journal import operator
from bus.journal.accept import Accepted, accept_batch
from bus.journal.delivery import AttemptRecord, Claim, Finish, claim, finish
from bus.journal.ids import utcnow
from bus.journal.notices import failure_notice
from bus.journal.queries import get_message
from bus.journal.sweep import take_due
from bus.journal.tables import RELEASING, Status, messages, ordering_keys
from bus.journal.wakes import Wake, ids
from tests.journal.test_accept import command

LEASE = dt.timedelta(seconds=30)
RECORD = AttemptRecord(started_at=utcnow(), duration_ms=1.0, outcome="delivered")


async def accepted_ids(engine: AsyncEngine, *keys: str, order: str = "A-1") -> list[str]:
    async with writing(engine) as conn:
        outcomes = await accept_batch(conn, [command(key, order=order) for key in keys])
    return [o.message_id for o in outcomes if isinstance(o, Accepted)]


async def claim_one(engine: AsyncEngine, message_id: str) -> Claim | None:
    return await claim(engine, message_id, LEASE)


async def finish_one(engine: AsyncEngine, claimed: Claim, outcome: Finish) -> str | None:
    woken = await finish(engine, claimed, RECORD, outcome)
    return woken[0].message_id if woken else None


async def assert_open_counts_match(engine: AsyncEngine) -> None:
    """Each key's ``open_count`` equals its messages not yet finished (delivered, skipped,
    cancelled or edited)."""
    open_counts = select(ordering_keys.c.key, ordering_keys.c.open_count)
    unfinished = (
        select(messages.c.ordering_key, func.count())
        .where(messages.c.status.not_in([status.value for status in RELEASING]))
        .group_by(messages.c.ordering_key)
    )
    async with reading(engine) as conn:
        counted = {key: count for key, count in await conn.execute(open_counts)}
        actual = {key: count for key, count in await conn.execute(unfinished)}
    assert counted == {key: actual.get(key, 0) for key in counted}


async def status_of(engine: AsyncEngine, message_id: str) -> str:
    async with reading(engine) as conn:
        message = await get_message(conn, message_id)
    assert message is not None
    return str(message["status"])


async def test_a_message_is_claimed_once(journal: AsyncEngine) -> None:
    [message_id] = await accepted_ids(journal, "k-1")
    first = await claim_one(journal, message_id)
    assert first is not None and first.attempt == 1 and not first.may_have_landed
    assert await claim_one(journal, message_id) is None  # a duplicate wake-up does nothing


async def test_a_blocked_message_cannot_be_claimed_until_promoted(journal: AsyncEngine) -> None:
    head, second = await accepted_ids(journal, "k-1", "k-2")
    assert await claim_one(journal, second) is None
    claimed = await claim_one(journal, head)
    assert claimed is not None
    promoted = await finish_one(
        journal, claimed, Finish(Status.DELIVERED, result={"reference": "1"})
    )
    assert promoted == second
    assert await status_of(journal, second) == Status.ACCEPTED
    assert await claim_one(journal, second) is not None
    await assert_open_counts_match(journal)


async def test_a_failed_head_keeps_its_key_blocked(journal: AsyncEngine) -> None:
    head, second = await accepted_ids(journal, "k-1", "k-2")
    claimed = await claim_one(journal, head)
    assert claimed is not None
    assert await finish_one(journal, claimed, Finish(Status.FAILED, error="no")) is None
    assert await status_of(journal, second) == Status.BLOCKED


async def test_an_expired_lease_is_claimed_again_and_fences_the_old_worker(
    journal: AsyncEngine,
) -> None:
    [message_id] = await accepted_ids(journal, "k-1")
    stale = await claim_one(journal, message_id)
    assert stale is not None
    async with writing(journal) as conn:
        past = utcnow() - dt.timedelta(seconds=1)
        await conn.execute(update(messages).values(lease_until=past))
    fresh = await claim_one(journal, message_id)
    assert fresh is not None and fresh.attempt == 2 and fresh.may_have_landed
    late = Finish(Status.DELIVERED, result={"reference": "late"})
    assert await finish_one(journal, stale, late) is None  # ignored: fenced off
    assert await status_of(journal, message_id) == Status.IN_FLIGHT
    await assert_open_counts_match(journal)  # the stale finish released nothing
    await finish_one(journal, fresh, Finish(Status.DELIVERED, result={"reference": "1"}))
    assert await status_of(journal, message_id) == Status.DELIVERED


async def test_a_retry_is_not_claimed_before_it_is_due(journal: AsyncEngine) -> None:
    [message_id] = await accepted_ids(journal, "k-1")
    claimed = await claim_one(journal, message_id)
    assert claimed is not None
    later = utcnow() + dt.timedelta(seconds=60)
    await finish_one(
        journal, claimed, Finish(Status.RETRY_WAIT, error="503", next_attempt_at=later)
    )
    assert await claim_one(journal, message_id) is None
    async with writing(journal) as conn:
        await conn.execute(update(messages).values(next_attempt_at=utcnow()))
    assert await claim_one(journal, message_id) is not None


async def test_the_sweeper_finds_lost_wake_ups_and_expired_leases(journal: AsyncEngine) -> None:
    [queued] = await accepted_ids(journal, "k-1", order="A-1")
    [never_queued] = await accepted_ids(journal, "k-2", order="A-2")
    [in_flight] = await accepted_ids(journal, "k-3", order="A-3")
    assert await claim_one(journal, in_flight) is not None
    long_ago = utcnow() - dt.timedelta(minutes=10)
    async with writing(journal) as conn:
        await conn.execute(
            update(messages)
            .where(messages.c.id == never_queued)
            .values(queued_at=None, updated_at=long_ago)
        )
        await conn.execute(
            update(messages)
            .where(messages.c.id == in_flight)
            .values(queued_at=long_ago - dt.timedelta(minutes=5), lease_until=long_ago)
        )
    windows = {"requeue_after": dt.timedelta(seconds=60), "grace": dt.timedelta(seconds=2)}
    async with writing(journal) as conn:
        due = await take_due(conn, limit=100, **windows)
    # each with its target, whose queue the sweeper sends it to
    assert sorted(due) == sorted(
        [
            Wake(never_queued, "navision", "sales_order.create"),
            Wake(in_flight, "navision", "sales_order.create"),
        ]
    )
    async with writing(journal) as conn:
        await conn.execute(
            update(messages).where(messages.c.id == queued).values(queued_at=long_ago)
        )  # Redis lost it
        assert ids(await take_due(conn, limit=100, **windows)) == [queued]  # the others: once


async def test_replay_gives_a_fresh_budget_and_records_who_and_why(journal: AsyncEngine) -> None:
    [message_id] = await accepted_ids(journal, "k-1")
    claimed = await claim_one(journal, message_id)
    assert claimed is not None
    await finish_one(journal, claimed, Finish(Status.FAILED, error="400"))
    async with writing(journal) as conn:
        assert (
            await operator.replay(conn, message_id, actor="ann", reason="fixed") is Status.ACCEPTED
        )
    again = await claim_one(journal, message_id)
    assert again is not None and again.attempt_in_cycle == 1 and again.attempt == 2
    async with reading(journal) as conn:
        message = await get_message(conn, message_id)
    assert message is not None
    [action] = message["actions"]
    assert (action["action"], action["actor"], action["reason"]) == ("replay", "ann", "fixed")
    assert action["from_status"] == "failed"


async def test_replay_and_cancel_refuse_wrong_statuses(journal: AsyncEngine) -> None:
    [message_id] = await accepted_ids(journal, "k-1")
    async with writing(journal) as conn:
        with pytest.raises(InvalidTransition):
            await operator.replay(conn, message_id, actor="ann", reason="x")
    assert await claim_one(journal, message_id) is not None
    async with writing(journal) as conn:
        with pytest.raises(InvalidTransition):
            await operator.cancel(conn, message_id, actor="ann", reason="x")


async def test_cancelling_a_failed_head_releases_the_next(journal: AsyncEngine) -> None:
    head, second = await accepted_ids(journal, "k-1", "k-2")
    claimed = await claim_one(journal, head)
    assert claimed is not None
    await finish_one(journal, claimed, Finish(Status.FAILED, error="400"))
    async with writing(journal) as conn:
        promoted = await operator.cancel(conn, head, actor="ann", reason="duplicate order")
    assert promoted == Wake(second, "navision", "sales_order.create")
    assert await status_of(journal, second) == Status.ACCEPTED
    await assert_open_counts_match(journal)
    async with writing(journal) as conn:  # a cancelled head replayed waits behind the new head
        assert await operator.replay(conn, head, actor="ann", reason="undo") is Status.BLOCKED
    await assert_open_counts_match(journal)
    async with writing(journal) as conn:  # cancelling a blocked message promotes nothing
        assert await operator.cancel(conn, head, actor="ann", reason="redo") is None
    assert await status_of(journal, second) == Status.ACCEPTED
    await assert_open_counts_match(journal)


async def test_a_new_message_after_its_key_finished_is_the_head(journal: AsyncEngine) -> None:
    [first] = await accepted_ids(journal, "k-1")
    claimed = await claim_one(journal, first)
    assert claimed is not None
    await finish_one(journal, claimed, Finish(Status.DELIVERED, result={"reference": "1"}))
    [later] = await accepted_ids(journal, "k-2")
    assert await status_of(journal, later) == Status.ACCEPTED
    await assert_open_counts_match(journal)


async def test_a_finish_journals_its_follow_ups_only_when_it_applies(journal: AsyncEngine) -> None:
    """A failure notice is journaled in the failing finish's transaction, and not by a worker
    whose lease was taken over (its finish does not apply)."""
    [message_id] = await accepted_ids(journal, "k-1")
    stale = await claim_one(journal, message_id)
    assert stale is not None
    async with writing(journal) as conn:  # its lease expires and another worker claims it
        await conn.execute(
            update(messages)
            .where(messages.c.id == message_id)
            .values(lease_until=utcnow() - dt.timedelta(seconds=1))
        )
    current = await claim_one(journal, message_id)
    assert current is not None

    def failed(claimed: Claim) -> Finish:
        outcome = Finish(Status.FAILED, error="400 credit limit")
        return dataclasses.replace(outcome, follow_ups=(failure_notice(claimed, outcome),))

    assert await finish(journal, stale, RECORD, failed(stale)) == []
    woken = await finish(journal, current, RECORD, failed(current))
    async with reading(journal) as conn:
        notices = (
            await conn.execute(select(messages).where(messages.c.method == "message.status"))
        ).all()
    assert [Wake(notice.id, notice.target, notice.operation) for notice in notices] == woken
    [notice] = notices
    assert (notice.parent_id, notice.target, notice.status) == (
        message_id,
        "storefront",
        "accepted",
    )
    assert notice.payload["about"] == message_id and notice.payload["reason"] == "400 credit limit"
