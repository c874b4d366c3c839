"""Operators' listings find what they filter for, on indexes that keep them fast at scale."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import reading, writing
from bus.journal.queries import MessageFilter, list_messages
from bus.journal.tables import messages
from tests.journal.test_delivery import accepted_ids


async def _listed(journal: AsyncEngine, where: MessageFilter) -> list[str]:
    async with reading(journal) as conn:
        return [m["id"] for m in await list_messages(conn, where, limit=50)]


async def test_the_error_filter_finds_errors_newest_first_whatever_their_case(
    journal: AsyncEngine,
) -> None:
    ids = await accepted_ids(journal, "k-1", "k-2", "k-3", order="E-1")
    async with writing(journal) as conn:
        await conn.execute(
            update(messages).where(messages.c.id == ids[0]).values(last_error="HTTP 422: Credit")
        )
        await conn.execute(
            update(messages).where(messages.c.id == ids[2]).values(last_error="credit limit")
        )
    newest_first = sorted([ids[0], ids[2]], reverse=True)
    assert await _listed(journal, MessageFilter(error_contains="CREDIT")) == newest_first
    assert await _listed(journal, MessageFilter(error_contains="no such error")) == []


@pytest.mark.parametrize(
    ("where", "index"),
    [
        (MessageFilter(method="order.merge"), "ix_messages_method_id"),
        (MessageFilter(target="mail"), "ix_messages_target_id"),
        (MessageFilter(error_contains="credit"), "ix_messages_errors"),
    ],
)
async def test_a_listing_can_run_on_its_index(
    journal: AsyncEngine, where: MessageFilter, index: str
) -> None:
    query = where.apply(select(messages)).order_by(messages.c.id.desc()).limit(50)
    async with reading(journal) as conn:
        sql = str(query.compile(conn.sync_engine, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "postgresql":
            # an empty table is cheapest to read whole: ask which index the planner would use
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
            # newest first without sorting: what an index on (column, id) gives
            await conn.execute(text("SET LOCAL enable_sort = off"))
            plan = "\n".join((await conn.execute(text(f"EXPLAIN {sql}"))).scalars())
        else:
            rows = await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))
            plan = "\n".join(str(row[-1]) for row in rows)
    assert index in plan, plan
