"""Operators steer the bus from the CLI: the overview, failure groups, bulk replay and cancel by
filter counted and summed up, and output that reads at 80 columns and through a pipe.

Real processes throughout: PostgreSQL, Redis, ``bus serve``, a ``bus worker``, the NAV simulator
(with faults), and the CLI run as an operator runs it, its standard output a pipe.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bus.db import create_engine, reading, writing
from bus.journal.accept import Accepted, Command, accept_batch
from bus.journal.tables import messages, operator_actions
from bus.queues.broker import queue_name, urgent_queue_name
from bus.settings import DEV_KEYS
from tests.e2e.conftest import (
    FAST,
    Simulator,
    all_delivered,
    bus_client,
    nav_simulator,
    order,
    production_env,
    running,
    stack_dir,
    statuses,
    wait_until,
)
from tests.support.processes import BusClient, Stack
from tests.support.servers import fresh_postgres_database, redis_or_skip
from tests.support.terminal import on_terminal as run_on_terminal

#: Hundreds of orders through a real worker, on a machine that runs other suites too.
pytestmark = pytest.mark.timeout(300)

#: Box drawing (U+2500–U+257F) and block elements: none when piped.
BOX = re.compile("[\u2500-\u259f]")
ANSI = re.compile("\x1b\\[")


def nav_rejects(message: str) -> dict[str, Any]:
    """A NAV fault: every sales order POST answered 400 with ``message``."""
    return {
        "mode": "error",
        "status": 400,
        "match": "SalesOrder",
        "methods": ["POST"],
        "body": {"error": {"code": "Application_DialogException", "message": message}},
    }


def cli(stack: Stack, *args: str, columns: int | None = 80) -> subprocess.CompletedProcess[str]:
    """``bus ARGS`` as an operator pipes it (standard output not a terminal), ``COLUMNS`` wide."""
    env = {**os.environ, **stack.env}
    env.pop("COLUMNS", None)
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "bus", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def on_terminal(stack: Stack, *args: str, columns: int = 80) -> tuple[int, str]:
    """``bus ARGS`` run on a terminal (a pseudo-terminal ``columns`` wide): its exit status and
    everything it wrote there."""
    env = {**os.environ, **stack.env}
    env.pop("COLUMNS", None)
    return run_on_terminal(args, env, columns)


def cli_ok(stack: Stack, *args: str) -> str:
    done = cli(stack, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def cli_json(stack: Stack, *args: str) -> Any:
    return json.loads(cli_ok(stack, *args, "--json"))


def assert_reads_at_80_columns(output: str) -> None:
    """No line wider than 80 characters, no box drawing, no colour codes."""
    assert output.strip(), "nothing printed"
    for line in output.splitlines():
        assert len(line) <= 80, f"{len(line)} characters: {line!r}"
    assert not BOX.search(output) and not ANSI.search(output), output


def count_where(stack: Stack, *conditions: Any, table: Any = messages) -> int:
    """Rows of the stack's journal matching ``conditions``."""

    async def count() -> int:
        engine = create_engine(stack.env["BUS_DATABASE_URL"], null_pool=True)
        try:
            async with reading(engine) as conn:
                query = select(func.count()).select_from(table).where(*conditions)
                return int(await conn.scalar(query) or 0)
        finally:
            await engine.dispose()

    return asyncio.run(count())


def submit_failing(
    stack: Stack, client: BusClient, simulator: Simulator, numbers: range, message: str
) -> list[str]:
    """Orders ``numbers`` submitted while NAV refuses them with ``message``; failed for good."""
    simulator.fault(**nav_rejects(message))
    ids = [client.call("order.submit", order(n))["message_id"] for n in numbers]
    wait_until(
        lambda: (
            count_where(stack, messages.c.id.in_(ids), messages.c.status == "failed") == len(ids)
        ),
        stack,
        120,
        f"{len(ids)} orders to fail",
    )
    simulator.clear_faults()
    return ids


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """PostgreSQL + Redis, the API and a worker, shared by the module's tests."""
    redis_or_skip()
    base = stack_dir(tmp_path_factory, "operator-cli")
    with fresh_postgres_database() as url:
        for started in running(Stack(production_env(url, FAST), base / "logs")):
            started.start_worker()
            yield started


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[BusClient]:
    yield from bus_client(stack, DEV_KEYS["storefront"])


