"""Edit-and-replay: an edited payload is journaled as a new message in the original's place; the
original is ``edited`` and never runs; a wrong edit is refused naming the field, changing nothing.
On SQLite and on PostgreSQL."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bus import editing
from bus.db import reading, writing
from bus.errors import InvalidParams, InvalidTransition
from bus.journal import operator
from bus.journal.accept import Accepted, Command, accept_batch
from bus.journal.delivery import Finish, step_input
from bus.journal.queries import get_message
from bus.journal.tables import Status, messages, ordering_keys
from bus.settings import Settings
from tests.journal.test_delivery import assert_open_counts_match, claim_one, finish_one

SETTINGS = Settings()


def order(order_id: str = "A-1", quantity: float = 2, **extra: Any) -> Command:
    """An order for NAV, then Bitrix24, as order routing journals it (a routed order)."""
    payload = {
        "order_id": order_id,
        "customer": "10000",
        "lines": [{"item": "1000", "quantity": quantity, "unit": None}],
        **extra,
    }
    return Command(
        method="order.submit",
        source="storefront",
        target="navision",
        operation="sales_order.create",
        payload=payload,
        idempotency_key=f"order:{order_id}",
        ordering_key=f"order:{order_id}",
        then=(("bitrix24", "order.create"),),
    )


def shipped(order_id: str = "A-1") -> Command:
    """The ERP's status change of the order: it waits behind the order's steps."""
    return Command(
        method="order.status_changed",
        source="erp",
        target="storefront",
        operation="order.update",
        payload={"order_id": order_id, "status": "shipped", "erp_number": None, "changed_at": None},
        ordering_key=f"order:{order_id}",
    )


async def failed_order(journal: AsyncEngine, **extra: Any) -> tuple[str, str, str]:
    """A failed order whose CRM step and a later status change wait behind it: their ids."""
    async with writing(journal) as conn:
        first, change = await accept_batch(conn, [order(**extra), shipped()])
        assert isinstance(first, Accepted) and isinstance(change, Accepted)
        message = await get_message(conn, first.message_id)
    assert message is not None
    [crm_step] = [child["id"] for child in message["children"]]
    claimed = await claim_one(journal, first.message_id)
    assert claimed is not None
    await finish_one(journal, claimed, Finish(Status.FAILED, error="400 item 1000 blocked"))
    return first.message_id, crm_step, change.message_id


async def read(journal: AsyncEngine, message_id: str) -> dict[str, Any]:
    async with reading(journal) as conn:
        message = await get_message(conn, message_id)
    assert message is not None
    return message


def with_quantity(payload: dict[str, Any], quantity: Any) -> dict[str, Any]:
    edited = copy.deepcopy(payload)
    edited["lines"][0]["quantity"] = quantity
    return edited


async def test_the_edit_takes_the_failed_orders_place_and_what_waited_follows_it(
    journal: AsyncEngine,
) -> None:
    original, crm_step, change = await failed_order(journal)
    payload = (await read(journal, original))["payload"]

    done = await editing.edit(
        SETTINGS,
        journal,
        original,
        with_quantity(payload, 3),
        actor="alice",
        reason="item 1000 comes in threes",
    )

    assert done.original == original and done.status == "accepted"
    assert '-      "quantity": 2,' in done.diff and '+      "quantity": 3,' in done.diff
    assert done.carried == (crm_step,)
    before, edit, step = [await read(journal, m) for m in (original, done.edited, crm_step)]
    assert before["status"] == "edited" and before["payload"] == payload  # kept as it was
    assert (edit["status"], edit["edited_from"], edit["attempts_total"]) == (
        "accepted",
        original,
        0,
    )
    assert edit["payload"] == with_quantity(payload, 3)
    assert (edit["ordering_key"], edit["ordering_seq"]) == (
        before["ordering_key"],
        before["ordering_seq"],
    )
    # the CRM step carries the edited order and follows the edit; the change still waits
    assert (step["parent_id"], step["payload"], step["status"]) == (
        done.edited,
        edit["payload"],
        "blocked",
    )
    assert (await read(journal, change))["status"] == "blocked"
    assert step["blocked_by"] == {"id": done.edited, "status": "accepted"}
    # who, why and the diff, seen from both sides
    [action] = before["actions"]
    assert (action["action"], action["actor"], action["reason"]) == (
        "edit",
        "alice",
        "item 1000 comes in threes",
    )
    assert action["detail"]["edited_as"] == done.edited and action["detail"]["diff"] == done.diff
    assert before["edit"]["edited"] == done.edited
    assert edit["edit"]["original"] == original and edit["edit"]["diff"] == done.diff
    await assert_open_counts_match(journal)

    # the edit runs; the CRM step reads the edit's result, then the change runs
    claimed = await claim_one(journal, done.edited)
    assert claimed is not None and claimed.attempt == 1
    result = {"reference": "SO-1"}
    assert await finish_one(journal, claimed, Finish(Status.DELIVERED, result=result)) == crm_step
    async with reading(journal) as conn:
        assert await step_input(conn, crm_step, done.edited) == (Status.DELIVERED, result)
    claimed = await claim_one(journal, crm_step)
    assert claimed is not None
    assert await finish_one(journal, claimed, Finish(Status.DELIVERED, result={})) == change
    assert await claim_one(journal, original) is None  # the original never runs


async def test_a_wrong_edit_is_refused_naming_each_field_and_changes_nothing(
    journal: AsyncEngine,
) -> None:
    original, _, _ = await failed_order(journal)
    payload = (await read(journal, original))["payload"]
    wrong = with_quantity(payload, -1)
    wrong["lines"][0]["quantiy"] = 3  # a typo: the schema would drop it
    wrong["order_id"] = "A-2"

    with pytest.raises(InvalidParams) as refused:
        await editing.edit(SETTINGS, journal, original, wrong, actor="alice", reason="oops")

    fields = {(f["field"], f["type"]) for f in refused.value.data["fields"]}
    assert ("lines.0.quantity", "greater_than") in fields
    assert ("order_id", "fixed_field") in fields
    with pytest.raises(InvalidParams) as typo:
        typo_only = with_quantity(payload, 3)
        typo_only["lines"][0]["quantiy"] = 3
        await editing.edit(SETTINGS, journal, original, typo_only, actor="alice", reason="oops")
    assert [(f["field"], f["type"]) for f in typo.value.data["fields"]] == [
        ("lines.0.quantiy", "extra_forbidden")
    ]
    with pytest.raises(InvalidParams, match="Invalid params"):
        await editing.edit(SETTINGS, journal, original, payload, actor="alice", reason="same")
    untouched = await read(journal, original)
    assert (untouched["status"], untouched["payload"], untouched["actions"]) == (
        "failed",
        payload,
        [],
    )
    async with reading(journal) as conn:
        assert await conn.scalar(select(func.count()).select_from(messages)) == 3


async def test_only_a_message_waiting_for_an_operator_or_a_retry_is_edited_and_only_once(
    journal: AsyncEngine,
) -> None:
    original, crm_step, _ = await failed_order(journal)
    payload = (await read(journal, original))["payload"]
    with pytest.raises(InvalidTransition):  # blocked behind the order: not its turn
        await editing.edit(
            SETTINGS, journal, crm_step, with_quantity(payload, 3), actor="a", reason="r"
        )
    done = await editing.edit(
        SETTINGS, journal, original, with_quantity(payload, 3), actor="a", reason="r"
    )
    with pytest.raises(InvalidTransition) as again:  # the edited original: act on its edit
        await editing.edit(
            SETTINGS, journal, original, with_quantity(payload, 4), actor="a", reason="r"
        )
    assert again.value.data["status"] == "edited"
    async with writing(journal) as conn:  # nor replayed, nor cancelled: it must never run
        with pytest.raises(InvalidTransition):
            await operator.replay(conn, original, actor="a", reason="r")
        with pytest.raises(InvalidTransition):
            await operator.cancel(conn, original, actor="a", reason="r")
    assert (await read(journal, done.edited))["status"] == "accepted"


async def test_a_secret_the_editor_showed_hidden_keeps_its_value(journal: AsyncEngine) -> None:
    original, _, _ = await failed_order(journal, comment="courier: Bearer s3cr3tT0ken")
    shown = await editing.shown_payload(journal, original)
    assert shown["comment"] == "courier: Bearer ***"

    done = await editing.edit(
        SETTINGS, journal, original, with_quantity(shown, 3), actor="a", reason="three"
    )

    edit = await read(journal, done.edited)
    assert edit["payload"]["comment"] == "courier: Bearer s3cr3tT0ken"
    assert "s3cr3tT0ken" not in done.diff


async def test_the_storefront_hears_its_order_was_edited_and_by_which_message(
    journal: AsyncEngine,
) -> None:
    original, _, _ = await failed_order(journal)
    payload = (await read(journal, original))["payload"]
    done = await editing.edit(
        SETTINGS, journal, original, with_quantity(payload, 3), actor="a", reason="three"
    )
    async with reading(journal) as conn:
        notices = (
            await conn.execute(
                select(messages.c.payload).where(
                    messages.c.method == "message.status", messages.c.parent_id == original
                )
            )
        ).scalars()
        told = [n for n in notices if n.get("action") == "edit"]
        keys = await conn.scalar(select(func.count()).select_from(ordering_keys))
    assert [(n["status"], n["edited_as"], n["reason"]) for n in told] == [
        ("edited", done.edited, "three")
    ]
    assert keys == 2  # the order's and its notices'
