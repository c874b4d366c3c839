"""The bus's Prometheus metrics: counters where the events happen, gauges read from the journal.

Counters and the attempt histogram live in the process that counts them (an API process counts
accepts, a worker process its attempts; the embedded mode does both in one process): Prometheus
scrapes each process and ``sum`` adds them up. The gauges (queue depth, held, blocked, breakers)
are the journal's, read at scrape time by an API process with one grouped query on the indexed
status columns: every API process reports the same values, so they are read with ``max``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import reading
from bus.journal.accept import Accepted, AcceptOutcome
from bus.journal.tables import CLAIMABLE, Status, circuits, messages

log = logging.getLogger(__name__)

#: The content type of the text exposition format.
CONTENT_TYPE = CONTENT_TYPE_LATEST

ACCEPTED = Counter(
    "bus_messages_accepted",
    "Messages journaled, once committed: each call's and each of its steps', and the notices and"
    " reports a finish journals (a repeated call is not counted again)",
    ["method", "target"],
)
DELIVERED = Counter("bus_messages_delivered", "Messages the target confirmed", ["method", "target"])
SKIPPED = Counter(
    "bus_messages_skipped",
    "Steps done without an effect (the step before was cancelled or had nothing to hand on, or"
    " the target had nothing to do), each saying why",
    ["method", "target"],
)
FAILED = Counter(
    "bus_messages_failed",
    "Messages that failed permanently (a permanent error, or no attempt left): they wait for"
    " an operator",
    ["method", "target"],
)
ATTEMPT_SECONDS = Histogram(
    "bus_delivery_attempt_duration_seconds",
    "Delivery attempts by target and outcome (delivered, permanent, transient, throttled,"
    " unknown_outcome, error, skipped), in seconds",
    ["target", "outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)

#: The journal's gauges: name, help, the statuses each one counts.
_STATUS_GAUGES: tuple[tuple[str, str, tuple[Status, ...]], ...] = (
    ("bus_queue_depth", "Messages waiting for a delivery attempt", CLAIMABLE),
    ("bus_messages_in_flight", "Messages a worker is attempting now", (Status.IN_FLIGHT,)),
    (
        "bus_messages_held",
        "Messages held by their target's breaker or an operator's pause of it",
        (Status.HELD,),
    ),
    ("bus_messages_blocked", "Messages waiting for an earlier one of their key", (Status.BLOCKED,)),
    ("bus_messages_awaiting_operator", "Failed messages (replay or cancel)", (Status.FAILED,)),
)
_COUNTED = tuple({status.value for *_, statuses in _STATUS_GAUGES for status in statuses})
_BREAKER_STATES = ("closed", "open")
#: Seconds the journal may take to answer a scrape.
JOURNAL_TIMEOUT = 2.0


@dataclass
class JournalSnapshot:
    """The journal's gauges at one scrape: counts by target and status, breaker states."""

    targets: set[str]
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    breakers: dict[str, str] = field(default_factory=dict)
    up: bool = True


async def read_journal(engine: AsyncEngine, targets: Iterable[str]) -> JournalSnapshot:
    """The gauges' values now; ``up`` false (and no counts) when the journal does not answer
    within :data:`JOURNAL_TIMEOUT`, so a scrape still gets the process's counters."""
    snapshot = JournalSnapshot(set(targets))
    counted = (
        select(messages.c.target, messages.c.status, func.count())
        .where(messages.c.status.in_(_COUNTED))
        .group_by(messages.c.target, messages.c.status)
    )
    try:
        async with asyncio.timeout(JOURNAL_TIMEOUT), reading(engine) as conn:
            for target, status, count in await conn.execute(counted):
                snapshot.counts[(target, status)] = count
            for target, state in await conn.execute(select(circuits.c.target, circuits.c.state)):
                snapshot.breakers[target] = state
    except Exception as error:  # a scrape must not fail with the journal
        log.warning("metrics: the journal did not answer: %s", type(error).__name__)
        return JournalSnapshot(snapshot.targets, up=False)
    snapshot.targets |= {target for target, _ in snapshot.counts} | set(snapshot.breakers)
    return snapshot


class _JournalCollector(Collector):
    """Yields the gauges of one :class:`JournalSnapshot`."""

    def __init__(self, snapshot: JournalSnapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snapshot = self._snapshot
        yield GaugeMetricFamily(
            "bus_journal_up", "1 when the journal answered this scrape", value=int(snapshot.up)
        )
        if not snapshot.up:
            return
        for name, documentation, statuses in _STATUS_GAUGES:
            gauge = GaugeMetricFamily(name, documentation, labels=["target"])
            for target in sorted(snapshot.targets):
                count = sum(snapshot.counts.get((target, s.value), 0) for s in statuses)
                gauge.add_metric([target], count)
            yield gauge
        breakers = GaugeMetricFamily(
            "bus_breaker_state",
            "1 for the state each target's breaker is in (open: messages are held)",
            labels=["target", "state"],
        )
        for target in sorted(snapshot.targets):
            current = snapshot.breakers.get(target, "closed")
            for state in _BREAKER_STATES:
                breakers.add_metric([target, state], int(current == state))
        yield breakers


def count_accepted(outcomes: Iterable[AcceptOutcome]) -> None:
    """Count the messages committed accepts journaled (:data:`ACCEPTED`): call it after the
    commit, so that a batch rolled back and written again is counted once."""
    for outcome in outcomes:
        if isinstance(outcome, Accepted):
            for method, target in outcome.journaled:
                ACCEPTED.labels(method, target).inc()


def exposition(snapshot: JournalSnapshot | None = None) -> bytes:
    """The text exposition: this process's counters, then the journal's gauges if given."""
    text = generate_latest(REGISTRY)
    if snapshot is not None:
        journal = CollectorRegistry(auto_describe=False)
        journal.register(_JournalCollector(snapshot))
        text += generate_latest(journal)
    return text


def serve_worker_metrics(host: str, port: int) -> None:
    """Serve this worker process's counters at ``http://host:port/metrics`` (a daemon thread)."""
    start_http_server(port, addr=host)
    log.info("metrics at http://%s:%d/metrics", host, port)