@pytest.fixture(scope="module")
def simulator(stack: Stack) -> Iterator[Simulator]:
    yield from nav_simulator(stack)


def test_a_bulk_replay_runs_in_batches_and_sums_up(
    stack: Stack, client: BusClient, simulator: Simulator
) -> None:
    """300 orders refused by NAV, then replayed by filter in batches of 100: counted before,
    summed up after (no line per message), one action each, every one delivered."""
    failed = submit_failing(
        stack, client, simulator, range(1, 301), "Customer 10000 is over its credit limit."
    )

    dry = cli_ok(
        stack, "messages", "replay", "--status", "failed", "--error", "credit", "--dry-run"
    )
    assert "300 message(s) match; nothing done (dry run)" in dry
    assert "the newest 10:" in dry
    assert count_where(stack, messages.c.id.in_(failed), messages.c.status == "failed") == 300

    done = cli(
        stack,
        *("messages", "replay", "--status", "failed", "--error", "credit"),
        *("--reason", "credit limit raised", "--by", "alice", "--batch-size", "100", "--yes"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "300 message(s) match; replaying them",
        "replayed 300",
    ]
    actions = count_where(
        stack,
        operator_actions.c.message_id.in_(failed),
        operator_actions.c.action == "replay",
        operator_actions.c.actor == "alice",
        operator_actions.c.reason == "credit limit raised",
        operator_actions.c.from_status == "failed",
        table=operator_actions,
    )
    assert actions == 300
    wait_until(
        lambda: (
            count_where(stack, messages.c.id.in_(failed), messages.c.status == "delivered") == 300
        ),
        stack,
        180,
        "the replayed orders to be delivered",
    )


def test_cancel_by_filter_and_refusals_summed_up_by_reason(
    stack: Stack, client: BusClient, simulator: Simulator
) -> None:
    blocked = submit_failing(
        stack, client, simulator, range(1001, 1006), "Customer 10000 is blocked."
    )
    without_yes = cli(stack, "messages", "cancel", "--error", "is blocked", "--reason", "x")
    assert without_yes.returncode == 2
    assert "5 message(s) match; add --yes to cancel them" in without_yes.stdout
    assert set(statuses(client, blocked).values()) == {"failed"}

    results = cli_json(
        stack,
        *("messages", "cancel", "--status", "failed", "--error", "is blocked"),
        *("--reason", "the customer withdrew them", "--yes"),
    )
    assert sorted(r["message_id"] for r in results) == sorted(blocked)
    assert {(r["ok"], r["status"]) for r in results} == {(True, "cancelled")}
    assert set(statuses(client, blocked).values()) == {"cancelled"}
    shown = cli_json(stack, "messages", "show", blocked[0])
    [action] = shown["actions"]
    assert (action["action"], action["reason"]) == ("cancel", "the customer withdrew them")

    # by ids: what cannot be cancelled is refused, and said once per reason
    [delivered] = [client.call("order.submit", order(1006))["message_id"]]
    wait_until(all_delivered(client, [delivered]), stack, 30, "a delivered order")
    nowhere = "01NOSUCHMESSAGE00000000000"
    done = cli(stack, "messages", "cancel", *blocked[:2], delivered, nowhere, "--reason", "again")
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "cancelled 0; refused 4:",
        "  2 status cancelled",
        "  1 status delivered",
        "  1 no such message",
    ]
    assert_reads_at_80_columns(done.stdout)


def test_a_selection_counts_every_match_beyond_a_thousand(stack: Stack) -> None:
    """1,500 failed messages written straight into the journal: the dry run counts them all,
    and cancel by filter cancels them all, in batches."""
    asyncio.run(_journal_failed(stack, 1500, "volume test {}"))
    dry = cli_ok(stack, "messages", "replay", "--error", "volume test", "--dry-run")
    assert dry.splitlines()[0] == "1,500 message(s) match; nothing done (dry run)"
    listed = cli_json(stack, "messages", "replay", "--error", "volume test", "--dry-run")
    assert listed["matched"] == 1500 and len(listed["would_replay"]) == 1500
    refused = cli(stack, "messages", "replay", "--error", "volume test", "--reason", "x")
    assert refused.returncode == 2
    assert "1,500 message(s) match; add --yes to replay them" in refused.stdout

    # on a terminal, a progress bar while it runs (batches of 500), then the summary
    status, written = on_terminal(
        stack, "messages", "cancel", "--error", "volume test", "--reason", "test data", "--yes"
    )
    assert status == 0, written
    assert "cancelling" in written and "/1500" in written, written  # the bar: done/total
    assert "1,500 message(s) match; cancelling them" in written
    assert "cancelled 1,500" in written
    volume = messages.c.last_error.like("volume test%")
    assert count_where(stack, volume, messages.c.status == "cancelled") == 1500
    cancels = count_where(stack, operator_actions.c.action == "cancel", table=operator_actions)
    assert cancels >= 1500


