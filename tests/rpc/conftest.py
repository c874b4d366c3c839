"""A real ``bus serve`` process (embedded SQLite + in-process queue) for the edge's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.settings import DEV_KEYS
from tests.support.processes import Stack

EDGE_LIMITS = {"BUS_LIMITS__MAX_BATCH": "10", "BUS_LIMITS__MAX_BODY_BYTES": "65536"}


def start_bus(tmp: Path, **env: str) -> Stack:
    """Start a bus on a fresh SQLite journal with ``env`` settings (no simulator needed)."""
    stack = Stack({"BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'bus.db'}", **env}, tmp)
    stack.start_api()
    return stack


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One bus for a module's tests."""
    stack = start_bus(tmp_path_factory.mktemp("edge"), **EDGE_LIMITS)
    yield stack
    stack.stop()


class Rpc:
    """Raw HTTP access to ``/rpc``, to send exactly the bytes a test needs."""

    def __init__(self, url: str) -> None:
        self.url = f"{url}/rpc"
        self.http = httpx.Client(timeout=30)

    def __enter__(self) -> Rpc:
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def post(
        self,
        body: Any = None,
        *,
        raw: bytes | None = None,
        key: str | None = "storefront",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if key is not None:
            sent["Authorization"] = f"Bearer {DEV_KEYS.get(key, key)}"
        if raw is None:
            return self.http.post(self.url, json=body, headers=sent)
        sent.setdefault("Content-Type", "application/json")
        return self.http.post(self.url, content=raw, headers=sent)


@pytest.fixture(scope="module")
def rpc(bus: Stack) -> Iterator[Rpc]:
    """A raw client of the module's bus."""
    with Rpc(bus.api_url) as client:
        yield client


def order(n: int = 1, **overrides: Any) -> dict[str, Any]:
    """Valid ``order.submit`` params."""
    params: dict[str, Any] = {
        "order_id": f"A-{n}",
        "customer": "10000",
        "lines": [
            {"item": "1000", "quantity": 2},
            {"item": "1100", "quantity": 1.5, "unit": "BOX"},
        ],
    }
    params.update(overrides)
    return params


def call(method: str, params: Any = None, id: Any = 1) -> dict[str, Any]:  # noqa: A002
    """A JSON-RPC request object."""
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": id}
    if params is not None:
        body["params"] = params
    return body
