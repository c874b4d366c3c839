"""Accepting commands: idempotency, gap-free ordering sequences, heads and blocked messages."""

from __future__ import annotations

import asyncio
import dataclasses

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import reading, writing
from bus.errors import IdempotencyConflict
from bus.journal.accept import Accepted, Command, accept_batch
from bus.journal.group_commit import GroupCommitter
from bus.journal.tables import Status, messages
from bus.journal.wakes import Wake, ids


def command(key: str | None = None, order: str = "A-1", qty: int = 1, **extra: str) -> Command:
    return Command(
        method="order.submit",
        source="storefront",
        target="navision",
        operation="sales_order.create",
        payload={
            "order_id": order,
            "customer": "10000",
            "lines": [{"item": "1000", "quantity": qty}],
        },
        idempotency_key=key,
        ordering_key=extra.get("ordering_key", f"order:{order}"),
    )


async def accept(engine: AsyncEngine, *commands: Command) -> list[Accepted | IdempotencyConflict]:
    async with writing(engine) as conn:
        return await accept_batch(conn, list(commands))


async def test_same_key_same_payload_returns_the_same_message(journal: AsyncEngine) -> None:
    [first] = await accept(journal, command("k-1"))
    [again] = await accept(journal, command("k-1"))
    assert isinstance(first, Accepted) and isinstance(again, Accepted)
    assert first.created and not again.created
    assert again.message_id == first.message_id and again.status == first.status


async def test_same_key_other_payload_is_a_conflict(journal: AsyncEngine) -> None:
    [first] = await accept(journal, command("k-1", qty=1))
    [other] = await accept(journal, command("k-1", qty=2))
    assert isinstance(first, Accepted)
    assert isinstance(other, IdempotencyConflict)
    assert other.data == {"message_id": first.message_id}


async def test_repeats_inside_one_batch_are_recognised(journal: AsyncEngine) -> None:
    outcomes = await accept(journal, command("k-1"), command("k-1"), command("k-1", qty=9))
    first, repeat, conflict = outcomes
    assert isinstance(first, Accepted) and isinstance(repeat, Accepted)
    assert repeat.message_id == first.message_id and not repeat.created
    assert isinstance(conflict, IdempotencyConflict)
    async with reading(journal) as conn:
        assert len((await conn.execute(select(messages.c.id))).all()) == 1


async def test_group_commit_answers_repeated_keys_from_the_journal(journal: AsyncEngine) -> None:
    committed: list[Wake] = []
    committer = GroupCommitter(journal, committed.extend, max_batch=10, writers=1)
    committer.start()
    first = await committer.accept(command("k-1"))
    again, conflict, fresh = await asyncio.gather(
        committer.accept(command("k-1")),
        committer.accept(command("k-1", qty=5)),
        committer.accept(command("k-2", order="A-2")),
    )
    await committer.stop()
    assert isinstance(first, Accepted) and isinstance(again, Accepted)
    assert again.message_id == first.message_id and not again.created
    assert isinstance(conflict, IdempotencyConflict)
    assert isinstance(fresh, Accepted) and fresh.created
    # each runnable message with its target, whose queue wakes it
    assert sorted(committed) == sorted(
        [
            Wake(first.message_id, "navision", "sales_order.create"),
            Wake(fresh.message_id, "navision", "sales_order.create"),
        ]
    )


async def test_without_a_key_every_call_is_new(journal: AsyncEngine) -> None:
    a, b = await accept(journal, command(None, order="A-1"), command(None, order="A-2"))
    assert isinstance(a, Accepted) and isinstance(b, Accepted)
    assert a.message_id != b.message_id and a.created and b.created


async def test_only_the_head_of_an_ordering_key_is_runnable(journal: AsyncEngine) -> None:
    outcomes = await accept(journal, command("k-1"), command("k-2"), command("k-3", order="B-1"))
    assert [o.status for o in outcomes if isinstance(o, Accepted)] == [
        Status.ACCEPTED,
        Status.BLOCKED,
        Status.ACCEPTED,
    ]
    [later] = await accept(journal, command("k-4"))
    assert isinstance(later, Accepted) and later.status is Status.BLOCKED


