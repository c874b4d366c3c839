"""A NUL character (U+0000), which PostgreSQL's text and jsonb cannot hold, on a PostgreSQL
journal: in a caller's params it is refused naming the field (it answered -32603, the journal
having refused the accept); in what a target answers, the message still finishes, the NUL
stored as U+FFFD (the finish was refused, and the message left in flight, attempted again and
refused again for ever); so is half a surrogate pair standing alone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.journal.storable import REPLACEMENT
from bus.settings import DEV_KEYS
from tests.e2e.conftest import ERP_ONLY, bus_client, order, running, wait_until
from tests.e2e.test_systems import TIMINGS
from tests.support.processes import BusClient, Stack
from tests.support.servers import fresh_postgres_database


@pytest.fixture
def stack(log_dir: Path) -> Iterator[Stack]:
    """The embedded queue on a PostgreSQL journal, with NAV."""
    with fresh_postgres_database() as database_url:
        env = {"BUS_DATABASE_URL": database_url, "BUS_ORDER_ROUTES": ERP_ONLY, **TIMINGS}
        yield from running(Stack(env, log_dir))


@pytest.fixture
def storefront(stack: Stack) -> Iterator[BusClient]:
    yield from bus_client(stack, DEV_KEYS["storefront"])


@pytest.fixture
def ops(stack: Stack) -> Iterator[BusClient]:
    yield from bus_client(stack, DEV_KEYS["ops"])


def test_a_nul_in_a_callers_params_is_refused_naming_the_field(
    stack: Stack, storefront: BusClient
) -> None:
    answer = storefront.reply("order.submit", order(1, comment="a\x00b"))
    assert answer["error"]["code"] == -32602, answer
    assert answer["error"]["data"]["fields"] == [
        {
            "field": "comment",
            "type": "string_nul",
            "message": "String should not hold the NUL character (U+0000)",
        }
    ]
    listed = stack.run_cli("messages", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []  # nothing journaled


def test_a_nul_in_a_targets_answer_is_stored_replaced_and_the_message_finishes(
    stack: Stack, storefront: BusClient, ops: BusClient
) -> None:
    blocked = "item\x00 1000 is blocked \ud800"  # a NUL, and half a surrogate pair
    refusal = {"error": {"code": "Internal_ServiceError", "message": blocked}}
    fault = {"mode": "status", "status": 400, "body": refusal, "methods": ["POST"], "times": 1}
    escaped = json.dumps(fault)  # ASCII: the surrogate as its escape, as JSON can send it
    httpx.post(f"{stack.sim_url}/_control/faults", content=escaped).raise_for_status()
    accepted = storefront.call("order.submit", order(2))

    def message() -> dict[str, Any]:
        found: dict[str, Any] = ops.call("message.get", {"message_id": accepted["message_id"]})
        return found

    wait_until(lambda: message()["status"] == "failed", stack, 30, "the failure")
    failed = message()
    assert f"item{REPLACEMENT} 1000 is blocked {REPLACEMENT}" in failed["last_error"]
    # the attempt's bodies too, which message.get leaves out
    shown = stack.run_cli("messages", "show", accepted["message_id"], "--json")
    assert shown.returncode == 0, shown.stderr
    [attempt] = json.loads(shown.stdout)["attempts_log"]
    assert f"item{REPLACEMENT} 1000" in json.dumps(attempt["response"], ensure_ascii=False)
