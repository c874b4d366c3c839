"""Retention: finished routes are archived and deleted in batches; nothing unfinished is touched."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import reading, writing
from bus.journal import operator
from bus.journal.accept import Accepted, accept_batch
from bus.journal.delivery import AttemptRecord, Finish, finish
from bus.journal.ids import utcnow
from bus.journal.queries import get_message
from bus.journal.retention import Retention, find_archived, read_archive
from bus.journal.tables import Status, attempts, messages, ordering_keys
from bus.queues.broker import build_broker
from bus.queues.sweeper import Sweeper
from bus.settings import RetentionSettings, Settings
from tests.journal.test_accept import command
from tests.journal.test_delivery import claim_one

DAY = dt.timedelta(days=1)
#: What a delivered attempt sent and got back, kept in the archive.
EXCHANGE = AttemptRecord(
    started_at=utcnow(),
    duration_ms=12.5,
    outcome="delivered",
    http_status=201,
    request=[{"method": "POST", "url": "http://nav/SalesOrder", "body": {"No": "A-1"}}],
    response=[{"status": 201, "body": {"No": "101001"}}],
)


async def route(journal: AsyncEngine, order: str, *, step: Status | None) -> list[str]:
    """A two-step route (NAV, then Bitrix24) for ``order``: the first step delivered, with an
    exchange; the second left in ``step`` (``None``: delivered too). Returns both ids."""
    chained = dataclasses.replace(
        command(f"k-{order}", order=order), then=(("bitrix24", "order.create"),)
    )
    async with writing(journal) as conn:
        [first] = await accept_batch(conn, [chained])
    assert isinstance(first, Accepted)
    claimed = await claim_one(journal, first.message_id)
    assert claimed is not None
    [(second, _, _)] = await finish(
        journal, claimed, EXCHANGE, Finish(Status.DELIVERED, result={"reference": "101001"})
    )
    if step is None or step is Status.FAILED:
        claimed = await claim_one(journal, second)
        assert claimed is not None
        outcome = (
            Finish(Status.DELIVERED, result={"reference": "D-7"})
            if step is None
            else Finish(Status.FAILED, error="422 deal stage unknown")
        )
        await finish(journal, claimed, dataclasses.replace(EXCHANGE, outcome="x"), outcome)
    elif step is not Status.BLOCKED:
        async with writing(journal) as conn:
            await conn.execute(
                update(messages).where(messages.c.id == second).values(status=step.value)
            )
    return [first.message_id, second]


async def ids_left(journal: AsyncEngine) -> set[str]:
    async with reading(journal) as conn:
        return set((await conn.execute(select(messages.c.id))).scalars())


def retention(tmp_path: Path, *, batch_size: int = 100) -> Retention:
    return Retention(older_than=DAY, batch_size=batch_size, archive_dir=tmp_path / "archive")


async def test_an_archived_route_reads_back_whole_and_leaves_the_journal(
    journal: AsyncEngine, tmp_path: Path
) -> None:
    done = await route(journal, "A-1", step=None)
    # a second route: its first step delivered, the second cancelled by an operator
    withdrawn = await route(journal, "A-2", step=Status.RETRY_WAIT)
    async with writing(journal) as conn:
        await operator.cancel(conn, withdrawn[1], actor="ops", reason="duplicate deal")
    async with reading(journal) as conn:
        kept = {m: await get_message(conn, m) for m in done}

    report = await retention(tmp_path).prune(journal, now=utcnow() + 2 * DAY)

    assert report.routes == 2 and report.messages == 4 and report.attempts == 3
    assert report.actions == 1 and report.keys == 2  # order:A-1 and order:A-2 are idle now
    assert await ids_left(journal) == set()
    async with reading(journal) as conn:
        assert await conn.scalar(select(func.count()).select_from(attempts)) == 0
        assert await conn.scalar(select(func.count()).select_from(ordering_keys)) == 0
    [path] = report.archives
    archived = {entry["message"]["id"]: entry for entry in read_archive(Path(path))}
    assert set(archived) == {*done, *withdrawn}
    for message_id, message in kept.items():
        assert message is not None
        entry = archived[message_id]
        assert entry["route"] == done[0]
        assert entry["message"]["payload"] == message["payload"]
        assert entry["message"]["result"] == message["result"]
        assert entry["message"]["status"] == "delivered"
        assert [a["request"] for a in entry["attempts"]] == [
            a["request"] for a in message["attempts_log"]
        ]
    assert archived[done[0]]["attempts"][0]["response"] == EXCHANGE.response
    cancel = archived[withdrawn[1]]
    assert cancel["route"] == withdrawn[0] and cancel["message"]["status"] == "cancelled"
    assert cancel["actions"][0]["reason"] == "duplicate deal"
    found = find_archived(tmp_path / "archive", done[1])
    assert found is not None and found["message"]["result"] == {"reference": "D-7"}


@pytest.mark.parametrize(
    "step",
    [
        Status.FAILED,
        Status.HELD,
        Status.BLOCKED,
        Status.RETRY_WAIT,
        Status.ACCEPTED,
        Status.IN_FLIGHT,
        Status.UNKNOWN_OUTCOME,
    ],
)
async def test_nothing_of_a_route_with_an_unfinished_message_is_pruned(
    journal: AsyncEngine, tmp_path: Path, step: Status
) -> None:
    waiting = await route(journal, "W-1", step=step)
    done = await route(journal, "D-1", step=None)
    async with reading(journal) as conn:
        before = await get_message(conn, waiting[0])

    report = await retention(tmp_path).prune(journal, now=utcnow() + 30 * DAY)

    assert report.routes == 1 and report.messages == 2
    assert await ids_left(journal) == set(waiting)
    async with reading(journal) as conn:
        after = await get_message(conn, waiting[0])
        key = await conn.scalar(
            select(ordering_keys.c.key).where(ordering_keys.c.key == "order:W-1")
        )
    # the delivered first step keeps its result and exchange: the waiting step reads them
    assert after == before and key == "order:W-1"
    assert {e["message"]["id"] for e in read_archive(Path(report.archives[0]))} == set(done)


async def test_a_route_changed_within_the_age_stays(journal: AsyncEngine, tmp_path: Path) -> None:
    old = await route(journal, "O-1", step=None)
    recent = await route(journal, "R-1", step=None)
    async with writing(journal) as conn:
        await conn.execute(
            update(messages).where(messages.c.id.in_(old)).values(updated_at=utcnow() - 3 * DAY)
        )
        # the route's first message is old, its last step finished only now
        await conn.execute(
            update(messages).where(messages.c.id == recent[0]).values(updated_at=utcnow() - 3 * DAY)
        )

    report = await retention(tmp_path).prune(journal)

    assert report.routes == 1 and await ids_left(journal) == set(recent)


async def test_routes_go_in_batches_of_the_configured_size(
    journal: AsyncEngine, tmp_path: Path
) -> None:
    for number in range(7):
        await route(journal, f"B-{number}", step=None)
    await route(journal, "F-1", step=Status.FAILED)

    dry = Retention(older_than=DAY, batch_size=3, archive_dir=None)
    counted = await dry.prune(journal, now=utcnow() + 2 * DAY)
    assert (counted.routes, counted.messages, counted.archives) == (7, 14, [])
    assert len(await ids_left(journal)) == 16  # a dry run changes nothing

    report = await retention(tmp_path, batch_size=3).prune(journal, now=utcnow() + 2 * DAY)

    # 8 routes scanned three at a time; the failed route's stays
    assert report.batches == 3 and report.routes == 7 and report.messages == 14
    assert len(await ids_left(journal)) == 2
    assert len(list(read_archive(Path(report.archives[0])))) == 14


async def test_the_sweeper_prunes_at_its_interval(
    journal: AsyncEngine, journal_url: str, tmp_path: Path
) -> None:
    done = await route(journal, "S-1", step=None)
    waiting = await route(journal, "S-2", step=Status.FAILED)
    async with writing(journal) as conn:
        await conn.execute(update(messages).values(updated_at=utcnow() - 2 * DAY))
    settings = Settings(
        database_url=journal_url,
        retention=RetentionSettings(
            older_than=DAY.total_seconds(), interval=0.2, archive_dir=str(tmp_path / "auto")
        ),
    )
    sweeper = Sweeper(settings, build_broker(settings))
    sweeper.start()
    try:
        deadline = time.monotonic() + 20
        while set(done) & await ids_left(journal) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    finally:
        sweeper.stop()
    assert await ids_left(journal) == set(waiting)
    assert find_archived(tmp_path / "auto", done[0]) is not None


async def test_the_sweeper_does_not_prune_by_default(
    journal: AsyncEngine, journal_url: str
) -> None:
    assert Settings().retention.interval == 0
    await route(journal, "N-1", step=None)
    async with writing(journal) as conn:
        await conn.execute(update(messages).values(updated_at=utcnow() - 400 * DAY))
    sweeper = Sweeper(
        Settings(database_url=journal_url, queue={"sweep_interval": 0.05}),
        build_broker(Settings()),
    )
    sweeper.start()
    await asyncio.sleep(0.5)
    sweeper.stop()
    assert len(await ids_left(journal)) == 2


def bus(url: str, archive_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run one ``bus`` command as an operator would, on ``url``'s journal."""
    env = {
        **os.environ,
        "BUS_DATABASE_URL": url,
        "BUS_RETENTION__ARCHIVE_DIR": str(archive_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "bus", *args], env=env, capture_output=True, text=True, timeout=120
    )


