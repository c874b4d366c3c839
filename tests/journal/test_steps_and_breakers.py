"""Route steps, circuit breakers, entity states and rotating credentials, on both backends."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.adapters import EntityState
from bus.db import reading, writing
from bus.journal import circuits
from bus.journal.accept import Accepted, Branch, accept_batch
from bus.journal.credentials import JournalSecrets
from bus.journal.delivery import Finish, step_input
from bus.journal.entity_states import ECHO_WINDOW, known, remember
from bus.journal.ids import utcnow
from bus.journal.tables import Status, entity_states, messages
from bus.journal.wakes import Wake
from bus.settings import BreakerSettings
from tests.journal.test_accept import command
from tests.journal.test_delivery import claim_one, finish_one

BREAKER = BreakerSettings(failure_threshold=2, cooldown=0.2, max_cooldown=1.0)


async def test_the_steps_of_a_route_are_journaled_together_and_run_in_order(
    journal: AsyncEngine,
) -> None:
    chained = dataclasses.replace(command("k-1", order="B-1"), then=(("bitrix24", "order.create"),))
    async with writing(journal) as conn:
        [first] = await accept_batch(conn, [chained])
        [repeat] = await accept_batch(conn, [chained], check_existing=True)
    assert isinstance(first, Accepted) and isinstance(repeat, Accepted)
    assert repeat.message_id == first.message_id and not repeat.created
    async with reading(journal) as conn:
        rows = (await conn.execute(select(messages).order_by(messages.c.ordering_seq))).all()
    assert [(r.target, r.status, r.parent_id) for r in rows] == [
        ("navision", "accepted", None),
        ("bitrix24", "blocked", first.message_id),
    ]
    claimed = await claim_one(journal, first.message_id)
    assert claimed is not None
    result = {"reference": "101001"}
    promoted = await finish_one(journal, claimed, Finish(Status.DELIVERED, result=result))
    assert promoted == rows[1].id
    async with reading(journal) as conn:
        assert await step_input(conn, promoted, first.message_id) == (Status.DELIVERED, result)


async def test_a_split_is_delivered_at_accept_and_its_branches_run_side_by_side(
    journal: AsyncEngine,
) -> None:
    steps = (("bitrix24", "order.create"), ("mail", "mail.order_waiting"))
    split = dataclasses.replace(
        command("k-split", order="S-1"),
        target="bus",
        operation="order.split",
        branches=(
            Branch("D-W", {"order_id": "S-1/D-W"}, steps),
            Branch("D-A", {"order_id": "S-1/D-A"}, steps),
        ),
        done={"route": "by_contract"},
    )
    async with writing(journal) as conn:
        [parent] = await accept_batch(conn, [split])
        [repeat] = await accept_batch(conn, [split], check_existing=True)
    assert isinstance(parent, Accepted) and isinstance(repeat, Accepted)
    assert parent.status is Status.DELIVERED and repeat.message_id == parent.message_id
    async with reading(journal) as conn:
        rows = (await conn.execute(select(messages).order_by(messages.c.id))).all()
    by_key = {(r.ordering_key, r.operation): r for r in rows}
    assert {(r.ordering_key, r.target, r.status) for r in rows} == {
        (None, "bus", "delivered"),
        ("order:S-1/D-W", "bitrix24", "accepted"),
        ("order:S-1/D-W", "mail", "blocked"),
        ("order:S-1/D-A", "bitrix24", "accepted"),
        ("order:S-1/D-A", "mail", "blocked"),
    }
    heads = {by_key[(f"order:S-1/{b}", "order.create")].id for b in ("D-W", "D-A")}
    # both orders may run now, not the parent; each woken on its target's queue
    assert set(parent.runnable) == {Wake(head, "bitrix24", "order.create") for head in heads}
    assert by_key[(None, "order.split")].result == {"route": "by_contract"}
    # A branch's head has no step before it; its mail sees the head's result, not the other's.
    water = by_key[("order:S-1/D-W", "order.create")]
    async with reading(journal) as conn:
        assert await step_input(conn, water.id, parent.message_id) is None
    claimed = await claim_one(journal, water.id)
    assert claimed is not None
    result = {"reference": "deal-7"}
    promoted = await finish_one(journal, claimed, Finish(Status.DELIVERED, result=result))
    mail = by_key[("order:S-1/D-W", "mail.order_waiting")]
    assert promoted == mail.id
    async with reading(journal) as conn:
        assert await step_input(conn, mail.id, parent.message_id) == (Status.DELIVERED, result)


async def test_the_breaker_opens_at_the_threshold_and_one_probe_releases_the_held(
    journal: AsyncEngine,
) -> None:
    async with writing(journal) as conn:
        outcomes = await accept_batch(conn, [command(order=f"H-{n}") for n in range(3)])
    ids = [o.message_id for o in outcomes if isinstance(o, Accepted)]
    async with writing(journal) as conn:
        first = await circuits.record_failure(conn, "navision", BREAKER, probing=False)
        second = await circuits.record_failure(conn, "navision", BREAKER, probing=False)
    assert not first.is_open and second.is_open
    for message_id in ids:
        claimed = await claim_one(journal, message_id)
        assert claimed is not None
        async with writing(journal) as conn:
            admitted, _ = await circuits.admit(
                conn, message_id, claimed.attempt, "navision", BREAKER
            )
        assert admitted is circuits.Admission.HOLD
    async with reading(journal) as conn:
        held = (await conn.execute(select(messages.c.status, messages.c.attempts))).all()
    assert sorted(held) == [("held", 0)] * 3  # no attempt spent
    async with writing(journal) as conn:
        assert await circuits.probe_candidates(conn) == []  # not before the cooldown
    await asyncio.sleep(BREAKER.cooldown + 0.05)
    async with writing(journal) as conn:
        [(probe, target, _)] = await circuits.probe_candidates(conn)
    assert target == "navision"
    claimed_probe = await claim_one(journal, probe)
    assert claimed_probe is not None
    async with writing(journal) as conn:
        admitted, _ = await circuits.admit(conn, probe, claimed_probe.attempt, "navision", BREAKER)
    assert admitted is circuits.Admission.PROBE
    async with writing(journal) as conn:  # one probe at a time: a second claim is held
        await conn.execute(update(messages).where(messages.c.id == probe).values(status="accepted"))
    again = await claim_one(journal, probe)
    assert again is not None
    async with writing(journal) as conn:
        admitted, _ = await circuits.admit(conn, probe, again.attempt, "navision", BREAKER)
    assert admitted is circuits.Admission.HOLD
    async with writing(journal) as conn:
        await conn.execute(
            update(messages).where(messages.c.id == probe).values(status="delivered")
        )
    async with writing(journal) as conn:
        released = await circuits.record_success(conn, "navision", BREAKER)
        state = await circuits.read(conn, "navision")
    assert sorted(released) == sorted(
        Wake(held, "navision", "sales_order.create") for held in set(ids) - {probe}
    )
    assert not state.is_open and state.failures == 0


async def test_a_failed_probe_doubles_the_cooldown(journal: AsyncEngine) -> None:
    async with writing(journal) as conn:
        for _ in range(2):
            await circuits.record_failure(conn, "creatio", BREAKER, probing=False)
        reopened = await circuits.record_failure(conn, "creatio", BREAKER, probing=True)
        cooldown = (await conn.execute(select(circuits.circuits.c.cooldown))).scalar_one()
    assert reopened.is_open
    assert cooldown == BREAKER.cooldown * 2


async def test_entity_states_are_the_newest_and_those_just_before_it(journal: AsyncEngine) -> None:
    states = [EntityState.of("order:1", {"status": s}) for s in ("new", "shipped", "delivered")]
    async with writing(journal) as conn:
        for state in states:
            await remember(conn, state)
        await remember(conn, states[-1])  # again: it stays the newest, nothing else moves
    async with reading(journal) as conn:
        assert await known(conn, "order:1") == {s.fingerprint for s in states}
        assert await known(conn, "order:2") == frozenset()
    # Superseded longer ago than the echo window: no longer the bus's own.
    async with writing(journal) as conn:
        stale = (utcnow() - ECHO_WINDOW - dt.timedelta(seconds=1)).isoformat()
        earlier = [[states[1].fingerprint, stale], [states[0].fingerprint, stale]]
        await conn.execute(
            update(entity_states).where(entity_states.c.entity == "order:1").values(earlier=earlier)
        )
    async with reading(journal) as conn:
        assert await known(conn, "order:1") == {states[-1].fingerprint}


async def test_credentials_keep_the_newest(journal: AsyncEngine) -> None:
    secrets = JournalSecrets(journal)
    await secrets.put("bitrix24-oauth", {"refresh_token": "one"})
    await secrets.put("bitrix24-oauth", {"refresh_token": "two"})
    assert await secrets.get("bitrix24-oauth") == {"refresh_token": "two"}


async def test_a_repeat_is_recognised_by_what_was_sent_not_by_the_adjusted_payload(
    journal: AsyncEngine,
) -> None:
    sent = command("k-adjusted", order="C-1")
    before_cutoff = dataclasses.replace(
        sent, payload={**sent.payload, "delivery": {"date": "2026-11-24"}}, sent=sent.payload
    )
    after_cutoff = dataclasses.replace(
        sent, payload={**sent.payload, "delivery": {"date": "2026-11-25"}}, sent=sent.payload
    )
    async with writing(journal) as conn:
        [first] = await accept_batch(conn, [before_cutoff])
    async with writing(journal) as conn:
        [again] = await accept_batch(conn, [after_cutoff], check_existing=True)
    assert isinstance(first, Accepted) and isinstance(again, Accepted)
    assert again.message_id == first.message_id and not again.created
