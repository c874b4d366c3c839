"""A finish that claims the message its runner takes next (bus.journal.delivery.Ahead).

On PostgreSQL a finish in autocommit claims it in its own statement, as :func:`claim` would: a
message not due, held by another transaction, or the finished message itself is left alone (its
runner claims it on its own). On SQLite nothing is claimed ahead.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import writing
from bus.journal import pauses
from bus.journal.delivery import Ahead, Claim, Finish, finish
from bus.journal.ids import utcnow
from bus.journal.tables import Status, attempts, messages
from bus.journal.wakes import Wake
from bus.queues.deliver import Deliverer
from bus.settings import Settings
from tests.journal.test_delivery import (
    LEASE,
    RECORD,
    accepted_ids,
    assert_open_counts_match,
    claim_one,
    status_of,
)
from tests.journal.test_exchange_kept import PostingAdapter

DELIVERED = Finish(Status.DELIVERED, result={"reference": "1"})
LATER = Finish(Status.RETRY_WAIT, error="503", next_attempt_at=utcnow() + dt.timedelta(minutes=5))


def on_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


async def running(engine: AsyncEngine, message_id: str) -> Claim:
    claimed = await claim_one(engine, message_id)
    assert claimed is not None
    return claimed


async def attempts_of(engine: AsyncEngine, message_id: str) -> int:
    async with writing(engine) as conn:
        found = await conn.execute(
            select(attempts.c.number).where(attempts.c.message_id == message_id)
        )
        return len(found.all())


@pytest.mark.parametrize(
    ("outcome", "behind"),
    [
        (DELIVERED, False),  # the last open message of its key: one statement
        (LATER, False),  # releases no key: one statement
        (DELIVERED, True),  # another waits behind it: a transaction promotes it
    ],
    ids=["last-of-key", "keeps-key", "promotes-next"],
)
async def test_a_finish_claims_the_message_its_runner_takes_next(
    journal: AsyncEngine, outcome: Finish, behind: bool
) -> None:
    keys = ("a-1", "a-2") if behind else ("a-1",)
    first, *waiting = await accepted_ids(journal, *keys, order="A-1")
    [following] = await accepted_ids(journal, "b-1", order="B-1")
    claimed = await running(journal, first)
    ahead = Ahead(following, LEASE)
    woken = await finish(journal, claimed, RECORD, outcome, ahead)
    assert await status_of(journal, first) == outcome.status
    assert await attempts_of(journal, first) == 1
    assert [wake.message_id for wake in woken] == waiting
    await assert_open_counts_match(journal)
    if not on_postgres(journal):
        assert ahead.claim is None
        assert await status_of(journal, following) == Status.ACCEPTED
        return
    assert ahead.claim is not None
    assert (ahead.claim.message_id, ahead.claim.attempt, ahead.claim.paused) == (
        following,
        1,
        False,
    )
    assert ahead.claim.payload["order_id"] == "B-1"
    assert ahead.claim.ordering_key == "order:B-1"
    assert await status_of(journal, following) == Status.IN_FLIGHT
    assert await claim_one(journal, following) is None  # claimed once: it is the runner's
    await finish(journal, ahead.claim, RECORD, DELIVERED)  # and its finish applies
    assert await status_of(journal, following) == Status.DELIVERED


async def test_a_message_not_due_is_not_claimed_ahead(journal: AsyncEngine) -> None:
    [first] = await accepted_ids(journal, "a-1", order="A-1")
    [retrying] = await accepted_ids(journal, "b-1", order="B-1")
    await finish(journal, await running(journal, retrying), RECORD, LATER)
    ahead = Ahead(retrying, LEASE)
    await finish(journal, await running(journal, first), RECORD, DELIVERED, ahead)
    assert ahead.claim is None
    assert await status_of(journal, first) == Status.DELIVERED
    assert await status_of(journal, retrying) == Status.RETRY_WAIT


async def test_the_finished_message_itself_is_not_claimed_ahead(journal: AsyncEngine) -> None:
    """A duplicate wake-up of the message just finished: one statement never updates a row
    twice, and a finished message is not run again."""
    [first] = await accepted_ids(journal, "a-1", order="A-1")
    async with writing(journal) as conn:  # a lease that ran out while the attempt went on
        await conn.execute(update(messages).values(lease_until=utcnow() - dt.timedelta(seconds=1)))
    claimed = await running(journal, first)
    async with writing(journal) as conn:
        await conn.execute(update(messages).values(lease_until=utcnow() - dt.timedelta(seconds=1)))
    ahead = Ahead(first, LEASE)
    await finish(journal, claimed, RECORD, DELIVERED, ahead)
    assert ahead.claim is None
    assert await status_of(journal, first) == Status.DELIVERED


async def test_a_message_another_transaction_holds_is_left_to_its_runner(
    journal: AsyncEngine,
) -> None:
    """The claim ahead does not wait for a lock while it holds the finished message's: the
    finish completes at once, and the runner claims the message once it is free."""
    if not on_postgres(journal):
        pytest.skip("SQLite claims nothing ahead")
    [first] = await accepted_ids(journal, "a-1", order="A-1")
    [held] = await accepted_ids(journal, "b-1", order="B-1")
    claimed = await running(journal, first)
    ahead = Ahead(held, LEASE)
    async with writing(journal) as conn:  # an operator's transaction, say, holding it
        await conn.execute(select(messages.c.id).where(messages.c.id == held).with_for_update())
        async with asyncio.timeout(5):
            await finish(journal, claimed, RECORD, DELIVERED, ahead)
    assert ahead.claim is None
    assert await status_of(journal, first) == Status.DELIVERED
    assert await claim_one(journal, held) is not None


async def test_a_claim_ahead_sees_its_target_paused(journal: AsyncEngine) -> None:
    if not on_postgres(journal):
        pytest.skip("SQLite claims nothing ahead")
    [first] = await accepted_ids(journal, "a-1", order="A-1")
    [following] = await accepted_ids(journal, "b-1", order="B-1")
    claimed = await running(journal, first)
    async with writing(journal) as conn:
        await pauses.pause(conn, "navision", actor="ops", reason="ERP upgrade")
    ahead = Ahead(following, LEASE)
    await finish(journal, claimed, RECORD, DELIVERED, ahead)
    assert ahead.claim is not None and ahead.claim.paused


async def test_a_deliverer_runs_the_message_its_finish_claimed_without_claiming_again(
    journal: AsyncEngine,
) -> None:
    """The glue: the message handed over by ``take_next`` is claimed by the finish (on
    PostgreSQL) and run by the next call with that claim, once."""
    [first] = await accepted_ids(journal, "a-1", order="A-1")
    [following] = await accepted_ids(journal, "b-1", order="B-1")
    adapter = PostingAdapter()

    async def send(_wakes: list[Wake], _delay: int | None) -> None:
        return None

    deliverer = Deliverer(Settings(), journal, {"navision": adapter}, send)
    try:
        assert await deliverer.deliver(first, lambda: following) is Status.DELIVERED
        claimed_ahead = Status.IN_FLIGHT if on_postgres(journal) else Status.ACCEPTED
        assert await status_of(journal, following) == claimed_ahead
        assert await deliverer.deliver(following) is Status.DELIVERED
        assert await deliverer.deliver(following) is None  # a duplicate wake-up: nothing
    finally:
        await adapter.aclose()
    assert [await attempts_of(journal, m) for m in (first, following)] == [1, 1]
