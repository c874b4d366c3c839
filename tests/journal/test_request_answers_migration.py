"""Revision 0005 records what each request journaled before it still awaits, on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import insert, inspect, select
from sqlalchemy.engine import Connection

from bus.db import create_engine, reading, writing
from bus.journal.ids import utcnow
from bus.journal.tables import messages
from bus.migrate import alembic_config, upgrade
from tests.journal.migrations import journal_at

#: id -> (method, parent): the journal 0004 left.
JOURNAL = {
    "01UNDECIDED000000000000000": ("address.request", None),
    "01DECIDED00000000000000000": ("address.request", None),
    "01DECISION0000000000000000": ("request.decided", "01DECIDED00000000000000000"),
    "01EMPLOYEE0000000000000000": ("employee.request", None),
    "01ORDER0000000000000000000": ("order.submit", None),
    "01NOTE00000000000000000000": ("order.status_changed", "01ORDER0000000000000000000"),
}


@pytest.fixture(params=["sqlite", "postgres"])
def old_journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A journal at revision 0004, the one before requests record their answers."""
    with journal_at(request.param, "0004", tmp_path) as url:
        yield url


async def _fill(url: str) -> None:
    now = utcnow()
    rows = [
        {
            "id": message_id,
            "method": method,
            "source": "storefront",
            "target": "navision",
            "operation": "account.request",
            "payload": {"customer": "10000"},
            "payload_hash": "0" * 64,
            "idempotency_key": message_id,
            "status": "delivered",
            "attempts": 1,
            "attempts_total": 1,
            "parent_id": parent,
            "accepted_at": now,
            "cycle_started_at": now,
            "updated_at": now,
        }
        for message_id, (method, parent) in JOURNAL.items()
    ]
    engine = create_engine(url, null_pool=True)
    try:
        async with writing(engine) as conn:
            for row in rows:  # parents first: the dict keeps that order
                await conn.execute(insert(messages).values(**row))
    finally:
        await engine.dispose()


async def _read(url: str) -> tuple[dict[str, str | None], set[str]]:
    def indexes(conn: Connection) -> set[str]:
        return {index["name"] or "" for index in inspect(conn).get_indexes("messages")}

    engine = create_engine(url, null_pool=True)
    try:
        async with reading(engine) as conn:
            found = await conn.execute(select(messages.c.id, messages.c.awaiting))
            return {row.id: row.awaiting for row in found}, await conn.run_sync(indexes)
    finally:
        await engine.dispose()


async def _columns(url: str) -> set[str]:
    def names(conn: Connection) -> set[str]:
        return {column["name"] for column in inspect(conn).get_columns("messages")}

    engine = create_engine(url, null_pool=True)
    try:
        async with reading(engine) as conn:
            return await conn.run_sync(names)
    finally:
        await engine.dispose()


def test_the_upgrade_marks_the_requests_still_awaiting_their_decision(old_journal: str) -> None:
    asyncio.run(_fill(old_journal))

    upgrade(old_journal)

    awaiting, indexes = asyncio.run(_read(old_journal))
    assert awaiting == {
        "01UNDECIDED000000000000000": "request.decided",
        "01DECIDED00000000000000000": None,
        "01DECISION0000000000000000": None,
        "01EMPLOYEE0000000000000000": "request.decided",
        "01ORDER0000000000000000000": None,
        "01NOTE00000000000000000000": None,
    }
    assert "ix_messages_awaiting" in indexes
    command.downgrade(alembic_config(old_journal), "0004")  # and back down
    assert "awaiting" not in asyncio.run(_columns(old_journal))
