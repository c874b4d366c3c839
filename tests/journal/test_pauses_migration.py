"""Revision 0006 (targets' pauses, edited messages) on a journal in use, on both backends: what
the journal held stays, the new table and columns work, and the revision goes back down."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Inspector, select, text

from bus.db import create_engine, reading, writing
from bus.journal import pauses
from bus.journal.ids import utcnow
from bus.journal.tables import messages, operator_actions
from bus.migrate import alembic_config, upgrade
from tests.journal.migrations import inspected, journal_at

MESSAGE = "01MESSAGE00000000000000000"


@pytest.fixture(params=["sqlite", "postgres"])
def old_journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A journal at revision 0005 holding a message and an operator's action on it."""
    with journal_at(request.param, "0005", tmp_path) as url:
        asyncio.run(_fill(url))
        yield url


async def _fill(url: str) -> None:
    now = utcnow()
    engine = create_engine(url, null_pool=True)
    try:
        async with writing(engine) as conn:  # the revision's columns are not there yet
            await conn.execute(
                text(
                    "INSERT INTO messages (id, method, source, target, operation, payload,"
                    " payload_hash, idempotency_key, status, attempts, attempts_total,"
                    " accepted_at, cycle_started_at, updated_at) VALUES (:id, 'order.submit',"
                    " 'storefront', 'navision', 'sales_order.create', '{}', :hash, 'order:A-1',"
                    " 'failed', 1, 1, :now, :now, :now)"
                ),
                {"id": MESSAGE, "hash": "0" * 64, "now": now},
            )
            await conn.execute(
                text(
                    "INSERT INTO operator_actions (message_id, action, actor, reason,"
                    " from_status, at) VALUES (:id, 'replay', 'ops', 'NAV fixed', 'failed', :now)"
                ),
                {"id": MESSAGE, "now": now},
            )
    finally:
        await engine.dispose()


async def _use(url: str) -> tuple[str | None, str | None, list[str]]:
    """Pause and resume a target; read the message's new column and the action's."""
    engine = create_engine(url, null_pool=True)
    try:
        async with writing(engine) as conn:
            await pauses.pause(conn, "navision", actor="ops", reason="NAV upgrade")
            await pauses.resume(conn, "navision", actor="ops", reason="done")
        async with reading(engine) as conn:
            edited_from = await conn.scalar(select(messages.c.edited_from))
            detail = await conn.scalar(select(operator_actions.c.detail))
            windows = [w.reason for w in await pauses.history(conn)]
    finally:
        await engine.dispose()
    return edited_from, detail, windows


def _tables(url: str) -> tuple[set[str], set[str], set[str]]:
    def read(found: Inspector) -> tuple[set[str], set[str], set[str]]:
        return (
            set(found.get_table_names()),
            {column["name"] for column in found.get_columns("messages")},
            {column["name"] for column in found.get_columns("operator_actions")},
        )

    return inspected(url, read)


def test_the_revision_adds_pauses_and_edits_to_a_journal_in_use_and_goes_back(
    old_journal: str,
) -> None:
    upgrade(old_journal)

    assert asyncio.run(_use(old_journal)) == (None, None, ["NAV upgrade"])
    tables, columns, action_columns = _tables(old_journal)
    assert "target_pauses" in tables and "edited_from" in columns and "detail" in action_columns

    command.downgrade(alembic_config(old_journal), "0005")
    tables, columns, action_columns = _tables(old_journal)
    assert "target_pauses" not in tables
    assert "edited_from" not in columns and "detail" not in action_columns
    upgrade(old_journal)  # and up again
    assert "target_pauses" in _tables(old_journal)[0]