async def _journal_failed(stack: Stack, count: int, error: str) -> None:
    """``count`` failed storefront orders journaled directly (each its own key)."""
    engine = create_engine(stack.env["BUS_DATABASE_URL"], null_pool=True)
    try:
        ids: list[str] = []
        for start in range(0, count, 500):
            commands = [
                Command(
                    method="order.submit",
                    source="storefront",
                    target="navision",
                    operation="sales_order.create",
                    payload={"order_id": f"V-{n}", "customer": "10000", "lines": []},
                    idempotency_key=f"volume-{n}",
                    ordering_key=f"order:V-{n}",
                )
                for n in range(start, min(count, start + 500))
            ]
            async with writing(engine) as conn:
                outcomes = await accept_batch(conn, commands)
            ids += [o.message_id for o in outcomes if isinstance(o, Accepted)]
        async with writing(engine) as conn:
            for n, message_id in enumerate(ids):
                await conn.execute(
                    update(messages)
                    .where(messages.c.id == message_id)
                    .values(status="failed", last_error=error.format(n), attempts_total=1)
                )
    finally:
        await engine.dispose()


def test_every_command_reads_at_80_columns_and_through_a_pipe(
    stack: Stack, client: BusClient, simulator: Simulator
) -> None:
    long_error = (
        "Customer 10000 cannot order item 1000 in unit BOX for order E-2001: the unit of"
        " measure code does not exist for this item in the company CRONUS International Ltd."
    )
    *_, failed = submit_failing(stack, client, simulator, range(2001, 2004), long_error)
    # without COLUMNS a pipe is not cut: the whole error is on its row
    wide = cli(
        stack, "messages", "list", "--error", "unit of measure", "--limit", "1", columns=None
    )
    [header, row, more] = wide.stdout.splitlines()
    assert row.startswith(failed) and row.endswith(long_error)

    listed = cli_ok(stack, "messages", "list", "--method", "order.submit", "--limit", "2")
    assert_reads_at_80_columns(listed)
    rows = listed.splitlines()
    assert len(rows) == 4, listed  # a header, two rows, and how many there are in all
    assert rows[0].split()[:2] == ["id", "status"] and rows[1].startswith(failed)
    assert rows[3].startswith("the newest 2 of ")  # of three, or more
    shown = cli_ok(stack, "messages", "show", failed)
    assert "International Ltd." in shown  # the error wrapped, not cut
    for command in (
        ("messages", "list", "--status", "failed"),
        ("messages", "show", failed),
        ("messages", "groups"),
        ("status",),
        ("messages", "replay", "--status", "failed", "--dry-run"),
        ("messages", "cancel", failed, "--reason", "unit unknown", "--verbose"),
        ("messages", "replay", failed, "--reason", "unit added", "--verbose"),
    ):
        done = cli(stack, *command)
        assert done.returncode == 0, done.stdout + done.stderr
        assert_reads_at_80_columns(done.stdout)
    shown = cli_ok(stack, "messages", "show", failed)
    assert "unit unknown" in shown and "unit added" in shown  # the actions


@pytest.fixture
def breaker_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """PostgreSQL + Redis whose NAV breaker opens at the second failure and stays open."""
    redis_or_skip()
    base = stack_dir(tmp_path_factory, "operator-status")
    timings = {
        **FAST,
        "BUS_NAVISION__BREAKER__FAILURE_THRESHOLD": "2",
        "BUS_NAVISION__BREAKER__COOLDOWN": "600",
        "BUS_NAVISION__BREAKER__MAX_COOLDOWN": "600",
    }
    with fresh_postgres_database() as url:
        for started in running(Stack(production_env(url, timings), base / "logs")):
            started.start_worker()
            yield started


