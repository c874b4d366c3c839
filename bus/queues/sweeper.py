"""The sweeper: re-enqueues whatever is due and not in the queue, so nothing accepted is lost.

It also wakes one held message of each open circuit breaker whose probe is due (the worker that
claims it probes the target), releases messages held for a breaker that is closed, ends the
operators' pauses whose ``--until`` passed and releases what they held, and promotes
the next message of a key left without a head: every line of ``bus.journal.tables.OWNERS`` that
names the sweeper.

Every ``retention.interval`` seconds (when set) it also prunes the journal: finished routes past
``retention.older_than`` are archived and deleted (:mod:`bus.journal.retention`).

It runs in a thread of its own, with its own event loop and engine, beside the workers (or inside
``bus serve`` with the embedded queue). On PostgreSQL several sweepers may run; one works per round.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from pathlib import Path

import dramatiq
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import create_engine, writing
from bus.journal.circuits import probe_candidates, release_closed
from bus.journal.pauses import end_expired
from bus.journal.retention import Retention
from bus.journal.sweep import promote_stranded, take_due
from bus.queues.broker import enqueue
from bus.settings import Settings

log = logging.getLogger(__name__)

#: Most messages re-enqueued per round; a bigger backlog takes several rounds.
SWEEP_LIMIT = 1000


class Sweeper(threading.Thread):
    """A daemon thread that sweeps every ``settings.queue.sweep_interval`` seconds until stopped."""

    def __init__(self, settings: Settings, broker: dramatiq.Broker) -> None:
        super().__init__(name="bus-sweeper", daemon=True)
        self._settings = settings
        self._broker = broker
        self._stopping = threading.Event()

    def run(self) -> None:
        asyncio.run(self._run())

    def stop(self) -> None:
        """Ask the thread to stop and wait for it."""
        self._stopping.set()
        self.join(timeout=30)

    async def _run(self) -> None:
        engine = create_engine(self._settings.database_url, pool_size=1)
        pruned_at = time.monotonic()
        try:
            while not self._stopping.is_set():
                try:
                    await sweep_once(self._settings, engine, self._broker)
                except Exception:
                    log.exception("sweep failed; trying again next round")
                interval = self._settings.retention.interval
                if interval and time.monotonic() - pruned_at >= interval:
                    pruned_at = time.monotonic()
                    await prune_once(self._settings, engine)
                await asyncio.to_thread(self._stopping.wait, self._settings.queue.sweep_interval)
        finally:
            await engine.dispose()


async def prune_once(settings: Settings, engine: AsyncEngine) -> None:
    """Archive and delete the finished routes past ``settings.retention.older_than``; a failure
    is logged and tried again at the next interval."""
    retention = settings.retention
    try:
        report = await Retention(
            older_than=dt.timedelta(seconds=retention.older_than),
            batch_size=retention.batch_size,
            archive_dir=Path(retention.archive_dir),
        ).prune(engine)
    except Exception:
        log.exception("retention failed; trying again at the next interval")
        return
    if report.routes or report.interrupted:
        log.info("retention: %s", report.describe(dry_run=False))


async def sweep_once(settings: Settings, engine: AsyncEngine, broker: dramatiq.Broker) -> int:
    """One round: stamp due messages as queued, then enqueue them. Returns how many."""
    queue = settings.queue
    async with writing(engine) as conn:
        due = await take_due(
            conn,
            requeue_after=dt.timedelta(seconds=queue.requeue_after),
            grace=dt.timedelta(seconds=max(1.0, queue.sweep_interval)),
            limit=SWEEP_LIMIT,
        )
        probes = await probe_candidates(conn)
        released = await release_closed(conn)
        resumed = await end_expired(conn)
        promoted = await promote_stranded(conn, limit=SWEEP_LIMIT)
    if probes:
        log.info("sweeper wakes %d held message(s) to probe open breakers", len(probes))
    if released:
        log.warning("sweeper releases %d message(s) held for closed breakers", len(released))
    if resumed:
        log.warning("sweeper releases %d message(s) held by pauses that ended", len(resumed))
    if promoted:
        log.warning("sweeper promotes %d message(s) of keys left without a head", len(promoted))
    due += probes + released + resumed + promoted
    if due:  # each to its target's queue
        log.info("sweeper re-enqueues %d message(s)", len(due))
        await asyncio.to_thread(enqueue, broker, due)
    return len(due)
