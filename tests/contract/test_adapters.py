"""One contract for every adapter, run against its simulator over real HTTP (or SMTP).

Each test is parametrized over every (adapter, simulator) pair of :mod:`tests.contract.pairs`:
success, permanent refusal, 5xx and timeouts, garbage answers, lost answers resolved without a
duplicate, a lookup that finds its own effect and never another message's, rate limits as delays,
session expiry, and the circuit breaker holding and releasing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bus.adapters import Adapter, Delivery, Receipt
from bus.adapters.bitrix24 import Bitrix24Adapter
from bus.db import create_engine, reading, writing
from bus.errors import DeliveryError, PermanentError, TransientError, UnknownOutcome
from bus.journal import circuits
from bus.journal.accept import Command, accept_batch
from bus.journal.tables import Status, messages
from bus.journal.wakes import Wake
from bus.migrate import upgrade
from bus.queues.deliver import Deliverer
from bus.settings import Bitrix24Settings, Settings, TargetSettings
from simulators import SIMULATORS
from tests.contract.pairs import BREAKER, PAIRS, Pair, erp_result, new_id, running

pytestmark = pytest.mark.timeout(60)


@dataclass
class System:
    """A running simulator, its adapter, and a control client."""

    pair: Pair
    base: str
    settings: TargetSettings
    adapter: Adapter
    control: httpx.AsyncClient

    async def fault(self, kind: str, *, on_write: bool = False) -> None:
        """Switch a fault on; ``on_write`` aims it at the request that changes something."""
        path, spec = self.pair.faults[kind]
        if on_write and self.pair.write_path is not None:
            spec = {**spec, "match": self.pair.write_path, "methods": ["POST"]}
        (await self.control.post(self.base + path, json=spec)).raise_for_status()

    async def clear_faults(self) -> None:
        for path in {path for path, _ in self.pair.faults.values()}:
            if path == "/_control/faults":
                await self.control.delete(self.base + path)
            else:
                await self.control.post(self.base + path, json={"mode": "off"})

    async def count(self, delivery: Delivery) -> int:
        return await self.pair.count(self.control, self.base, delivery)

    async def resolve(self, delivery: Delivery) -> Receipt:
        """What the deliverer does on the next attempt: look up first, deliver if absent."""
        return await self.adapter.lookup(delivery) or await self.adapter.deliver(delivery)


@pytest.fixture(params=PAIRS, ids=str)
def pair(request: pytest.FixtureRequest) -> Pair:
    chosen: Pair = request.param
    return chosen


@pytest.fixture
async def system(pair: Pair, aiohttp_server: Any) -> AsyncIterator[System]:
    async with running(pair, aiohttp_server) as served:
        yield System(pair, served.base, served.settings, served.adapter, served.control)


def _with_fault(kind: str) -> list[Any]:
    return [pytest.param(p, id=str(p)) for p in PAIRS if kind in p.faults]


async def test_a_delivery_lands_once(system: System) -> None:
    delivery = system.pair.create()
    receipt = await system.adapter.deliver(delivery)
    assert receipt.reference
    assert await system.count(delivery) == 1


async def test_a_refusal_is_permanent(system: System) -> None:
    if system.pair.refusing_fault is not None:
        path, spec = system.pair.refusing_fault
        (await system.control.post(system.base + path, json=spec)).raise_for_status()
    with pytest.raises(PermanentError) as refused:
        await system.adapter.deliver(system.pair.refused())
    assert refused.value.detail


@pytest.mark.parametrize("pair", _with_fault("server_error"))
async def test_a_server_error_is_transient_and_the_retry_lands_once(system: System) -> None:
    delivery = system.pair.create()
    await system.fault("server_error")
    with pytest.raises(TransientError) as failed:
        await system.adapter.deliver(delivery)
    assert not failed.value.throttled
    await system.resolve(delivery)
    assert await system.count(delivery) == 1


@pytest.mark.parametrize("pair", _with_fault("slow"))
async def test_a_timeout_is_classified_and_resolved_without_a_duplicate(system: System) -> None:
    delivery = system.pair.create()
    await system.fault("slow", on_write=True)
    with pytest.raises((UnknownOutcome, TransientError)) as timed_out:
        await system.adapter.deliver(delivery)
    expected = TransientError if system.pair.idempotent_calls else UnknownOutcome
    assert isinstance(timed_out.value, expected), timed_out.value
    if not system.pair.findable:
        return  # SMTP cannot be asked; the replay's Message-ID lets the receiver deduplicate
    await asyncio.sleep(1.2)  # the slow request lands meanwhile
    await system.resolve(delivery)
    assert await system.count(delivery) == 1


@pytest.mark.parametrize("pair", _with_fault("answer_lost"))
async def test_a_lost_answer_is_looked_up_not_repeated(system: System) -> None:
    delivery = system.pair.create()
    await system.fault("answer_lost", on_write=True)
    with pytest.raises((UnknownOutcome, TransientError)) as lost:
        await system.adapter.deliver(delivery)
    expected = TransientError if system.pair.idempotent_calls else UnknownOutcome
    assert isinstance(lost.value, expected), lost.value
    await system.resolve(delivery)
    assert await system.count(delivery) == 1


#: The pairs whose effects belong to a storefront order and can be looked up: an order's id is a
#: business id that more than one message can carry.
_ORDER_PAIRS = [p for p in PAIRS if p.findable and "order_id" in p.create().payload]


def _same_order(delivery: Delivery) -> Delivery:
    """Another message about the same storefront order, with only its first line (so an
    effect overwritten with this message's content shows in the other's count)."""
    payload = {**delivery.payload, "lines": delivery.payload["lines"][:1]}
    # A CRM order's rows are its ERP receipt's: the other message's receipt has the one line.
    previous = delivery.previous and erp_result(payload)
    return Delivery(new_id(), delivery.operation, payload, previous)


@pytest.mark.parametrize("pair", _ORDER_PAIRS, ids=str)
async def test_lookup_never_adopts_another_messages_effect(system: System) -> None:
    """An attempt that may have landed, for an order another message already delivered: the
    lookup finds nothing of its own, leaves the other's effect as it was, and the retry lands."""
    first = system.pair.create()
    await system.adapter.deliver(first)
    second = _same_order(first)
    assert await system.adapter.lookup(second) is None
    assert await system.count(first) == 1  # still whole: not overwritten with second's lines
    assert await system.count(second) == 0
    await system.resolve(second)
    assert await system.count(first) == 1
    assert await system.count(second) == 1


