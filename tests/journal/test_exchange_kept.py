"""How much of an attempt's HTTP exchange the journal keeps (``retention.keep_exchange``), and
``message.get``'s read without attempt bodies."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.adapters.base import Delivery, EntityState, Receipt
from bus.adapters.recording import EVENT_HOOKS
from bus.db import reading, writing
from bus.errors import PermanentError
from bus.journal.accept import Accepted, Command, accept_batch
from bus.journal.queries import get_message
from bus.queues.deliver import Deliverer
from bus.settings import RetentionSettings, Settings


def _answer(request: httpx.Request) -> httpx.Response:
    refused = b"refuse" in request.content
    return httpx.Response(422 if refused else 201, json={"error" if refused else "No": "A-1"})


class PostingAdapter:
    """Posts the payload to a mock ERP over a client with the bus's recording hooks."""

    operations: ClassVar[frozenset[str]] = frozenset({"sales_order.create"})

    def __init__(self) -> None:
        self.client = httpx.AsyncClient(
            transport=httpx.MockTransport(_answer), event_hooks=EVENT_HOOKS
        )

    async def deliver(self, delivery: Delivery) -> Receipt:
        response = await self.client.post("http://erp.test/SalesOrder", json=delivery.payload)
        if response.status_code >= 400:
            raise PermanentError("the ERP refused the order", http_status=response.status_code)
        return Receipt(reference=response.json()["No"])

    def intended_state(self, delivery: Delivery) -> EntityState | None:
        return None

    async def lookup(self, delivery: Delivery) -> Receipt | None:
        return None

    async def aclose(self) -> None:
        await self.client.aclose()


async def _deliver(journal: AsyncEngine, keep: str, order: str) -> dict[str, Any]:
    settings = Settings(retention=RetentionSettings(keep_exchange=keep))

    async def send(_ids: list[str], _delay: int | None) -> None:
        return None

    command = Command(
        method="order.submit",
        source="storefront",
        target="navision",
        operation="sales_order.create",
        payload={"order_id": order},
        idempotency_key=f"k-{keep}-{order}",
        ordering_key=None,
    )
    async with writing(journal) as conn:
        [accepted] = await accept_batch(conn, [command])
    assert isinstance(accepted, Accepted)
    adapter = PostingAdapter()
    try:
        await Deliverer(settings, journal, {"navision": adapter}, send).deliver(accepted.message_id)
    finally:
        await adapter.aclose()
    async with reading(journal) as conn:
        message = await get_message(conn, accepted.message_id)
    assert message is not None
    return message


@pytest.mark.parametrize(
    ("keep", "request_kept", "response_kept"),
    [("all", True, True), ("sent", True, False), ("failed", False, False)],
)
async def test_a_delivered_attempt_keeps_its_bodies_as_configured(
    journal: AsyncEngine, keep: str, request_kept: bool, response_kept: bool
) -> None:
    delivered = await _deliver(journal, keep, "A-1")
    refused = await _deliver(journal, keep, "refuse")

    assert delivered["status"] == "delivered" and refused["status"] == "failed"
    [ok] = delivered["attempts_log"]
    [failed] = refused["attempts_log"]
    # what stays either way: outcome, timing and the HTTP status
    assert (ok["outcome"], ok["http_status"]) == ("delivered", 201) and ok["duration_ms"] > 0
    assert (ok["request"] is not None, ok["response"] is not None) == (request_kept, response_kept)
    if request_kept:  # what was sent: the part of a delivered attempt its result does not hold
        assert ok["request"][0]["body"] == {"order_id": "A-1"}
    if response_kept:
        assert ok["response"][0]["body"] == {"No": "A-1"}
    # a failed attempt keeps what was sent and answered: that is what an operator reads
    assert failed["request"][0]["body"] == {"order_id": "refuse"}
    assert failed["response"][0]["body"] == {"error": "A-1"}


async def test_a_read_without_bodies_leaves_them_out(journal: AsyncEngine) -> None:
    delivered = await _deliver(journal, "all", "B-1")
    async with reading(journal) as conn:
        lean = await get_message(conn, delivered["id"], bodies=False)
    assert lean is not None
    [attempt] = lean["attempts_log"]
    assert "request" not in attempt and "response" not in attempt
    full = delivered["attempts_log"][0]
    assert attempt == {k: v for k, v in full.items() if k not in ("request", "response")}