def test_status_and_groups_show_what_failed_and_why(breaker_stack: Stack) -> None:
    """Two orders refused with the same error for different order ids make one group, which
    is replayed whole; then NAV goes down: the overview counts by target and status, names the
    open breaker, its held messages and last error, the throughput and the queues."""
    stack = breaker_stack
    client = BusClient(stack.api_url, DEV_KEYS["storefront"])
    simulator = Simulator(stack.sim_url)
    credit = "Customer 10000 is over its credit limit for order {}."
    first = submit_failing(stack, client, simulator, range(1, 2), credit.format("E-1"))
    second = submit_failing(stack, client, simulator, range(2, 3), credit.format("E-2"))
    [fine] = [client.call("order.submit", order(3))["message_id"]]
    wait_until(all_delivered(client, [fine]), stack, 30, "the third order")

    groups = cli_json(stack, "messages", "groups")
    [group] = [g for g in groups if g["target"] == "navision"]
    assert (group["method"], group["count"]) == ("order.submit", 2)
    assert "for order #" in group["error"] and "E-1" not in group["error"]
    assert group["example_id"] == second[0] and "E-2" in group["example_error"]
    text = cli_ok(stack, "messages", "groups")
    assert_reads_at_80_columns(text)
    assert f"{group['id']}  2 × order.submit -> navision" in text

    replayed = cli_ok(
        stack, "messages", "replay", "--group", group["id"], "--reason", "raised", "--yes"
    )
    assert replayed.splitlines() == ["2 message(s) match; replaying them", "replayed 2"]
    wait_until(all_delivered(client, first + second), stack, 30, "the group's orders")
    assert [g for g in cli_json(stack, "messages", "groups") if g["target"] == "navision"] == []
    gone = cli(stack, "messages", "replay", "--group", group["id"], "--reason", "x", "--yes")
    assert gone.returncode == 1 and f"failure group {group['id']}" in gone.stderr
    # another group, cancelled whole
    refused = submit_failing(stack, client, simulator, range(7, 9), "Item 1100 is blocked.")
    [other] = [g for g in cli_json(stack, "messages", "groups") if g["target"] == "navision"]
    assert other["count"] == 2 and other["id"] != group["id"]
    cancelled = cli_ok(
        stack, "messages", "cancel", "--group", other["id"], "--reason", "discontinued", "--yes"
    )
    assert cancelled.splitlines() == ["2 message(s) match; cancelling them", "cancelled 2"]
    assert set(statuses(client, refused).values()) == {"cancelled"}

    simulator.fault(mode="down")
    waiting = [client.call("order.submit", order(n))["message_id"] for n in (4, 5, 6)]

    def breaker_open_and_holding() -> bool:
        found = cli_json(stack, "status")
        nav = [b for b in found["breakers"] if b["target"] == "navision"]
        return bool(nav) and nav[0]["state"] == "open" and nav[0]["held"] >= 1

    wait_until(breaker_open_and_holding, stack, 60, "NAV's breaker to open and hold orders")
    found = cli_json(stack, "status")
    counts = {(c["target"], c["status"]): c["count"] for c in found["counts"]}
    assert counts[("navision", "delivered")] == 3
    assert counts[("navision", "cancelled")] == 2
    done = ("delivered", "cancelled")
    on_hold = {s: n for (t, s), n in counts.items() if t == "navision" and s not in done}
    assert sum(on_hold.values()) == 3 and set(on_hold) <= {"held", "retry_wait", "accepted"}
    oldest = {o["status"]: o for o in found["oldest"]}
    assert oldest["held"]["message_id"] <= min(waiting)  # ULIDs: the oldest held, or older
    assert oldest["held"]["age_seconds"] >= 0
    [nav] = [b for b in found["breakers"] if b["target"] == "navision"]
    assert nav["probe_at"] > found["at"] and "navision" in nav["last_error"]
    assert sum(m["delivered"] for m in found["throughput"]) >= 3
    assert len(found["throughput"]) == 15
    queues = {q["queue"]: q for q in found["queues"]}
    assert queue_name("navision") in queues and found["queue_error"] is None
    assert urgent_queue_name("bitrix24") in queues  # a queue of the deployment's, empty or not
    text = cli_ok(stack, "status")
    assert_reads_at_80_columns(text)
    assert re.search(r"navision\s+open\s+\d+\s+\d+\s+in \d+m", text), text
    client.close()
    simulator.clear_faults()
    simulator.http.close()
