"""Requests past their deadline: stuck while they wait, not once done, answered or failed."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import reading, writing
from bus.journal import edits
from bus.journal.accept import Accepted, Command, accept_batch
from bus.journal.deadlines import Deadlines
from bus.journal.delivery import Finish
from bus.journal.ids import utcnow
from bus.journal.queries import MessageFilter, get_message, list_messages
from bus.journal.tables import Status
from tests.journal.test_delivery import claim_one, finish_one

DEADLINES = Deadlines(seconds={"address.request": 60.0, "invoice.request": 60.0})


def _request(method: str, key: str, then: tuple[tuple[str, str], ...] = ()) -> Command:
    return Command(
        method=method,
        source="storefront",
        target="onec",
        operation="account.request" if method == "address.request" else "invoice.create",
        payload={"customer": "10000"},
        idempotency_key=key,
        ordering_key=f"customer:{key}",
        then=then,
        # as its route journals it (bus.handlers.commands.routed_command)
        awaits="request.decided" if method == "address.request" else None,
    )


def _decision(request_id: str, key: str, method: str = "request.decided") -> Command:
    """The ERP's decision about ``request_id`` (accepted as ``_request(..., key)``), as
    ``bus.handlers.requests`` journals it: the request's child, under the request's key."""
    return dataclasses.replace(
        _request("address.request", f"d-{key}"),
        method=method,
        target="storefront",
        operation="request.update",
        ordering_key=f"customer:{key}",
        parent_id=request_id,
        awaits=None,
    )


async def _accept(journal: AsyncEngine, command: Command) -> str:
    async with writing(journal) as conn:
        [accepted] = await accept_batch(conn, [command])
    assert isinstance(accepted, Accepted)
    return accepted.message_id


async def _stuck(journal: AsyncEngine, now: dt.datetime) -> dict[str, bool]:
    """Each message's ``stuck`` as message.get and as the listing say (they must agree)."""
    async with reading(journal) as conn:
        listed = {
            m["id"]
            for m in await list_messages(conn, MessageFilter(condition=DEADLINES.stuck(now)))
        }
        views = {}
        for message in await list_messages(conn, MessageFilter()):
            if message["parent_id"] is None:
                full = await get_message(conn, message["id"])
                assert full is not None
                views[message["id"]] = DEADLINES.view(full, now)["stuck"]
    assert {m for m, stuck in views.items() if stuck} == listed
    return views


async def _deliver(
    journal: AsyncEngine, message_id: str, status: Status = Status.DELIVERED
) -> None:
    claimed = await claim_one(journal, message_id)
    assert claimed is not None
    await finish_one(journal, claimed, Finish(status, result={"reference": "x"}))


async def test_a_request_is_stuck_past_its_deadline_until_the_erp_answers(
    journal: AsyncEngine,
) -> None:
    request = await _accept(journal, _request("address.request", "r-1"))
    later = utcnow() + dt.timedelta(seconds=61)
    assert await _stuck(journal, utcnow()) == {request: False}  # before the deadline
    assert await _stuck(journal, later) == {request: True}  # not even registered
    await _deliver(journal, request)
    assert await _stuck(journal, later) == {request: True}  # registered, not decided
    decision = await _accept(journal, _decision(request, "r-1"))
    assert await _stuck(journal, later) == {request: True}  # decided, the storefront not told
    await _deliver(journal, decision)
    assert await _stuck(journal, later) == {request: False}


async def test_a_document_is_done_when_every_step_is_and_failed_is_not_stuck(
    journal: AsyncEngine,
) -> None:
    chained = _request("invoice.request", "i-1", then=(("storefront", "document.deliver"),))
    invoice = await _accept(journal, chained)
    failing = await _accept(journal, _request("invoice.request", "i-2"))
    later = utcnow() + dt.timedelta(seconds=61)
    await _deliver(journal, invoice)
    await _deliver(journal, failing, Status.FAILED)
    assert await _stuck(journal, later) == {invoice: True, failing: False}  # PDF not delivered
    async with reading(journal) as conn:
        message = await get_message(conn, invoice)
    assert message is not None
    [step] = message["children"]
    await _deliver(journal, step["id"])
    assert await _stuck(journal, later) == {invoice: False, failing: False}


async def _registered(journal: AsyncEngine, key: str) -> str:
    """A request the ERP registered (its step delivered): what a decision may answer."""
    request = await _accept(journal, _request("address.request", key))
    await _deliver(journal, request)
    return request


async def test_of_many_requests_those_still_awaiting_their_answer_are_stuck(
    journal: AsyncEngine,
) -> None:
    requests = [await _registered(journal, f"m-{n}") for n in range(6)]
    for n, request in enumerate(requests[:3]):
        await _deliver(journal, await _accept(journal, _decision(request, f"m-{n}")))
    later = utcnow() + dt.timedelta(seconds=61)
    assert await _stuck(journal, later) == {r: r in requests[3:] for r in requests}
    assert await _stuck(journal, utcnow()) == dict.fromkeys(requests, False)  # none due yet


async def test_an_answer_rolled_back_answers_nothing(journal: AsyncEngine) -> None:
    """The request stops awaiting in the answer's own transaction, or not at all."""
    request = await _registered(journal, "rb-1")
    with pytest.raises(RuntimeError):
        async with writing(journal) as conn:
            [accepted] = await accept_batch(conn, [_decision(request, "rb-1")])
            assert isinstance(accepted, Accepted)
            raise RuntimeError("the transaction fails after the decision was journaled")
    later = utcnow() + dt.timedelta(seconds=61)
    assert await _stuck(journal, later) == {request: True}
    await _deliver(journal, await _accept(journal, _decision(request, "rb-1")))
    assert await _stuck(journal, later) == {request: False}


async def test_a_message_under_a_request_answers_it_only_with_the_awaited_method(
    journal: AsyncEngine,
) -> None:
    request = await _registered(journal, "o-1")
    note = await _accept(journal, _decision(request, "o-1", method="request.noted"))
    await _deliver(journal, note)
    later = utcnow() + dt.timedelta(seconds=61)
    assert await _stuck(journal, later) == {request: True}


async def test_an_edited_request_is_not_stuck_its_edit_waits_in_its_place(
    journal: AsyncEngine,
) -> None:
    """An operator's edit replaces the request (``bus messages edit``): the ERP registers and
    decides the edit, never the original, so the edit is what can be stuck."""
    request = await _accept(journal, _request("address.request", "e-1"))
    await _deliver(journal, request, Status.FAILED)  # the ERP refused it: an operator edits it
    async with writing(journal) as conn:
        row = await edits.original(conn, request)
        done = await edits.edit(
            conn,
            row,
            {"customer": "10001"},
            actor="alice",
            reason="the customer's number was wrong",
            diff="-10000 +10001",
        )
    later = utcnow() + dt.timedelta(seconds=61)
    assert await _stuck(journal, later) == {request: False, done.edited: True}
    await _deliver(journal, done.edited)  # registered by the ERP
    assert await _stuck(journal, later) == {request: False, done.edited: True}  # not decided
    await _deliver(journal, await _accept(journal, _decision(done.edited, "e-1")))
    assert await _stuck(journal, later) == {request: False, done.edited: False}
