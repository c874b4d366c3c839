"""Every step a deployment can journal is an operation its adapter performs, checked at start."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bus.route_check import unserved_steps
from bus.settings import OrderRoute, OwnershipSettings, Settings

PAIRS = list(itertools.product(("navision", "onec"), ("bitrix24", "creatio")))
FLOWS = [name for name in OwnershipSettings.model_fields]


@pytest.mark.parametrize(("erp", "crm"), PAIRS, ids="-".join)
@pytest.mark.parametrize("carried", [True, False], ids=["every-flow", "no-flow"])
def test_every_step_of_every_deployment_is_performed_by_its_adapter(
    erp: str, crm: str, carried: bool
) -> None:
    flows = OwnershipSettings(**dict.fromkeys(FLOWS, carried))
    assert unserved_steps(Settings(erp=erp, crm=crm, ownership=flows)) == []


def test_a_misspelt_step_is_named_with_what_the_system_performs() -> None:
    routes = (OrderRoute(name="everyone", steps=("erp:sales_order.create", "crm:order.creat")),)
    [problem] = unserved_steps(Settings(crm="creatio", order_routes=routes))
    assert problem.startswith("order route 'everyone': step crm:order.creat: creatio has no")
    assert "order.create" in problem  # what it does perform


def test_bus_serve_with_a_misspelt_step_stops_at_start_saying_which(tmp_path: Path) -> None:
    routes = [{"name": "everyone", "steps": ["erp:sales_order.creat"]}]
    env = {
        **os.environ,
        "BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}",
        "BUS_ORDER_ROUTES": json.dumps(routes),
        "BUS_PORT": "9",  # never bound: the start stops before
    }
    started = subprocess.run(
        [sys.executable, "-m", "bus", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert started.returncode == 2, started.stderr
    [line] = started.stderr.strip().splitlines()
    assert line.startswith("bus: configuration: order route 'everyone': step erp:sales_order.creat")