@pytest.mark.parametrize(
    "pair",
    [p for p in _ORDER_PAIRS if not p.idempotent_calls and "answer_lost" in p.faults],
    ids=str,
)
async def test_after_a_lost_answer_lookup_finds_exactly_its_own_effect(system: System) -> None:
    """Two messages' effects for one order: each message's lookup finds its own."""
    first = system.pair.create()
    await system.fault("answer_lost", on_write=True)
    with pytest.raises(UnknownOutcome):
        await system.adapter.deliver(first)
    second = _same_order(first)
    other = await system.adapter.deliver(second)
    found = await system.adapter.lookup(first)
    assert found is not None and found.reference != other.reference
    assert await system.adapter.lookup(first) == found  # looking again finds the same
    assert await system.adapter.lookup(second) == other
    assert await system.count(first) == 1
    assert await system.count(second) == 1


@pytest.mark.parametrize("pair", _with_fault("html_error_page"))
async def test_an_html_error_page_is_a_transient_error(system: System) -> None:
    delivery = system.pair.create()
    await system.fault("html_error_page")
    with pytest.raises(TransientError) as failed:
        await system.adapter.deliver(delivery)
    assert "502" in failed.value.detail
    await system.resolve(delivery)
    assert await system.count(delivery) == 1


@pytest.mark.parametrize("pair", _with_fault("truncated_json"))
async def test_a_truncated_answer_is_classified_not_raised(system: System) -> None:
    delivery = system.pair.create()
    await system.fault("truncated_json")
    with pytest.raises(DeliveryError) as garbled:
        await system.adapter.deliver(delivery)
    assert isinstance(garbled.value, (UnknownOutcome, TransientError)), garbled.value
    await system.resolve(delivery)
    assert await system.count(delivery) == 1


@pytest.mark.parametrize("pair", _with_fault("rate_limit"))
async def test_a_rate_limit_is_a_delay_not_a_counted_attempt(system: System) -> None:
    delivery = system.pair.create()
    await system.fault("rate_limit")
    try:
        await system.adapter.deliver(delivery)  # an adapter may wait within the attempt
    except TransientError as throttled:
        assert throttled.throttled
        assert throttled.retry_after == 1
        await system.resolve(delivery)
    assert await system.count(delivery) == 1


