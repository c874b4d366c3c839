"""The chaos drill (DESIGN.md §7): the bus under load while everything around it fails.

Real processes on a PostgreSQL cluster and a Redis of the drill's own (never the machine's shared
servers): one ``bus serve``, two ``bus worker``, simulators of NAV, Bitrix24, the storefront and
mail. Callers (a storefront, an ERP, a CRM) send 1,000 ``order.submit`` calls over 300 order ids
(each order repeated with its key and without one, every third also in a second version that the
bus must refuse), the ERP's status changes and the CRM's account create/deactivate pairs, retrying
as they sent, while the timeline below crashes and breaks things. Then the bus is left to drain,
and the audit counts every effect in the simulators (through their own APIs) and every message in
the journal: see :mod:`tests.chaos.audit` for what must hold. The counts are printed whether it
passes or not.

Bounded: about a minute of load, at most 90 s of draining, some four minutes in all.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.chaos.audit import (
    Audit,
    JournalWatch,
    audit,
    open_messages,
    read_effects,
    read_journal,
    render,
)
from tests.chaos.deployment import Clock, Deployment, deployment
from tests.chaos.load import Caller, Load, planned_submits
from tests.chaos.timeline import EveryThirdFails, Supervisor, Timeline

#: Order stories start evenly over this many seconds.
LOAD_WINDOW = 55.0
#: The longest the load may take (stories slowed by outages included).
LOAD_LIMIT = 150.0
#: The longest the bus is given to finish every message once the faults stop.
DRAIN_LIMIT = 90.0
#: Give up draining when nothing in the journal changed for this long: with the drill's
#: timings every non-terminal message has an owner that moves it within ~15 s.
STALL_LIMIT = 30.0
#: A PostgreSQL restart stays down this long (the second one longer if need be: see below).
PG_DOWN = 3.0
#: The second restart keeps PostgreSQL down until the ``bus serve`` started meanwhile has
#: exited or run for a while (however slowly a busy machine starts Python), at most this long.
API_START_LIMIT = 30.0

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(420)]


def test_nothing_is_lost_duplicated_or_reordered_whatever_fails(
    log_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert planned_submits() >= 1000
    clock = Clock()
    with deployment(log_dir, clock) as drill:
        ready = clock()
        caller = Caller(drill.stack.api_url, clock)
        load = Load(caller, LOAD_WINDOW)
        every_third = EveryThirdFails(drill.bitrix24, "/rest/")
        timeline = _timeline(drill, clock, every_third)
        watch = JournalWatch(drill.postgres.url, clock)
        try:
            watch.start()
            load.start()
            timeline.start()
            load_done = load.wait(LOAD_LIMIT)
            load_took = clock() - ready
            timeline.wait(LOAD_LIMIT)
        finally:
            load.stop()
            timeline.stop()
            every_third.stop()
            _clear_faults(drill)
            caller.close()
        try:
            drained = _drain(drill.postgres.url, clock)
        finally:
            watch.stop()
        journal = read_journal(drill.postgres.url)
        effects = read_effects(drill)
        report = audit(caller.calls, journal, effects)
        _processes(drill.supervisor, report)
        if not load_done:
            report.finding("callers still calling when the load's time was up").add(
                f"after {LOAD_LIMIT:.0f}s"
            )
        for error in timeline.errors:
            report.finding("faults the drill could not inject").add(error)
        for error in load.errors:
            report.finding("callers that broke (a bug of the drill)").add(error)
        header = [
            f"== chaos drill: {clock():.0f}s (ready after {ready:.0f}s, load {load_took:.0f}s,"
            f" drain {drained}) ==",
            "faults (seconds since the drill began):",
            *(
                f"  {e.at:6.1f}s  {e.name}{': ' + e.detail if e.detail else ''}"
                for e in timeline.events
            ),
            f"  Bitrix24 answered 5xx to {every_third.failed} of"
            f" {every_third.failed + every_third.passed} REST requests while failing",
            *watch.summary(),
        ]
        text = render(report, header)
        (log_dir.parent / "chaos-report.txt").write_text(text)
        with capsys.disabled():
            print("\n" + text + f"\n(process logs: {log_dir})")
    if report.violations:
        pytest.fail(text, pytrace=False)


def _timeline(drill: Deployment, clock: Clock, every_third: EveryThirdFails) -> Timeline:
    """Every fault of the drill, at its moment (seconds after the load begins)."""
    supervisor, nav = drill.supervisor, drill.nav
    timeline = Timeline(clock)

    def pg_restart() -> str:
        began = time.monotonic()
        drill.postgres.stop("fast")  # every connection cut
        time.sleep(PG_DOWN)
        drill.postgres.start()
        return f"down {time.monotonic() - began:.1f}s"

    def pg_restart_killing_api() -> str:
        began = time.monotonic()
        drill.postgres.stop("fast")
        # Down until the bus serve started meanwhile has met the missing database, so the drill
        # sees what it does then (it should wait for it, not exit).
        supervisor.kill("api")
        seen = supervisor.wait_for_start("api", API_START_LIMIT)
        time.sleep(max(0.0, PG_DOWN - (time.monotonic() - began)))
        drill.postgres.start(wait=False)  # "the database system is starting up", for a moment
        return (
            f"down {time.monotonic() - began:.1f}s, started without waiting; bus serve"
            f" SIGKILLed and restarted meanwhile: {seen}"
        )

    timeline.at(3, "SIGKILL worker-1", lambda: _crash(supervisor, "worker-1"))
    timeline.at(7, "NAV down (connections dropped)", lambda: _fault(nav, {"mode": "down"}))
    timeline.at(11, "Redis FLUSHALL", drill.redis.flushall)
    timeline.at(15, "Bitrix24 answers 5xx to every third request", every_third.start)
    timeline.at(19, "NAV back (down 12 s: its breaker opened)", lambda: _clear(nav))
    timeline.at(22, "SIGKILL worker-2", lambda: _crash(supervisor, "worker-2"))
    timeline.at(26, "PostgreSQL restart #1 while callers submit", pg_restart)
    timeline.at(33, "Redis restart (its queue lost)", drill.redis.restart)
    timeline.at(38, "SIGKILL bus serve", lambda: _crash(supervisor, "api"))
    timeline.at(43, "SIGKILL worker-1", lambda: _crash(supervisor, "worker-1"))
    timeline.at(48, "PostgreSQL restart #2, bus serve SIGKILLed meanwhile", pg_restart_killing_api)
    timeline.at(53, "SIGKILL worker-2", lambda: _crash(supervisor, "worker-2"))
    timeline.at(58, "Bitrix24 answers normally again", every_third.stop)
    return timeline


def _crash(supervisor: Supervisor, role: str) -> None:
    supervisor.kill(role)


def _fault(url: str, fault: dict[str, object]) -> None:
    httpx.post(f"{url}/_control/faults", json=fault, timeout=10).raise_for_status()


def _clear(url: str) -> None:
    httpx.delete(f"{url}/_control/faults", timeout=10).raise_for_status()


def _clear_faults(drill: Deployment) -> None:
    for url in drill.stack.urls.values():
        _clear(url)


def _drain(url: str, clock: Clock) -> str:
    """Wait until no message is non-terminal, nothing changes for ``STALL_LIMIT`` or
    ``DRAIN_LIMIT`` passes; how it ended."""
    began = time.monotonic()
    last: object = None
    changed = began
    while True:
        counts: Counter[str] | None = None
        try:
            counts = open_messages(url)
        except Exception:  # noqa: BLE001 (PostgreSQL may still be starting: look again)
            pass
        now = time.monotonic()
        if counts is not None:
            open_count = sum(n for status, n in counts.items() if not status.startswith("_"))
            if open_count == 0:
                return f"{now - began:.0f}s, every message terminal"
            signature = tuple(sorted(counts.items()))
            if signature != last:
                last, changed = signature, now
            elif now - changed > STALL_LIMIT:
                left = ", ".join(f"{s} {n}" for s, n in counts.items() if not s.startswith("_"))
                return (
                    f"{now - began:.0f}s, stalled: nothing changed for {STALL_LIMIT:.0f}s ({left})"
                )
        if now - began > DRAIN_LIMIT:
            return f"{now - began:.0f}s, gave up after {DRAIN_LIMIT:.0f}s"
        time.sleep(1)


def _processes(supervisor: Supervisor, report: Audit) -> None:
    kills = ", ".join(
        f"{role} ×{sum(1 for r, _ in supervisor.kills if r == role)}"
        for role in sorted({role for role, _ in supervisor.kills})
    )
    report.say(f"processes: SIGKILLed by the drill: {kills}")
    exits = report.finding(
        "bus processes that exited on their own (restarted after 1 s, as systemd would)"
    )
    for exit in supervisor.exits:
        last = [line for line in exit.tail.splitlines() if line.strip()][-1:] or ["(no output)"]
        exits.add(f"{exit.role} at {exit.at:.1f}s, exit code {exit.returncode}: {last[0][:200]}")
