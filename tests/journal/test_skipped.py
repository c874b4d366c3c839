"""A step done without an effect is ``skipped``, saying why: not ``delivered``. It finishes its
route's step as a delivery does (the key moves on, the step after it runs or is skipped too) and
counts as finished for retention, the storefront's notice and the listings."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import reading, writing
from bus.journal import operator
from bus.journal.accept import Accepted, accept_batch
from bus.journal.delivery import Claim
from bus.journal.ids import utcnow
from bus.journal.notices import delivered_notice
from bus.journal.queries import get_message
from bus.journal.retention import read_archive
from bus.journal.tables import Status, messages, ordering_keys
from tests.journal.test_owners import deliverer, remember
from tests.journal.test_retention import retention

DAY = dt.timedelta(days=1)


async def chain(journal: AsyncEngine, *steps: str) -> list[str]:
    """A route of ``customer.remember`` steps for the directory; its messages' ids in order."""
    command = dataclasses.replace(
        remember("k-1"), then=tuple(("directory", step) for step in steps)
    )
    async with writing(journal) as conn:
        [accepted] = await accept_batch(conn, [command])
        assert isinstance(accepted, Accepted)
        message = await get_message(conn, accepted.message_id)
    assert message is not None
    return [accepted.message_id, *(child["id"] for child in message["children"])]


async def test_the_step_after_a_cancelled_one_is_skipped_saying_why_and_the_key_moves_on(
    journal: AsyncEngine, tmp_path: Path
) -> None:
    first, second, third = await chain(journal, "customer.remember", "customer.remember")
    async with writing(journal) as conn:
        promoted = await operator.cancel(conn, first, actor="ops", reason="sent twice")
    assert promoted is not None and promoted.message_id == second
    worker = deliverer(journal)
    assert await worker.deliver(second) is Status.SKIPPED
    assert await worker.deliver(third) is Status.SKIPPED  # and the steps after it
    async with reading(journal) as conn:
        skipped = await get_message(conn, second)
        open_count = await conn.scalar(select(ordering_keys.c.open_count))
    assert skipped is not None and skipped["status"] == "skipped"
    assert skipped["result"]["skipped"] == "the step before was cancelled"
    assert [a["outcome"] for a in skipped["attempts_log"]] == ["skipped"]
    assert skipped["finished_at"] is not None and open_count == 0

    # a route of cancelled and skipped steps is finished: retention archives it whole
    report = await retention(tmp_path).prune(journal, now=utcnow() + 2 * DAY)
    assert report.routes == 1 and report.messages == 3
    archived = read_archive(Path(report.archives[0]))
    statuses = {entry["message"]["id"]: entry["message"]["status"] for entry in archived}
    assert statuses == {first: "cancelled", second: "skipped", third: "skipped"}


async def test_a_route_with_a_step_still_waiting_behind_a_skipped_one_is_kept(
    journal: AsyncEngine, tmp_path: Path
) -> None:
    first, second, third = await chain(journal, "customer.remember", "customer.remember")
    async with writing(journal) as conn:
        await operator.cancel(conn, first, actor="ops", reason="sent twice")
    assert await deliverer(journal).deliver(second) is Status.SKIPPED
    report = await retention(tmp_path).prune(journal, now=utcnow() + 2 * DAY)
    assert report.routes == 0  # the third step has not run
    async with reading(journal) as conn:
        waiting = await get_message(conn, third)
    assert waiting is not None and waiting["status"] == "accepted"


def test_the_storefront_is_told_a_skipped_step_as_skipped_with_the_reason() -> None:
    claimed = Claim(
        message_id="01STEP0000000000000000000X",
        method="order.submit",
        target="bitrix24",
        operation="order.create",
        payload={"order_id": "A-1"},
        attempt=1,
        attempt_in_cycle=1,
        cycle_started_at=utcnow(),
        ordering_key="order:A-1",
        parent_id="01ORDER000000000000000000X",
        source="storefront",
    )
    told = delivered_notice(claimed, "SO-1", "the step before was cancelled")
    assert told.payload["status"] == "skipped"
    assert told.payload["reason"] == "the step before was cancelled"
    delivered = delivered_notice(claimed, "SO-1", None)
    assert (delivered.payload["status"], delivered.payload["reason"]) == ("delivered", "")


async def test_a_skipped_step_hands_what_the_steps_before_it_found_to_the_next(
    journal: AsyncEngine,
) -> None:
    """A step skipped on its own (``skip_one``) is finished, and the step after it runs."""
    first, second, third = await chain(journal, "customer.remember", "customer.remember")
    worker = deliverer(journal)
    assert await worker.deliver(first) is Status.DELIVERED
    async with writing(journal) as conn:  # as a step that skips only the next one leaves it
        await conn.execute(
            update(messages)
            .where(messages.c.id == first)
            .values(result={"reference": "C-1", "skip_one": "nothing for this step", "found": 1})
        )
    assert await worker.deliver(second) is Status.SKIPPED
    assert await worker.deliver(third) is Status.DELIVERED
    async with reading(journal) as conn:
        skipped = await get_message(conn, second)
    assert skipped is not None
    assert skipped["result"] == {"skipped": "nothing for this step", "context": {"found": 1}}
