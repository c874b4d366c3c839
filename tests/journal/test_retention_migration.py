"""Revision 0004 upgrades a journal that already holds messages, on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.engine import Connection

from bus.db import create_engine, reading, writing
from bus.journal.ids import utcnow
from bus.journal.tables import messages
from bus.migrate import alembic_config, upgrade
from tests.journal.migrations import journal_at

NEW_INDEXES = {
    "ix_messages_method_id",
    "ix_messages_target_id",
    "ix_messages_updated_at",
    "ix_messages_errors",
}


@pytest.fixture(params=["sqlite", "postgres"])
def old_journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A journal at revision 0003, the one before retention."""
    with journal_at(request.param, "0003", tmp_path) as url:
        yield url


async def _put_message(url: str) -> None:
    now = utcnow()
    engine = create_engine(url, null_pool=True)
    try:
        async with writing(engine) as conn:
            await conn.execute(
                insert(messages).values(
                    id="01OLDMESSAGE00000000000000",
                    method="order.submit",
                    source="storefront",
                    target="navision",
                    operation="sales_order.create",
                    payload={"order_id": "A-1"},
                    payload_hash="0" * 64,
                    idempotency_key="k-1",
                    status="delivered",
                    attempts=1,
                    attempts_total=1,
                    accepted_at=now,
                    cycle_started_at=now,
                    updated_at=now,
                )
            )
    finally:
        await engine.dispose()


async def _inspect(url: str) -> tuple[set[str], list[str], str | None]:
    def indexes(conn: Connection) -> set[str]:
        return {index["name"] or "" for index in inspect(conn).get_indexes("messages")}

    engine = create_engine(url, null_pool=True)
    try:
        async with reading(engine) as conn:
            names = await conn.run_sync(indexes)
            ids = list((await conn.execute(select(messages.c.id))).scalars())
            options = None
            if conn.dialect.name == "postgresql":
                options = await conn.scalar(
                    text(
                        "SELECT array_to_string(reloptions, ',') FROM pg_class"
                        " WHERE relname = 'messages'"
                    )
                )
    finally:
        await engine.dispose()
    return names, ids, options


def test_the_upgrade_keeps_the_messages_and_adds_the_indexes(old_journal: str) -> None:
    asyncio.run(_put_message(old_journal))
    before, _, _ = asyncio.run(_inspect(old_journal))
    assert not before & NEW_INDEXES

    upgrade(old_journal)

    after, ids, options = asyncio.run(_inspect(old_journal))
    assert NEW_INDEXES <= after
    assert ids == ["01OLDMESSAGE00000000000000"]
    if old_journal.startswith("postgresql"):
        assert options is not None and "autovacuum_vacuum_scale_factor=0.02" in options
    command.downgrade(alembic_config(old_journal), "0003")  # and back down
    assert not asyncio.run(_inspect(old_journal))[0] & NEW_INDEXES
