"""``bus serve`` and ``bus worker`` refuse the secrets the bus ships with, outside development.

Real processes with no development setting: with the built-in keys, tokens and passwords each
exits 2 with one line naming every setting to fill (the worker: the ones it uses), no traceback;
with every secret set, ``bus serve`` starts and answers the keys it was given, not the built-in
ones; with ``BUS_DEVELOPMENT=true`` it starts with the built-in ones, saying so in one line.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.support.processes import Process, Stack, wait_for_http

#: The secrets a NAV + Bitrix24 deployment uses, by their dotted names.
SERVE_SECRETS = [
    "clients.storefront.key",
    "clients.crm.key",
    "clients.erp.key",
    "clients.ops.key",
    "navision.password",
    "bitrix24.webhook_url",
    "bitrix24.application_token",
    "storefront.token",
    "journal_encryption_keys",
]


@pytest.fixture
def stack(log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    """A production-like stack: no development setting, a journal of its own, no simulator."""
    env = {
        "BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}",
        "BUS_DEVELOPMENT": "false",
        "BUS_STARTUP_WAIT": "0",
    }
    stack = Stack(env, log_dir, erp="navision", crm="bitrix24")  # settings of NAV's URL only
    yield stack
    stack.stop()


def _exited(process: Process) -> int:
    try:
        return process.popen.wait(60)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{process.name} did not exit:\n{process.output()}") from None


def _refusal(process: Process, command: str) -> list[str]:
    """The one line ``process`` refused with (it must exit 2 with it); the settings it names."""
    assert _exited(process) == 2, process.output()
    output = process.output()
    assert "Traceback" not in output, output
    [line] = [line for line in output.splitlines() if "refuses to start" in line]
    assert f"{command} refuses to start" in line and "BUS_DEVELOPMENT=true" in line
    named = line.split("refuses to start: ", 1)[1].split(" still hold", 1)[0]
    return named.split(", ")


def test_bus_serve_refuses_the_shipped_secrets_naming_each(stack: Stack) -> None:
    serve = stack.spawn("api", ["serve", "--migrate"])
    assert _refusal(serve, "bus serve") == SERVE_SECRETS


def test_bus_worker_refuses_the_shipped_secrets_it_uses(stack: Stack) -> None:
    stack.env["BUS_REDIS_URL"] = "redis://127.0.0.1:6379/0"  # never reached: it stops before
    worker = stack.spawn("worker", ["worker"])
    assert _refusal(worker, "bus worker") == [
        "navision.password",
        "bitrix24.webhook_url",
        "storefront.token",
        "journal_encryption_keys",
    ]


def test_only_the_deployments_systems_count(stack: Stack) -> None:
    stack.env.update(BUS_ERP="onec", BUS_CRM="creatio")
    serve = stack.spawn("api", ["serve", "--migrate"])
    assert [n for n in _refusal(serve, "bus serve") if not n.startswith("clients.")] == [
        "onec.password",
        "creatio.password",
        "storefront.token",
        "journal_encryption_keys",
    ]


def test_bus_serve_starts_with_every_secret_set(stack: Stack) -> None:
    keys = {name: f"{name}-{Fernet.generate_key().decode()[:20]}" for name in ("storefront", "ops")}
    stack.env.update(
        BUS_CLIENTS=json.dumps(
            {
                "storefront": {"key": keys["storefront"], "methods": ["rpc.discover"]},
                "ops": {"key": keys["ops"], "methods": ["message.get"]},
            }
        ),
        BUS_NAVISION__PASSWORD="nav-password-of-this-deployment",
        BUS_BITRIX24__WEBHOOK_URL="https://portal.example/rest/1/code-of-this-deployment",
        BUS_BITRIX24__APPLICATION_TOKEN="application-token-of-this-deployment",
        BUS_STOREFRONT__TOKEN="storefront-token-of-this-deployment",
        BUS_JOURNAL_ENCRYPTION_KEYS=json.dumps([Fernet.generate_key().decode()]),
    )
    serve = stack.spawn("api", ["serve", "--migrate"])
    wait_for_http(f"{stack.api_url}/health", serve)
    assert "refuses" not in serve.output() and "development" not in serve.output()
    body = {"jsonrpc": "2.0", "id": 1, "method": "rpc.discover"}
    url = f"{stack.api_url}/rpc"
    mine = httpx.post(url, json=body, headers={"Authorization": f"Bearer {keys['storefront']}"})
    assert "result" in mine.json()
    shipped = httpx.post(url, json=body, headers={"Authorization": "Bearer dev-storefront-key"})
    assert shipped.status_code == 401


def test_a_development_bus_starts_with_them_and_says_so(stack: Stack) -> None:
    stack.env["BUS_DEVELOPMENT"] = "true"
    serve = stack.spawn("api", ["serve", "--migrate"])
    wait_for_http(f"{stack.api_url}/health", serve)
    [line] = [line for line in serve.output().splitlines() if "development bus" in line]
    assert all(name in line for name in SERVE_SECRETS)