@pytest.mark.parametrize("pair", _with_fault("query_limit"))
async def test_an_overflowing_bucket_waits_within_the_attempt(system: System) -> None:
    delivery = system.pair.create()
    await system.fault("query_limit")
    await system.adapter.deliver(delivery)  # two 503s, then it lands: no attempt lost
    assert await system.count(delivery) == 1


async def test_bitrix24_requests_keep_the_configured_pace(aiohttp_server: Any) -> None:
    """Ten calls at 20 requests/s with a burst of 2 take at least (10 - 2) / 20 s."""
    server = await aiohttp_server(SIMULATORS["bitrix24"]())
    webhook = str(server.make_url("/rest/1/bus-webhook-code"))
    settings = Bitrix24Settings(
        webhook_url=webhook,  # type: ignore[arg-type]  # pydantic coerces str
        requests_per_second=20.0,
        burst=2,
    )
    async with httpx.AsyncClient() as client:
        adapter = Bitrix24Adapter(settings, client)
        started = time.perf_counter()
        for _ in range(10):
            await adapter.call("crm.deal.list", {"select": ["ID"]})
        elapsed = time.perf_counter() - started
    assert elapsed >= (10 - 2) / 20 * 0.9


@pytest.mark.parametrize("pair", [p for p in PAIRS if p.expire_session], ids=str)
async def test_an_expired_session_is_renewed_without_losing_the_message(system: System) -> None:
    await system.adapter.deliver(system.pair.create())
    (await system.control.post(system.base + str(system.pair.expire_session))).raise_for_status()
    delivery = system.pair.create()
    await system.adapter.deliver(delivery)
    received = (await system.control.get(system.base + "/_control/received")).json()
    logins = [r for r in received["requests"] if r["path"] == system.pair.login_path]
    assert len(logins) == 2  # the first, and one after the expiry
    assert await system.count(delivery) == 1


async def test_the_breaker_holds_while_the_target_is_down_and_releases_after(
    system: System, tmp_path: Path
) -> None:
    """Two failures open the breaker; the next message is held with no attempt counted; after
    the cooldown one held message probes, and its success releases the others."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    target = system.pair.simulator
    woken: list[Wake] = []

    async def send(wakes: list[Wake], delay_ms: int | None) -> None:
        woken.extend(wakes)

    settings = Settings(**{target: system.settings})  # type: ignore[arg-type]
    deliverer = Deliverer(settings, engine, {target: system.adapter}, send)
    deliveries = [system.pair.create() for _ in range(3)]
    async with writing(engine) as conn:
        accepted = await accept_batch(
            conn,
            [Command("contract", "tests", target, d.operation, d.payload) for d in deliveries],
        )
    ids = [outcome.message_id for outcome in accepted]  # type: ignore[union-attr]
    try:
        await system.fault("down")
        assert await deliverer.deliver(ids[0]) in (Status.RETRY_WAIT, Status.UNKNOWN_OUTCOME)
        assert await deliverer.deliver(ids[1]) in (Status.RETRY_WAIT, Status.UNKNOWN_OUTCOME)
        assert await deliverer.deliver(ids[2]) is Status.HELD
        assert (await _message(engine, ids[2]))["attempts"] == 0
        await system.clear_faults()
        await asyncio.sleep(BREAKER.cooldown + 0.1)
        async with writing(engine) as conn:
            probe = await circuits.probe_candidates(conn)
        assert len(probe) == 1
        assert await deliverer.deliver(probe[0].message_id) is Status.DELIVERED
        for message_id in ids:
            while (await _message(engine, message_id))["status"] != Status.DELIVERED:
                await asyncio.sleep(0.05)  # retry_wait backoff of the failed ones
                await deliverer.deliver(message_id)
        # Released messages were woken, each on its target's queue.
        assert set(ids) - {probe[0].message_id} <= {wake.message_id for wake in woken}
        assert {wake.target for wake in woken} == {target}
        for message_id, delivery in zip(ids, deliveries, strict=True):
            landed = Delivery(message_id, delivery.operation, delivery.payload)
            assert await system.count(landed) == 1
    finally:
        await engine.dispose()


async def _message(engine: Any, message_id: str) -> dict[str, Any]:
    async with reading(engine) as conn:
        row = (await conn.execute(select(messages).where(messages.c.id == message_id))).one()
    return dict(row._mapping)