async def test_sequences_are_gap_free_under_concurrent_group_commits(journal: AsyncEngine) -> None:
    committed: list[Wake] = []
    committer = GroupCommitter(journal, committed.extend, max_batch=7, writers=4)
    committer.start()
    outcomes = await asyncio.gather(
        *(committer.accept(command(f"k-{n}", order=f"A-{n % 3}")) for n in range(90))
    )
    await committer.stop()
    assert all(isinstance(o, Accepted) and o.created for o in outcomes)
    async with reading(journal) as conn:
        rows = (
            await conn.execute(
                select(messages.c.ordering_key, messages.c.ordering_seq, messages.c.status)
            )
        ).all()
    for key in {"order:A-0", "order:A-1", "order:A-2"}:
        of_key = sorted((seq, status) for k, seq, status in rows if k == key)
        assert [seq for seq, _ in of_key] == list(range(1, 31))
        assert [status for _, status in of_key].count(Status.ACCEPTED.value) == 1
        assert of_key[0][1] == Status.ACCEPTED.value
    assert sorted(ids(committed)) == sorted(
        o.message_id for o in outcomes if isinstance(o, Accepted) and o.status is Status.ACCEPTED
    )


async def test_a_key_reused_for_another_method_fails_only_that_caller(journal: AsyncEngine) -> None:
    """The reused key's first row is a repeat, but its later step is new: that must not break the
    group commit for the calls that share the transaction."""
    one_step = dataclasses.replace(command("k-reused", order="R-1"), method="address.request")
    two_steps = dataclasses.replace(
        command("k-reused", order="R-1"),
        method="invoice.request",
        then=(("storefront", "document.deliver"),),
    )
    committed: list[str] = []
    committer = GroupCommitter(journal, committed.extend, max_batch=100, writers=1)
    committer.start()
    first = await committer.accept(one_step)
    outcomes = await asyncio.gather(
        committer.accept(two_steps),
        *(committer.accept(command(f"k-{n}", order=f"S-{n}")) for n in range(30)),
    )
    await committer.stop()
    assert isinstance(first, Accepted)
    reused, *others = outcomes
    assert isinstance(reused, IdempotencyConflict)
    assert reused.data == {"message_id": first.message_id}
    assert all(isinstance(o, Accepted) and o.created for o in others)
    async with reading(journal) as conn:
        count = len((await conn.execute(select(messages.c.id))).all())
    assert count == 31


async def test_one_failing_command_fails_only_its_own_caller(journal: AsyncEngine) -> None:
    """A command the journal cannot store (here a payload that is not JSON) is answered with its
    own error; the calls that shared its transaction are journaled."""
    broken = dataclasses.replace(command("k-broken"), payload={"order_id": {1, 2}})  # a set
    committer = GroupCommitter(journal, lambda _ids: None, max_batch=100, writers=1)
    committer.start()
    outcomes = await asyncio.gather(
        committer.accept(broken),
        *(committer.accept(command(f"k-{n}", order=f"S-{n}")) for n in range(10)),
        return_exceptions=True,
    )
    await committer.stop()
    assert isinstance(outcomes[0], TypeError)
    assert all(isinstance(o, Accepted) and o.created for o in outcomes[1:])


async def test_a_caller_key_that_looks_generated_is_recognised_as_a_repeat(
    journal: AsyncEngine,
) -> None:
    committer = GroupCommitter(journal, lambda _ids: None, max_batch=10, writers=1)
    committer.start()
    first = await committer.accept(command("auto:mine"))
    again = await committer.accept(command("auto:mine"))
    await committer.stop()
    assert isinstance(first, Accepted) and isinstance(again, Accepted)
    assert again.message_id == first.message_id and not again.created
