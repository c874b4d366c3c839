"""The lanes of a worker process: each target's queue with threads of its own.

By default a worker serves every target of the deployment (``queue.worker_threads`` each, or the
target's ``queue.target_threads``), a target's queue of steps a person waits on, and the shared
queue; ``bus worker --targets`` serves only the
targets it names, and refuses to start naming one the deployment does not have.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bus.queues.worker import SHARED_THREADS, URGENT_THREADS, Lane, lanes
from bus.settings import Settings
from tests.support.servers import REDIS_URL


def test_a_worker_serves_every_target_with_its_own_threads_and_the_shared_queue() -> None:
    settings = Settings(erp="onec", crm="bitrix24", queue={"target_threads": {"bitrix24": 2}})
    assert lanes(settings) == [
        Lane("deliveries.onec", 8),
        Lane("deliveries.bitrix24", 2),
        Lane("deliveries.storefront", 8),
        Lane("deliveries.mail", 8),
        Lane("deliveries.directory", 8),
        Lane("deliveries.journal", 8),
        Lane("deliveries.bitrix24.urgent", URGENT_THREADS),
        Lane("deliveries", SHARED_THREADS),
    ]


def test_a_worker_of_some_targets_serves_only_their_queues() -> None:
    settings = Settings(queue={"worker_threads": 3, "target_threads": {"navision": 5}})
    assert lanes(settings, ["navision", "storefront"]) == [
        Lane("deliveries.navision", 5),
        Lane("deliveries.storefront", 3),
    ]
    assert lanes(settings, ["bitrix24"]) == [
        Lane("deliveries.bitrix24", 3),
        Lane("deliveries.bitrix24.urgent", URGENT_THREADS),
    ]


def test_bus_worker_refuses_a_target_the_deployment_does_not_have() -> None:
    env = {
        **os.environ,
        "BUS_DEVELOPMENT": "true",
        "BUS_REDIS_URL": REDIS_URL,
        "BUS_ERP": "navision",
        "BUS_CRM": "bitrix24",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bus", "worker", "--targets", "navision,onec"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    said = done.stdout + done.stderr
    assert "--targets 'navision,onec' names onec" in said
    assert "navision, bitrix24, storefront, mail, directory, journal" in said


def test_unknown_targets_in_target_threads_are_refused_naming_them() -> None:
    with pytest.raises(ValueError, match="bitrix: not a target"):
        Settings(queue={"target_threads": {"bitrix": 2}})
