"""The Bitrix24 adapter's pace and its own deals, against the simulator and a real Redis.

Each adapter here has a client of its own to Redis, as each worker process has: what one adapter
remembers, another sees only through Redis. Requests are counted in the simulator's own record
(``/_control/received``), independently of the adapter.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis

from bus.adapters import Delivery
from bus.adapters.bitrix24 import Bitrix24Adapter, portal_address
from bus.adapters.http import cookieless_jar
from bus.adapters.shared import SharedRedis
from bus.errors import UnknownOutcome
from bus.sandbox import free_port
from bus.settings import Bitrix24Settings
from simulators import SIMULATORS
from tests.contract.consoles import BITRIX24_WEBHOOK
from tests.contract.pairs import BREAKER, RETRY, crm_order, installed_oauth, new_id
from tests.support.servers import REDIS_URL, redis_or_skip

pytestmark = [pytest.mark.timeout(60), pytest.mark.redis]


@dataclass
class Portal:
    """The simulator, the settings of adapters against it, and the Redis namespace they share."""

    base: str
    settings: Bitrix24Settings
    namespace: str
    http: httpx.AsyncClient
    control: httpx.AsyncClient

    def adapter(self, redis_url: str | None = REDIS_URL, **pace: float) -> Bitrix24Adapter:
        """An adapter as one worker process builds it (``None``: the embedded deployment)."""
        shared = SharedRedis(redis_url, self.namespace) if redis_url else None
        settings = self.settings.model_copy(update=pace)
        return Bitrix24Adapter(settings, self.http, shared=shared)

    async def requests(self) -> list[dict[str, Any]]:
        """The REST requests the portal served so far."""
        received = await self.control.get(f"{self.base}/_control/received")
        served: list[dict[str, Any]] = received.raise_for_status().json()["requests"]
        return [r for r in served if r["path"].startswith("/rest/")]

    async def manager_deal(self) -> int:
        """A deal a manager added in the portal (not the bus)."""
        added = await self.control.post(
            f"{self.base}{BITRIX24_WEBHOOK}/crm.deal.add.json", json={"fields": {"TITLE": "x"}}
        )
        return int(added.raise_for_status().json()["result"])


@pytest.fixture
def namespace() -> Iterator[str]:
    client = redis_or_skip()
    name = f"bus-test-b24-{uuid.uuid4().hex[:8]}"
    yield name
    for key in client.scan_iter(f"{name}:*"):
        client.delete(key)
    client.close()


@pytest.fixture
async def portal(aiohttp_server: Any, namespace: str) -> AsyncIterator[Portal]:
    server = await aiohttp_server(SIMULATORS["bitrix24"]())
    base = str(server.make_url("")).rstrip("/")
    settings = Bitrix24Settings(
        webhook_url=f"{base}{BITRIX24_WEBHOOK}",
        requests_per_second=50.0,
        burst=5,
        retry=RETRY,
        breaker=BREAKER,
    )
    async with (
        httpx.AsyncClient(cookies=cookieless_jar()) as http,
        httpx.AsyncClient(timeout=10) as control,
    ):
        yield Portal(base, settings, namespace, http, control)


def event(deal_id: int, name: str) -> Delivery:
    """``deal.read`` of a Bitrix24 event, as ``/hooks/bitrix24`` journals it."""
    return Delivery(new_id(), "deal.read", {"deal_id": deal_id, "event": name, "ts": "1"})


async def test_the_pace_is_keyed_by_the_portal_without_the_webhook_code(portal: Portal) -> None:
    # Slow enough that the key lives (until the bucket would be empty) while it is looked at.
    adapter = portal.adapter(requests_per_second=0.1)
    try:
        await adapter.call("crm.deal.list", {"select": ["ID"]})
    finally:
        await adapter.aclose()
    with redis.Redis.from_url(REDIS_URL) as client:
        keys = [key.decode() for key in client.scan_iter(f"{portal.namespace}:*")]
    assert keys == [f"{portal.namespace}:pace:bitrix24:{portal.base}"]
    assert "bus-webhook-code" not in portal.base


def test_an_oauth_portal_is_keyed_by_its_address() -> None:
    port = free_port()
    settings = Bitrix24Settings(
        oauth=installed_oauth(f"http://127.0.0.1:{port}", SIMULATORS["bitrix24"]())
    )
    assert portal_address(settings) == f"http://127.0.0.1:{port}"
    webhook = Bitrix24Settings(webhook_url="https://portal.bitrix24.ru/rest/1/s3cr3tcode/")
    assert portal_address(webhook) == "https://portal.bitrix24.ru"


async def test_another_workers_deal_added_event_is_not_read(portal: Portal) -> None:
    creator, reader = portal.adapter(), portal.adapter()
    try:
        created = await creator.deliver(crm_order())
        deal_id = int(created.reference)
        before = len(await portal.requests())
        receipt = await reader.deliver(event(deal_id, "ONCRMDEALADD"))
        assert len(await portal.requests()) == before  # nothing asked of the portal
        assert receipt.skip_next is not None and "added by the bus" in receipt.skip_next
        assert receipt.state is None
        # An update may be anyone's (its rows set, a robot, a manager): it is read.
        updated = await reader.deliver(event(deal_id, "ONCRMDEALUPDATE"))
        assert len(await portal.requests()) == before + 1
        assert updated.skip_next is None and updated.state is not None
    finally:
        await creator.aclose()
        await reader.aclose()


async def test_a_deal_found_after_a_lost_answer_is_the_bus_own_too(portal: Portal) -> None:
    creator, reader = portal.adapter(), portal.adapter()
    delivery = crm_order()
    try:
        await portal.control.post(
            f"{portal.base}/_control/faults",
            json={"mode": "drop_after_commit", "times": 1, "match": "/batch"},
        )
        with pytest.raises(UnknownOutcome):  # the answer was lost: the deal is there
            await creator.deliver(delivery)
        found = await creator.lookup(delivery)  # the next attempt finds it
        assert found is not None
        before = len(await portal.requests())
        receipt = await reader.deliver(event(int(found.reference), "ONCRMDEALADD"))
        assert receipt.skip_next is not None
        assert len(await portal.requests()) == before
    finally:
        await creator.aclose()
        await reader.aclose()


async def test_a_deal_the_bus_did_not_add_is_read(portal: Portal) -> None:
    reader = portal.adapter()
    try:
        deal_id = await portal.manager_deal()
        before = len(await portal.requests())
        receipt = await reader.deliver(event(deal_id, "ONCRMDEALADD"))
        assert len(await portal.requests()) == before + 1
        assert receipt.skip_next == f"deal {deal_id} was not created by the bus for an order"
    finally:
        await reader.aclose()


async def test_embedded_the_process_remembers_its_own_deals(portal: Portal) -> None:
    adapter = portal.adapter(redis_url=None)
    try:
        created = await adapter.deliver(crm_order())
        before = len(await portal.requests())
        receipt = await adapter.deliver(event(int(created.reference), "ONCRMDEALADD"))
        assert receipt.skip_next is not None
        assert len(await portal.requests()) == before
    finally:
        await adapter.aclose()


async def test_without_redis_the_event_is_read_and_the_deal_still_made(portal: Portal) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    creator, reader = portal.adapter(nowhere), portal.adapter(nowhere)
    try:
        created = await creator.deliver(crm_order())  # Redis down fails nothing
        before = len(await portal.requests())
        receipt = await reader.deliver(event(int(created.reference), "ONCRMDEALADD"))
        # Another process cannot know the deal is the bus's own: it reads it, as before.
        assert len(await portal.requests()) == before + 1
        assert receipt.state is not None
    finally:
        await creator.aclose()
        await reader.aclose()
