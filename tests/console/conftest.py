"""The console on its own aiohttp application over a real journal (SQLite and PostgreSQL), for
tests that need no browser and no bus process."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from bus import console
from bus.db import writing
from bus.journal.accept import Accepted, Command, accept_batch
from bus.journal.delivery import AttemptRecord, Finish, claim, finish
from bus.journal.ids import utcnow
from bus.journal.tables import Status
from bus.settings import DEV_KEYS, ClientSettings, Settings

ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
#: The NAV password the console's settings configure: a secret no page may show.
NAV_PASSWORD = "console-nav-secret-1"


def console_settings(ops_key: str = DEV_KEYS["ops"]) -> Settings:
    """The default settings with a NAV password of their own and the ops client's key."""
    clients = Settings().clients | {
        "ops": ClientSettings(key=SecretStr(ops_key), methods=("message.get",))
    }
    return Settings(clients=clients, navision={"password": NAV_PASSWORD})


def console_app(journal: AsyncEngine, settings: Settings | None = None) -> web.Application:
    """An application serving only the console, over ``journal``."""
    app = web.Application()
    console.install(app, settings or console_settings(), lambda _request: journal)
    return app


@pytest.fixture
async def browser(aiohttp_client: ClientFactory, journal: AsyncEngine) -> TestClient[Any, Any]:
    """A client of the console that keeps cookies, not signed in."""
    return await aiohttp_client(console_app(journal))


async def sign_in(client: TestClient[Any, Any], key: str = DEV_KEYS["ops"]) -> str:
    """Sign in with ``key``; the CSRF token of the session's forms."""
    answer = await client.post("/console/login", data={"key": key}, allow_redirects=False)
    assert answer.status == 303, await answer.text()
    return await csrf_of(client)


async def csrf_of(client: TestClient[Any, Any]) -> str:
    """The CSRF token the signed-in pages' forms carry."""
    page = await (await client.get("/console/search")).text()
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


async def failed_order(
    journal: AsyncEngine,
    order_id: str,
    *,
    customer: str = "10000",
    error: str = "HTTP 400: Item 9999 does not exist",
    result: dict[str, Any] | None = None,
    exchange: Any = None,
) -> str:
    """An order journaled, attempted once and failed for good, as the worker leaves it."""
    command = Command(
        method="order.submit",
        source="storefront",
        target="navision",
        operation="sales_order.create",
        payload={"order_id": order_id, "customer": customer, "lines": [{"item": "9999"}]},
        idempotency_key=f"console-{order_id}",
        ordering_key=f"order:{order_id}",
    )
    async with writing(journal) as conn:
        [accepted] = await accept_batch(conn, [command])
    assert isinstance(accepted, Accepted)
    claimed = await claim(journal, accepted.message_id, dt.timedelta(seconds=30))
    assert claimed is not None
    request, response = exchange or (None, None)
    record = AttemptRecord(
        started_at=utcnow(),
        duration_ms=12.0,
        outcome="failed",
        http_status=400,
        error=error,
        request=request,
        response=response,
    )
    await finish(journal, claimed, record, Finish(Status.FAILED, result=result, error=error))
    return accepted.message_id
