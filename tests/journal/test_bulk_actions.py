"""Replay and cancel of many messages in one transaction: each one checked, changed, recorded and
told to the storefront as a single action would; ordering keys kept right."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import reading, writing
from bus.journal import bulk
from bus.journal.delivery import Finish
from bus.journal.notices import NOTICE_METHOD
from bus.journal.tables import Status, messages, operator_actions
from bus.journal.wakes import Wake
from tests.journal.test_delivery import (
    accepted_ids,
    assert_open_counts_match,
    claim_one,
    finish_one,
    status_of,
)


async def _failed(journal: AsyncEngine, *orders: str) -> list[str]:
    """One failed order.submit of each order (each its own ordering key)."""
    found = []
    for order in orders:
        [message_id] = await accepted_ids(journal, f"k-{order}", order=order)
        claimed = await claim_one(journal, message_id)
        assert claimed is not None
        await finish_one(journal, claimed, Finish(Status.FAILED, error=f"400 order {order}"))
        found.append(message_id)
    return found


async def _notices(journal: AsyncEngine) -> list[str]:
    async with reading(journal) as conn:
        rows = await conn.execute(
            select(messages.c.parent_id).where(messages.c.method == NOTICE_METHOD)
        )
        return sorted(rows.scalars())


async def test_a_batch_replays_what_it_may_and_says_why_not_for_the_rest(
    journal: AsyncEngine,
) -> None:
    failed = await _failed(journal, *(f"A-{n}" for n in range(30)))
    [delivered] = await accepted_ids(journal, "k-done", order="B-1")
    claimed = await claim_one(journal, delivered)
    assert claimed is not None
    await finish_one(journal, claimed, Finish(Status.DELIVERED, result={"reference": "1"}))

    async with writing(journal) as conn:
        outcome = await bulk.replay(
            conn, [*failed, delivered, "01NOSUCHMESSAGE00000000000"], actor="ann", reason="fixed"
        )
    assert outcome.done == tuple((m, Status.ACCEPTED) for m in failed)
    assert [(r.message_id, r.reason) for r in outcome.refused] == [
        (delivered, "status delivered"),
        ("01NOSUCHMESSAGE00000000000", "no such message"),
    ]
    woken = {wake.message_id for wake in outcome.wake}
    assert (
        set(failed) <= woken and Wake(failed[0], "navision", "sales_order.create") in outcome.wake
    )
    for message_id in failed:
        assert await status_of(journal, message_id) == Status.ACCEPTED
    again = await claim_one(journal, failed[0])
    assert again is not None and again.attempt_in_cycle == 1  # a fresh budget
    async with reading(journal) as conn:
        actions = (await conn.execute(select(operator_actions))).mappings().all()
    assert sorted(a["message_id"] for a in actions) == sorted(failed)  # one each, none refused
    assert {(a["action"], a["actor"], a["reason"], a["from_status"]) for a in actions} == {
        ("replay", "ann", "fixed", "failed")
    }
    # the storefront hears of each replay of its messages, once
    assert await _notices(journal) == sorted(failed)
    assert {w.message_id for w in outcome.wake} - set(failed)  # and the notices may run
    await assert_open_counts_match(journal)


async def test_without_notify_the_storefront_hears_nothing(journal: AsyncEngine) -> None:
    failed = await _failed(journal, "A-1", "A-2")
    async with writing(journal) as conn:
        outcome = await bulk.replay(conn, failed, actor="ann", reason="x", notify=False)
    assert [w.message_id for w in outcome.wake] == failed
    assert await _notices(journal) == []


async def test_a_batch_cancels_heads_and_the_messages_behind_them(journal: AsyncEngine) -> None:
    """Key A: its failed head and the message behind it are cancelled: the third runs. Key B:
    only the message behind the head is cancelled: the head stays the head. Key C: its failed
    head alone: the next one runs."""
    a1, a2, a3 = await accepted_ids(journal, "a-1", "a-2", "a-3", order="A")
    b1, b2 = await accepted_ids(journal, "b-1", "b-2", order="B")
    c1, c2 = await accepted_ids(journal, "c-1", "c-2", order="C")
    for head in (a1, c1):
        claimed = await claim_one(journal, head)
        assert claimed is not None
        await finish_one(journal, claimed, Finish(Status.FAILED, error="400"))

    async with writing(journal) as conn:
        outcome = await bulk.cancel(conn, [a2, a1, b2, c1], actor="ann", reason="duplicates")
    assert dict(outcome.done) == {m: Status.CANCELLED for m in (a1, a2, b2, c1)}
    assert outcome.refused == ()
    promoted = {w.message_id for w in outcome.wake} & {a3, b1, b2, c2}
    assert promoted == {a3, c2}
    statuses = {m: await status_of(journal, m) for m in (a3, b1, c2)}
    assert statuses == {a3: "accepted", b1: "accepted", c2: "accepted"}
    await assert_open_counts_match(journal)

    async with writing(journal) as conn:  # cancelled or delivered: refused, nothing recorded
        again = await bulk.cancel(conn, [a1], actor="ann", reason="twice")
    assert [r.reason for r in again.refused] == ["status cancelled"]
    async with reading(journal) as conn:
        count = await conn.scalar(select(func.count()).select_from(operator_actions))
    assert count == 4


async def test_cancelled_messages_of_a_key_replayed_together_rejoin_in_order(
    journal: AsyncEngine,
) -> None:
    first, second = await accepted_ids(journal, "k-1", "k-2", order="A")
    async with writing(journal) as conn:
        await bulk.cancel(conn, [first, second], actor="ann", reason="x")
    await assert_open_counts_match(journal)
    async with writing(journal) as conn:  # newest first, as a listing gives them
        outcome = await bulk.replay(conn, [second, first], actor="ann", reason="undo")
    assert dict(outcome.done) == {first: Status.ACCEPTED, second: Status.BLOCKED}
    assert [w.message_id for w in outcome.wake if w.message_id in (first, second)] == [first]
    await assert_open_counts_match(journal)
