"""The commands that tell people of a message's status: the storefront, the manager, the CRM.

A message that fails for good (a permanent refusal, retries exhausted, or an unknown outcome with
no attempt left) would otherwise be silent: the storefront shows the order as sent, and only an
operator listing failures would notice. The worker journals these commands in the transaction
that finishes the message (:class:`bus.journal.delivery.Finish`'s ``follow_ups``), so a notice
is delivered like any message (retried, never lost) and exists exactly when its change does:

- :func:`status_notice`: the storefront's ``message.status``
  (:class:`schemas.notices.StatusNotice`). Every notice about one storefront message shares the
  ordering key ``status:<about>``, so a later change never overtakes an earlier one on the way to
  the storefront. An operator's replay, release or cancel is told too
  (:func:`tell_operator_action`, in the action's transaction).
- :func:`failure_reports`: ``failure.report`` (:class:`schemas.notices.FailureReport`) to the
  mail system (the customer's manager) and to the CRM (a note on the customer), two messages
  without a key: one system being down does not hold the other's.

Each command's idempotency key is derived from the change it tells (the message and its attempt
number, or the operator's action), so a finish that is journaled again journals no second notice.
A notice is never about a notice (:func:`is_notice`): its own failure begets nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bus.journal.accept import Accepted, Command, accept_batch
from bus.journal.delivery import Claim, Finish
from bus.journal.tables import Status, messages, operator_actions
from bus.journal.wakes import Wake
from schemas.notices import FailureReport, NoticeStatus, OperatorAction, StatusNotice

#: The method (and the storefront operation) of a status notice.
NOTICE_METHOD = "message.status"
#: The method (and the mail and CRM operation) of a failure report.
REPORT_METHOD = "failure.report"
#: The mail operation that tells the manager.
MAIL_OPERATION = "mail.failure_report"
#: Who journals notices: the bus itself, not the caller of the message they are about.
SOURCE = "bus"
#: Each status a notice can report, as the notice says it.
_TOLD: dict[Status, NoticeStatus] = {
    Status.DELIVERED: "delivered",
    Status.FAILED: "failed",
    Status.UNKNOWN_OUTCOME: "unknown_outcome",
    Status.ACCEPTED: "accepted",
    Status.BLOCKED: "blocked",
    Status.CANCELLED: "cancelled",
    Status.SKIPPED: "skipped",
    Status.EDITED: "edited",
}


def is_notice(method: str) -> bool:
    """Whether ``method`` is one of the bus's own notices (which are never told about)."""
    return method in (NOTICE_METHOD, REPORT_METHOD)


def about(claimed: Claim) -> str:
    """The message the caller was given: the route's first step."""
    return claimed.parent_id or claimed.message_id


def notice_of(step: Mapping[str, Any], status: Status, **fields: Any) -> StatusNotice:
    """The notice that ``step`` (a message's row: ``id``, ``parent_id``, ``method``, ``target``,
    ``operation``, ``payload``) is now in ``status``."""
    order_id = (step["payload"] or {}).get("order_id")
    return StatusNotice(
        about=step["parent_id"] or step["id"],
        step=step["id"],
        method=step["method"],
        target=step["target"],
        operation=step["operation"],
        status=_TOLD[status],
        order_id=order_id if isinstance(order_id, str) else None,
        **fields,
    )


def step_notice(claimed: Claim, status: Status, **fields: Any) -> StatusNotice:
    """The notice that ``claimed`` (a step of a storefront message) is now in ``status``."""
    step = {
        "id": claimed.message_id,
        "parent_id": claimed.parent_id,
        "method": claimed.method,
        "target": claimed.target,
        "operation": claimed.operation,
        "payload": claimed.payload,
    }
    return notice_of(step, status, **fields)


def failure_notice(claimed: Claim, outcome: Finish) -> Command:
    """The storefront's notice that ``claimed`` ended in ``outcome`` (which waits for an
    operator): which step failed, and what its target or the bus said."""
    notice = step_notice(claimed, outcome.status, reason=outcome.error or "")
    return status_notice(notice, str(claimed.attempt))


def delivered_notice(claimed: Claim, erp_number: str | None, skipped: str | None) -> Command:
    """The storefront's notice that ``claimed`` was delivered (or ``skipped``, saying why),
    with the ERP's order number when the route made one."""
    notice = step_notice(
        claimed,
        Status.SKIPPED if skipped else Status.DELIVERED,
        erp_number=erp_number,
        reason=skipped or "",
    )
    return status_notice(notice, str(claimed.attempt))


def status_notice(notice: StatusNotice, change: str) -> Command:
    """The ``message.status`` command telling ``notice`` to the storefront, journaled as the
    child of the step it is about.

    Parameters:
        change: names the change uniquely among the changes of ``notice.step`` (its attempt
            number, or the operator's action): the command's idempotency key.
    """
    return Command(
        method=NOTICE_METHOD,
        source=SOURCE,
        target="storefront",
        operation=NOTICE_METHOD,
        payload=notice.as_payload(),
        idempotency_key=f"notice:{notice.step}:{change}",
        ordering_key=f"status:{notice.about}",
        parent_id=notice.step,
    )


def failure_reports(
    report: FailureReport, attempt: int, *, mail: str, crm: str
) -> tuple[Command, ...]:
    """``report`` to the manager (through the ``mail`` system) and to the ``crm``.

    Keyed by the failed attempt, as the storefront's notice is: a replayed message that fails
    again is reported again.
    """
    return tuple(
        Command(
            method=REPORT_METHOD,
            source=SOURCE,
            target=target,
            operation=operation,
            payload=report.as_payload(),
            idempotency_key=f"report:{report.step}:{attempt}:{target}",
            parent_id=report.step,
        )
        for target, operation in ((mail, MAIL_OPERATION), (crm, REPORT_METHOD))
    )


async def tell_operator_action(
    conn: AsyncConnection, message_id: str, action: OperatorAction, reason: str
) -> list[Wake]:
    """Journal the storefront's notice of an operator's ``action`` on ``message_id``, in the
    action's transaction (after it); the notice, to wake, when it may run now.

    Only a message of the storefront's is told (and never a notice). The idempotency key counts
    the message's operator actions, so each action is told once.
    """
    return await tell_operator_actions(conn, [message_id], action, reason)


async def tell_operator_actions(
    conn: AsyncConnection, message_ids: Sequence[str], action: OperatorAction, reason: str
) -> list[Wake]:
    """:func:`tell_operator_action` for many messages at once (one batch of an operator's bulk
    replay or cancel): three statements whatever their number."""
    rows = await conn.execute(
        select(
            messages.c.id,
            messages.c.parent_id,
            messages.c.method,
            messages.c.target,
            messages.c.operation,
            messages.c.payload,
            messages.c.source,
            messages.c.status,
        ).where(messages.c.id.in_(message_ids), messages.c.source == "storefront")
    )
    told = [row for row in rows if not is_notice(row.method)]
    if not told:
        return []
    counted = await conn.execute(
        select(operator_actions.c.message_id, func.count())
        .where(operator_actions.c.message_id.in_([row.id for row in told]))
        .group_by(operator_actions.c.message_id)
    )
    counts: dict[str, int] = {message_id: count for message_id, count in counted}
    commands = [
        status_notice(
            notice_of(dict(row._mapping), Status(row.status), action=action, reason=reason),
            f"{action}:{counts.get(row.id, 0)}",
        )
        for row in sorted(told, key=lambda row: row.id)
    ]
    outcomes = await accept_batch(conn, commands)
    return [
        wake for outcome in outcomes if isinstance(outcome, Accepted) for wake in outcome.runnable
    ]
