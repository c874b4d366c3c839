"""A customer's deactivation or provisioning reaches the API's order checks at once.

The API keeps the profiles it checks orders by for ``directory_ttl`` (here five minutes, so that
only the announcement can explain what is seen). A customer deactivated a moment ago, whose
profile the API read for an order just before, has its next order refused; provisioned again, its
next order is accepted: on the embedded deployment (the worker writes in the API's process) and
on PostgreSQL + Redis with a ``bus worker`` process (the API hears it on Redis).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import production_env, running, wait_until
from tests.e2e.test_order_identity import _rpc
from tests.e2e.test_provisioning import _steps_delivered
from tests.e2e.test_segments import _provision
from tests.e2e.test_systems import TIMINGS, _call
from tests.support.processes import Stack
from tests.support.servers import fresh_postgres_database, redis_or_skip

CUSTOMER = "10000"
#: Longer than the test: a profile the API kept would still be kept at its end.
KEPT_FOR = {"BUS_DIRECTORY_TTL": "300"}


@pytest.fixture(params=["embedded", "redis"])
def stack(request: pytest.FixtureRequest, log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    """NAV, Bitrix24, the storefront and mail, with customer 10000 provisioned."""
    simulators = ("navision", "bitrix24", "storefront", "mail")
    if request.param == "embedded":
        env = {"BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}"}
        for started in running(
            Stack({**env, **TIMINGS, **KEPT_FOR}, log_dir, simulators=simulators)
        ):
            _provision(started, CUSTOMER)
            yield started
        return
    redis_or_skip()
    with fresh_postgres_database() as database_url:
        env = production_env(database_url, {**TIMINGS, **KEPT_FOR})
        for started in running(Stack(env, log_dir, simulators=simulators)):
            worker = started.start_worker()
            up = lambda w=worker: "worker started" in w.output()  # noqa: E731
            wait_until(up, started, 60, "the worker to start")
            _provision(started, CUSTOMER)
            yield started


def order() -> dict[str, Any]:
    return {
        "order_id": f"D-{uuid.uuid4().hex[:8]}",
        "customer": CUSTOMER,
        "lines": [{"item": "1000", "quantity": 12}],
    }


def test_a_deactivation_and_a_new_provisioning_reach_the_next_order_at_once(stack: Stack) -> None:
    [before] = _rpc(stack, [order()])
    assert before.get("result", {}).get("status") == "accepted", before  # the API keeps it now

    deactivated = _call(stack, "crm", "account.deactivate", {"erp_key": CUSTOMER})
    _steps_delivered(stack, deactivated["message_id"], steps=3)
    [refused] = _rpc(stack, [order()])
    assert "error" in refused, f"an order of a deactivated customer was accepted: {refused}"
    [field] = refused["error"]["data"]["fields"]
    assert (field["field"], field["type"]) == ("customer", "customer_deactivated")

    _provision(stack, CUSTOMER)
    [after] = _rpc(stack, [order()])
    assert after.get("result", {}).get("status") == "accepted", after