async def test_the_cli_counts_prunes_and_reads_archived_messages_back(
    journal: AsyncEngine, journal_url: str, tmp_path: Path
) -> None:
    done = await route(journal, "C-1", step=None)
    waiting = await route(journal, "C-2", step=Status.FAILED)
    async with writing(journal) as conn:
        await conn.execute(update(messages).values(updated_at=utcnow() - 3 * DAY))
    archive_dir = tmp_path / "archive"

    dry = bus(journal_url, archive_dir, "journal", "prune", "--older-than", "2d", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would archive and delete 1 route(s): 2 message(s)" in dry.stdout
    assert len(await ids_left(journal)) == 4 and not archive_dir.exists()

    young = bus(journal_url, archive_dir, "journal", "prune", "--older-than", "4d")
    assert young.returncode == 0 and "deleted 0 route(s)" in young.stdout
    done_run = bus(journal_url, archive_dir, "journal", "prune", "--older-than", "2d", "--json")
    assert done_run.returncode == 0, done_run.stderr
    report = json.loads(done_run.stdout)
    assert (report["routes"], report["messages"], report["attempts"]) == (1, 2, 2)
    assert await ids_left(journal) == set(waiting)

    [path] = report["archives"]
    shown = bus(
        journal_url, archive_dir, "journal", "archive", path, "--message", done[1], "--json"
    )
    assert shown.returncode == 0, shown.stderr
    entry = json.loads(shown.stdout)
    assert entry["message"]["id"] == done[1] and entry["route"] == done[0]
    # `messages show` finds a message no longer in the journal in its archives
    fallback = bus(journal_url, archive_dir, "messages", "show", done[0], "--json")
    assert fallback.returncode == 0, fallback.stderr
    assert json.loads(fallback.stdout)["attempts"][0]["response"] == EXCHANGE.response
    missing = bus(journal_url, archive_dir, "messages", "show", "01NOSUCHMESSAGE00000000000")
    assert missing.returncode == 1 and "archives" in missing.stdout
    bad = bus(journal_url, archive_dir, "journal", "prune", "--older-than", "soon")
    assert bad.returncode == 2 and "not a duration" in bad.stderr
