"""Ordering keys as narrow as the business needs, on both backends (DESIGN.md §4).

The messages are journaled with the keys their routes give them (``bus.routing``; order.submit's
as ``bus.handlers.orders`` gives it, a decision's as ``bus.handlers.requests`` does): a permanent
failure holds only the messages that really depend on the failed one, and those still wait.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import reading, writing
from bus.journal.accept import Accepted, Command, accept_batch
from bus.journal.delivery import Finish
from bus.journal.queries import get_message
from bus.journal.tables import Status
from bus.routing import ROUTES
from tests.journal.test_delivery import claim_one, finish_one, status_of

CUSTOMER = "50000"
DELIVERED = Finish(Status.DELIVERED, result={"reference": "1"})


def routed(method: str, payload: dict[str, Any], ordering_key: str | None = None) -> Command:
    """``method``'s command as the bus journals it: its route's steps (roles stand in for the
    systems) and the key its route renders, unless ``ordering_key`` overrides it. Every flow of
    ``[ownership]`` is carried (the default); a step only for some params is there for those."""
    route = ROUTES[method]
    (first, *rest) = (step for step in route.steps if step.applies(payload))
    return Command(
        method=method,
        source="test",
        target=first.role,
        operation=first.operation,
        payload=payload,
        ordering_key=route.key_for(payload) if ordering_key is None else ordering_key,
        then=tuple((step.role, step.operation) for step in rest),
    )


async def accept(engine: AsyncEngine, command: Command) -> Accepted:
    async with writing(engine) as conn:
        [outcome] = await accept_batch(conn, [command])
    assert isinstance(outcome, Accepted)
    return outcome


async def run(engine: AsyncEngine, message_id: str, outcome: Finish = DELIVERED) -> str | None:
    """Deliver (or fail) ``message_id``; the message its finish promoted."""
    claimed = await claim_one(engine, message_id)
    assert claimed is not None, f"{message_id} is not runnable"
    return await finish_one(engine, claimed, outcome)


async def key_of(engine: AsyncEngine, message_id: str) -> str | None:
    async with reading(engine) as conn:
        message = await get_message(conn, message_id)
    assert message is not None
    return message["ordering_key"]  # type: ignore[no-any-return]


async def test_a_failed_invoice_holds_none_of_the_customers_other_messages(
    journal: AsyncEngine,
) -> None:
    invoice = await accept(journal, routed("invoice.request", {"customer": CUSTOMER, "amount": 1}))
    await run(journal, invoice.message_id, Finish(Status.FAILED, error="refused"))

    created = await accept(journal, routed("account.create", {"erp_key": CUSTOMER}))
    deactivated = await accept(journal, routed("account.deactivate", {"erp_key": CUSTOMER}))
    act = await accept(
        journal,
        routed("reconciliation.request", {"customer": CUSTOMER, "year": 2025, "quarter": 1}),
    )
    asked = {"customer": CUSTOMER, "kind": "delivery_address", "details": {"address": "Pier 7"}}
    request = await accept(journal, routed("address.request", asked))
    other = await accept(journal, routed("employee.request", {**asked, "kind": "employee"}))
    # The decision takes its request's key, as the request.decided handler gives it.
    decision = await accept(
        journal,
        routed(
            "request.decided",
            {**asked, "request_id": request.message_id, "decision": "approved"},
            ordering_key=await key_of(journal, request.message_id),
        ),
    )

    assert {
        name: outcome.status
        for name, outcome in {
            "create": created,
            "deactivate": deactivated,
            "act": act,
            "request": request,
            "other request": other,
            "decision": decision,
        }.items()
    } == {
        "create": Status.ACCEPTED,  # the failed invoice holds none of these
        "deactivate": Status.BLOCKED,  # behind its create
        "act": Status.ACCEPTED,
        "request": Status.ACCEPTED,
        "other request": Status.ACCEPTED,  # requests do not queue behind each other
        "decision": Status.BLOCKED,  # behind its request, and nothing else
    }
    assert await run(journal, request.message_id) == decision.message_id
    assert await run(journal, decision.message_id) is None
    assert await status_of(journal, invoice.message_id) == Status.FAILED

    # The account's lifecycle stays in order: the deactivate runs after the create's last step.
    async with reading(journal) as conn:
        message = await get_message(conn, created.message_id)
    assert message is not None
    steps = [created.message_id, *(child["id"] for child in message["children"])]
    for step in steps:
        assert await status_of(journal, deactivated.message_id) == Status.BLOCKED
        await run(journal, step)
    assert await status_of(journal, deactivated.message_id) == Status.ACCEPTED


async def test_an_orders_failure_holds_only_that_orders_changes(journal: AsyncEngine) -> None:
    def submit(order_id: str) -> Command:
        # As bus.handlers.orders journals an order to the ERP: keyed by its id.
        return Command(
            method="order.submit",
            source="test",
            target="erp",
            operation="sales_order.create",
            payload={"order_id": order_id, "customer": CUSTOMER, "lines": []},
            ordering_key=f"order:{order_id}",
        )

    def changed(order_id: str) -> Command:
        return routed("order.status_changed", {"order_id": order_id, "status": "shipped"})

    failed = await accept(journal, submit("K-1"))
    await run(journal, failed.message_id, Finish(Status.FAILED, error="refused"))
    held = await accept(journal, changed("K-1"))
    free = await accept(journal, changed("K-2"))
    assert (held.status, free.status) == (Status.BLOCKED, Status.ACCEPTED)

    # An accepted merge is keyed by its new order: that order's changes wait for it.
    merge = {
        "customer": CUSTOMER,
        "orders": ["K-2", "K-3"],
        "outcome": "accepted",
        "new_order": {"order_id": "K-4", "status": "created_in_reserve", "lines": []},
    }
    merged = await accept(journal, routed("order.merge", merge))
    provided = await accept(journal, changed("K-4"))
    assert (merged.status, provided.status) == (Status.ACCEPTED, Status.BLOCKED)
    promoted = await run(journal, merged.message_id)
    while promoted != provided.message_id:  # the merge's own steps first (the CRM's new order)
        assert promoted is not None
        promoted = await run(journal, promoted)
    # A rejected one changes no order and holds nothing.
    rejected = {**merge, "outcome": "rejected", "new_order": None}
    refused = await accept(journal, routed("order.merge", rejected))
    assert refused.status == Status.ACCEPTED
    assert await key_of(journal, refused.message_id) is None
