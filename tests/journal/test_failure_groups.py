"""Failure groups: failed messages grouped by their error with its values taken out, by target and
method, under an id that stays the same."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import reading
from bus.journal.delivery import Finish
from bus.journal.groups import (
    failure_groups,
    group_id,
    group_members,
    normalize,
    waiting_for_operator,
)
from bus.journal.ids import utcnow
from bus.journal.queries import MessageFilter
from bus.journal.tables import Status, messages
from tests.journal.test_delivery import accepted_ids, claim_one, finish_one

CREDIT = "navision answered 400: Customer {} is over its credit limit for order {}. Id: '{}'"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (CREDIT.format(10000, "A-17", "x-1"), CREDIT.format(20000, "A-18", "y 2")),
        ("The Item does not exist. No.='9999'", "The Item does not exist. No.='1000'"),
        ("lease lost at 2026-12-03T10:00:00+00:00", "lease lost at 2026-12-04T11:30:00.5+00:00"),
        ("message 01JEZ3Q6W1K2M3N4P5Q6R7S8T9 failed", "message 01JEZ3Q6W1K2M3N4P5Q6R7S8TA failed"),
        ("Номер заказа А-17 не найден", "Номер заказа А-18  не найден"),
    ],
)
def test_the_values_of_one_failure_are_taken_out(one: str, other: str) -> None:
    assert normalize(one) == normalize(other)


def test_what_tells_failures_apart_stays() -> None:
    assert normalize("navision answered 400: x") != normalize("navision answered 503: x")
    assert normalize("HTTP 422: the customer is blocked") == "HTTP 422: the customer is blocked"
    assert normalize("the customer's order isn't there") == "the customer's order isn't there"
    assert normalize(CREDIT.format(10000, "A-17", "x")) == (
        "navision answered 400: Customer # is over its credit limit for order #. Id: '…'"
    )


async def _fail(journal: AsyncEngine, message_id: str, outcome: Finish) -> None:
    claimed = await claim_one(journal, message_id)
    assert claimed is not None
    await finish_one(journal, claimed, outcome)


async def test_failed_messages_are_grouped_by_error_target_and_method(journal: AsyncEngine) -> None:
    a17, a18, other, parked, retrying = [
        (await accepted_ids(journal, f"k-{n}", order=f"A-{n}"))[0] for n in (17, 18, 19, 20, 21)
    ]
    await _fail(journal, a17, Finish(Status.FAILED, error=CREDIT.format(10000, "A-17", "a")))
    await _fail(journal, a18, Finish(Status.FAILED, error=CREDIT.format(10000, "A-18", "b")))
    await _fail(journal, other, Finish(Status.FAILED, error="navision answered 503: down"))
    # an unknown outcome with no attempt left waits for an operator too; one with attempts does not
    await _fail(journal, parked, Finish(Status.UNKNOWN_OUTCOME, error="no answer after 2.0 s"))
    soon = utcnow() + dt.timedelta(minutes=1)
    await _fail(journal, retrying, Finish(Status.UNKNOWN_OUTCOME, error="x", next_attempt_at=soon))

    async with reading(journal) as conn:
        groups = await failure_groups(conn)
        credit = groups[0]
        assert (credit.count, credit.target, credit.method) == (2, "navision", "order.submit")
        assert credit.id == group_id("navision", "order.submit", credit.error)
        assert credit.example_id == max(a17, a18)  # the newest
        assert "A-18" in credit.example_error and "#" in credit.error
        assert credit.first_seen <= credit.last_seen
        assert sorted(g.count for g in groups) == [1, 1, 2]
        assert {m for g in groups for m in await group_members(conn, g.id)} == {
            a17,
            a18,
            other,
            parked,
        }
        assert await group_members(conn, credit.id) == sorted([a17, a18], reverse=True)
        assert await group_members(conn, "0000000000") == []
        # a filter narrows the groups and their members
        assert await failure_groups(conn, MessageFilter(target="bitrix24")) == []
        assert await group_members(conn, credit.id, MessageFilter(target="bitrix24")) == []
    async with reading(journal) as conn:  # the same ids on every call
        assert [g.id for g in await failure_groups(conn)] == [g.id for g in groups]


async def test_the_groups_read_only_the_failed_messages_on_an_index(journal: AsyncEngine) -> None:
    query = select(messages.c.id, messages.c.last_error).where(waiting_for_operator())
    async with reading(journal) as conn:
        sql = str(query.compile(conn.sync_engine, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join((await conn.execute(text(f"EXPLAIN {sql}"))).scalars())
        else:
            rows = await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))
            plan = "\n".join(str(row[-1]) for row in rows)
    assert "ix_messages_status_due" in plan, plan
