"""Which notices a finished attempt journals (bus.queues.notify), and that none is doubled."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import writing
from bus.journal.accept import Accepted, accept_batch
from bus.journal.customers import CustomerDirectory
from bus.journal.delivery import Claim, Finish
from bus.journal.notices import failure_notice
from bus.journal.tables import Status
from bus.queues.notify import Notifier
from bus.settings import Settings, StorefrontSettings
from schemas.notices import MAX_REASON
from tests.journal.test_delivery import accepted_ids, claim_one

MANAGER = {"name": "Irina Volkova", "email": "irina.volkova@b2b.example"}
REFUSED = Finish(Status.FAILED, error="navision answered 400: Item 1005 is blocked")


def _claim(method: str, payload: dict[str, Any], **fields: Any) -> Claim:
    values: dict[str, Any] = {
        "message_id": "01JTESTSTEP000000000000000",
        "method": method,
        "target": "navision",
        "operation": "sales_order.create",
        "payload": payload,
        "attempt": 3,
        "attempt_in_cycle": 3,
        "cycle_started_at": dt.datetime.now(dt.UTC),
        "ordering_key": "order:A-1",
        "source": "storefront",
        **fields,
    }
    return Claim(**values)


ORDER = {"order_id": "A-1", "customer": "10000", "lines": [], "manager": MANAGER}


def _notifier(journal: AsyncEngine, notify: Literal["none", "failures", "all"]) -> Notifier:
    settings = Settings(storefront=StorefrontSettings(notify=notify))
    return Notifier(settings, journal)


async def test_a_failed_order_step_tells_the_storefront_the_manager_and_the_crm(
    journal: AsyncEngine,
) -> None:
    told = await _notifier(journal, "failures").follow_ups(
        _claim("order.submit", ORDER), REFUSED, None
    )
    assert [(c.target, c.operation) for c in told] == [
        ("storefront", "message.status"),
        ("mail", "mail.failure_report"),
        ("bitrix24", "failure.report"),
    ]
    notice, mail, crm = (c.payload for c in told)
    assert (notice["status"], notice["order_id"], notice["reason"]) == (
        "failed",
        "A-1",
        REFUSED.error,
    )
    assert mail == crm and mail["manager"] == MANAGER and mail["subject"] == "order"
    assert (mail["step"], mail["operation"], mail["reason"]) == (
        "01JTESTSTEP000000000000000",
        "sales_order.create",
        REFUSED.error,
    )


async def test_the_storefront_hears_nothing_with_none_but_the_people_are_told(
    journal: AsyncEngine,
) -> None:
    told = await _notifier(journal, "none").follow_ups(_claim("order.submit", ORDER), REFUSED, None)
    assert [c.operation for c in told] == ["mail.failure_report", "failure.report"]


async def test_a_delivered_step_is_told_only_with_all_and_carries_the_erp_number(
    journal: AsyncEngine,
) -> None:
    receipt = {
        "system": "navision",
        "number": "SO-1042",
        "currency": "LCY",
        "lines": [{"item": "1000", "quantity": 6, "unit": "BOTTLE", "price": 9.5, "amount": 57}],
        "total": 57,
    }
    delivered = Finish(
        Status.DELIVERED, result={"reference": "x", "context": {"erp_receipt": receipt}}
    )
    claimed = _claim("order.submit", ORDER, parent_id="01JTESTORDER00000000000000")
    assert await _notifier(journal, "failures").follow_ups(claimed, delivered, None) == ()
    [notice] = await _notifier(journal, "all").follow_ups(claimed, delivered, None)
    assert notice.payload["status"] == "delivered" and notice.payload["erp_number"] == "SO-1042"
    assert notice.payload["about"] == "01JTESTORDER00000000000000"
    assert notice.ordering_key == "status:01JTESTORDER00000000000000"


async def test_a_notice_that_fails_begets_nothing(journal: AsyncEngine) -> None:
    notifier = _notifier(journal, "all")
    for method in ("message.status", "failure.report"):
        claimed = _claim(method, {"about": "x"}, source="bus")
        assert await notifier.follow_ups(claimed, REFUSED, None) == ()


async def test_an_account_without_a_manager_in_the_call_takes_the_directorys_or_says_why(
    journal: AsyncEngine,
) -> None:
    notifier = _notifier(journal, "failures")
    deactivate = _claim("account.deactivate", {"erp_key": "30000"}, source="crm")
    [mail, _] = await notifier.follow_ups(deactivate, REFUSED, None)  # the CRM sent it
    assert mail.payload["subject"] == "account" and "manager" not in mail.payload
    assert "not in the bus's directory" in mail.payload["no_manager"]

    await CustomerDirectory(journal).put("30000", {"manager": MANAGER})
    [mail, crm] = await notifier.follow_ups(deactivate, REFUSED, None)
    assert mail.payload["manager"] == MANAGER and crm.payload["customer"] == "30000"

    read = {"context": {"crm_settings": {"crm_id": "77", "no_manager": "account 77 has no Owner"}}}
    create = _claim("account.create", {"erp_key": "40000", "contacts": []}, source="crm")
    [mail, crm] = await notifier.follow_ups(create, REFUSED, read)
    assert mail.payload["no_manager"].endswith("(account 77 has no Owner)")
    assert crm.payload["crm_id"] == "77"


async def test_an_account_whose_kept_profile_is_unreadable_is_reported_saying_so(
    journal: AsyncEngine,
) -> None:
    notifier = _notifier(journal, "failures")
    await CustomerDirectory(journal).put("50000", {"manager": MANAGER, "contracts": "none"})
    deactivate = _claim("account.deactivate", {"erp_key": "50000"}, source="crm")
    [mail, _] = await notifier.follow_ups(deactivate, REFUSED, None)
    assert "manager" not in mail.payload
    assert "50000's profile in the bus's directory is unreadable" in mail.payload["no_manager"]


async def test_a_finish_journaled_again_journals_no_second_notice(journal: AsyncEngine) -> None:
    """The notice's key is the failed attempt's: the same finish told twice is one notice."""
    [message_id] = await accepted_ids(journal, "k-1")
    claimed = await claim_one(journal, message_id)
    assert claimed is not None
    outcomes = []
    for _ in range(2):
        async with writing(journal) as conn:
            outcomes += await accept_batch(conn, [failure_notice(claimed, REFUSED)])
    first, again = outcomes
    assert isinstance(first, Accepted) and isinstance(again, Accepted)
    assert (first.created, again.created, again.message_id) == (True, False, first.message_id)


async def test_a_reason_longer_than_a_notice_takes_is_cut_not_refused(
    journal: AsyncEngine,
) -> None:
    page = Finish(Status.FAILED, error="navision answered 500: " + "<html>" * 2000)
    told = await _notifier(journal, "failures").follow_ups(
        _claim("order.submit", ORDER), page, None
    )
    assert {len(c.payload["reason"]) for c in told} == {MAX_REASON}
    assert all(c.payload["reason"].endswith("…") for c in told)
