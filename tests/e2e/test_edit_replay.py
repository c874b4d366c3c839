"""An operator corrects a failed order's quantity in ``$EDITOR`` and the correction is delivered in
the order's place; a wrong edit is refused naming the field and leaves the order as it was. Real
processes, on SQLite with the embedded queue and on PostgreSQL with Redis and a worker."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bus.settings import DEV_KEYS
from tests.e2e.conftest import (
    FAST,
    Simulator,
    all_delivered,
    order,
    production_env,
    running,
    statuses,
    wait_until,
)
from tests.e2e.test_cli import NAV_REJECTS
from tests.support.processes import BusClient, Stack
from tests.support.servers import fresh_postgres_database, redis_or_skip

#: Each ``bus`` command is a process of its own: a few seconds each on a busy machine.
pytestmark = pytest.mark.timeout(240)

#: An editor that sets the first line's quantity to its argument (``$EDITOR`` runs it with the
#: file to edit), as an operator would in vi.
EDITOR = """#!{python}
import json, sys
path = sys.argv[-1]
payload = json.load(open(path))
payload["lines"][0]["quantity"] = {quantity}
json.dump(payload, open(path, "w"), indent=2)
"""


#: NAV, and the storefront that hears the ERP's status change of the order.
SIMULATORS = ("navision", "storefront")


@pytest.fixture(params=["embedded", "redis"])
def stack(request: pytest.FixtureRequest, log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    """Either deployment with NAV and the storefront, its worker running."""
    if request.param == "embedded":
        env = {"BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}", **FAST}
        yield from running(Stack(env, log_dir, simulators=SIMULATORS))
        return
    redis_or_skip()
    with fresh_postgres_database() as database_url:
        for started in running(
            Stack(production_env(database_url, FAST), log_dir, simulators=SIMULATORS)
        ):
            started.start_worker()
            yield started


@pytest.fixture
def client(stack: Stack) -> Iterator[BusClient]:
    storefront = BusClient(stack.api_url, DEV_KEYS["storefront"])
    yield storefront
    storefront.close()


@pytest.fixture
def simulator(stack: Stack) -> Iterator[Simulator]:
    nav = Simulator(stack.sim_url)
    yield nav
    nav.http.close()


def editor(tmp_path: Path, quantity: object) -> str:
    script = tmp_path / f"edit-quantity-{quantity}.py"
    script.write_text(EDITOR.format(python=sys.executable, quantity=quantity))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def bus(stack: Stack, *args: str, editor: str | None = None) -> subprocess.CompletedProcess[str]:
    """One ``bus`` command with the stack's settings (and ``$EDITOR``)."""
    env = {**os.environ, **stack.env, **({"EDITOR": editor} if editor else {})}
    return subprocess.run(
        [sys.executable, "-m", "bus", *args], env=env, capture_output=True, text=True, timeout=60
    )


def lines_of(simulator: Simulator, message_id: str) -> list[tuple[str, float]]:
    [nav_order] = simulator.orders_for(message_id)
    return [(line["No"], line["Quantity"]) for line in nav_order["SalesOrderSalesLines"]]


def test_a_failed_order_is_edited_and_the_edit_is_delivered_in_its_place(
    stack: Stack, tmp_path: Path, client: BusClient, simulator: Simulator
) -> None:
    ops, erp = (BusClient(stack.api_url, DEV_KEYS[key]) for key in ("ops", "erp"))
    simulator.fault(**NAV_REJECTS)
    failed = client.call("order.submit", order(1))["message_id"]
    change = erp.call("order.status_changed", {"order_id": "E-1", "status": "shipped"})
    waiting = change["message_id"]
    wait_until(
        lambda: statuses(ops, [failed, waiting]) == {failed: "failed", waiting: "blocked"},
        stack,
        30,
        "the failed order and its status change behind it",
    )
    blocked = ops.call("message.get", {"message_id": waiting})
    assert blocked["blocked_by"] == {"message_id": failed, "status": "failed"}

    # A wrong edit is refused naming the field, and nothing changes.
    wrong = bus(stack, "messages", "edit", failed, "--reason", "r", editor=editor(tmp_path, -1))
    assert wrong.returncode == 1, wrong.stdout + wrong.stderr
    assert "lines.0.quantity" in wrong.stderr and "nothing changed" in wrong.stderr
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({**before_payload(stack, failed), "comentary": "x"}))
    refused = bus(stack, "messages", "edit", failed, "--reason", "r", "--payload-file", str(typo))
    assert refused.returncode == 1 and "comentary: Extra inputs" in refused.stderr
    assert ops.call("message.get", {"message_id": failed})["status"] == "failed"

    # The right one: NAV takes five; the edit runs in the order's place, then the change.
    simulator.clear_faults()
    done = bus(
        stack,
        "messages",
        "edit",
        failed,
        "--reason",
        "the customer wants five",
        "--by",
        "alice",
        "--json",
        editor=editor(tmp_path, 5),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    outcome = json.loads(done.stdout)
    edited = outcome["edited"]
    assert outcome["original"] == failed and '+      "quantity": 5' in outcome["diff"]
    wait_until(all_delivered(ops, [edited, waiting]), stack, 30, "the edit, then the change")
    assert lines_of(simulator, edited) == [("1000", 5), ("1100", 3)]
    assert simulator.orders_for(failed) == []  # the original never ran
    assert ops.call("message.get", {"message_id": failed})["status"] == "edited"

    shown_original = " ".join(bus(stack, "messages", "show", failed).stdout.split())
    assert f"edited as {edited} by alice" in shown_original
    assert "the customer wants five" in shown_original and '+ "quantity": 5' in shown_original
    shown_edit = " ".join(bus(stack, "messages", "show", edited).stdout.split())
    assert f"edited from {failed} by alice" in shown_edit and '- "quantity": 2' in shown_edit
    for bus_client in (ops, erp):
        bus_client.close()


def before_payload(stack: Stack, message_id: str) -> dict[str, Any]:
    """The payload as ``bus messages show --json`` prints it."""
    shown = bus(stack, "messages", "show", message_id, "--json")
    assert shown.returncode == 0, shown.stderr
    payload: dict[str, Any] = json.loads(shown.stdout)["payload"]
    return payload
