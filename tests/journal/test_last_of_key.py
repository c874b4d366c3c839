"""A finish that releases its ordering key, alone in it or with messages waiting behind it, and
racing an accept of the same key: the next message is never left blocked, the attempt is recorded
once, the key's count stays true (on PostgreSQL the last open message of a key is finished in one
statement, the others in a transaction that promotes the next)."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import reading, writing
from bus.journal.accept import Accepted, accept_batch
from bus.journal.delivery import Finish, finish
from bus.journal.tables import Status, attempts
from tests.journal.test_accept import command
from tests.journal.test_delivery import (
    RECORD,
    accepted_ids,
    assert_open_counts_match,
    claim_one,
    status_of,
)

DELIVERED = Finish(Status.DELIVERED, result={"reference": "1"})


async def _attempts_of(engine: AsyncEngine, message_id: str) -> int:
    async with reading(engine) as conn:
        query = select(func.count()).where(attempts.c.message_id == message_id)
        return int(await conn.scalar(query) or 0)


async def test_the_last_open_message_of_its_key_is_finished_and_recorded_once(
    journal: AsyncEngine,
) -> None:
    [alone] = await accepted_ids(journal, "k-1")
    claimed = await claim_one(journal, alone)
    assert claimed is not None
    assert await finish(journal, claimed, RECORD, DELIVERED) == []
    assert await status_of(journal, alone) == Status.DELIVERED
    assert await _attempts_of(journal, alone) == 1
    await assert_open_counts_match(journal)
    [later] = await accepted_ids(journal, "k-2")  # the key is free: the next one is its head
    assert await status_of(journal, later) == Status.ACCEPTED


async def test_a_finish_with_messages_behind_it_promotes_the_next_and_records_once(
    journal: AsyncEngine,
) -> None:
    head, second, third = await accepted_ids(journal, "k-1", "k-2", "k-3")
    claimed = await claim_one(journal, head)
    assert claimed is not None
    assert len(await finish(journal, claimed, RECORD, DELIVERED)) == 1
    assert await _attempts_of(journal, head) == 1
    assert [await status_of(journal, m) for m in (head, second, third)] == [
        Status.DELIVERED,
        Status.ACCEPTED,
        Status.BLOCKED,
    ]
    await assert_open_counts_match(journal)


async def test_an_accept_racing_the_finish_of_its_keys_head_is_never_left_blocked(
    journal: AsyncEngine,
) -> None:
    """Whichever commits first: the accept sees the key free (its message is the head), or the
    finish sees the accepted message behind it and promotes it."""
    for n in range(30):
        order = f"R-{n}"
        [head] = await accepted_ids(journal, f"r-{n}-1", order=order)
        claimed = await claim_one(journal, head)
        assert claimed is not None

        async def accept_next(order: str = order, key: str = f"r-{n}-2") -> str:
            async with writing(journal) as conn:
                [accepted] = await accept_batch(conn, [command(key, order=order)])
            assert isinstance(accepted, Accepted)
            return accepted.message_id

        _, later = await asyncio.gather(finish(journal, claimed, RECORD, DELIVERED), accept_next())
        assert await status_of(journal, later) == Status.ACCEPTED, f"round {n}"
        assert await _attempts_of(journal, head) == 1
    await assert_open_counts_match(journal)


async def test_a_finish_that_waits_for_an_accept_of_its_key_promotes_the_accepted_message(
    journal: AsyncEngine,
) -> None:
    """The accept holds the key while the finish starts: the finish must count the accepted
    message once it gets the key, not the count from before it waited."""
    [head] = await accepted_ids(journal, "w-1", order="W-1")
    claimed = await claim_one(journal, head)
    assert claimed is not None
    async with writing(journal) as conn:  # an accept of the key, under way
        [accepted] = await accept_batch(conn, [command("w-2", order="W-1")])
        assert isinstance(accepted, Accepted) and accepted.status is Status.BLOCKED
        finishing = asyncio.create_task(finish(journal, claimed, RECORD, DELIVERED))
        await asyncio.sleep(0.5)
        assert not finishing.done()  # it waits for the accept's commit
    assert len(await finishing) == 1  # the accepted message, to wake
    assert await status_of(journal, accepted.message_id) == Status.ACCEPTED
    assert await _attempts_of(journal, head) == 1
    await assert_open_counts_match(journal)
