"""Revision 0007 (an entity's earlier states) on a journal in use, on both backends: the state it
held stays the bus's own, the next one keeps it among the earlier, and the revision goes back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from bus.adapters import EntityState
from bus.db import create_engine, reading, writing
from bus.journal.entity_states import known, remember
from bus.journal.ids import utcnow
from bus.migrate import alembic_config, upgrade
from tests.journal.migrations import columns_of, journal_at

BEFORE = EntityState.of("order:A-1", {"status": "new"})
AFTER = EntityState.of("order:A-1", {"status": "shipped"})


@pytest.fixture(params=["sqlite", "postgres"])
def old_journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A journal at revision 0006 that remembers one state of order A-1."""
    with journal_at(request.param, "0006", tmp_path) as url:
        asyncio.run(_fill(url))
        yield url


async def _fill(url: str) -> None:
    engine = create_engine(url, null_pool=True)
    try:
        async with writing(engine) as conn:  # the revision's column is not there yet
            await conn.execute(
                text(
                    "INSERT INTO entity_states (entity, fingerprint, updated_at)"
                    " VALUES (:entity, :fingerprint, :now)"
                ),
                {"entity": BEFORE.entity, "fingerprint": BEFORE.fingerprint, "now": utcnow()},
            )
    finally:
        await engine.dispose()


async def _use(url: str) -> tuple[frozenset[str], frozenset[str]]:
    engine = create_engine(url, null_pool=True)
    try:
        async with reading(engine) as conn:
            kept = await known(conn, BEFORE.entity)
        async with writing(engine) as conn:
            await remember(conn, AFTER)
        async with reading(engine) as conn:
            return kept, await known(conn, BEFORE.entity)
    finally:
        await engine.dispose()


def test_the_revision_keeps_the_remembered_state_and_adds_the_earlier_ones(
    old_journal: str,
) -> None:
    upgrade(old_journal)
    kept, both = asyncio.run(_use(old_journal))
    assert kept == {BEFORE.fingerprint}
    assert both == {BEFORE.fingerprint, AFTER.fingerprint}

    command.downgrade(alembic_config(old_journal), "0006")
    assert "earlier" not in columns_of(old_journal, "entity_states")
    upgrade(old_journal)  # and up again
    assert "earlier" in columns_of(old_journal, "entity_states")
