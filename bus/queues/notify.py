"""Who hears of a finished attempt: the worker's choice of notices (:mod:`bus.journal.notices`).

- **The storefront**, for a message it sent (any step of its route): with ``[storefront] notify``
  ``"failures"`` (the default) when a step fails for good or waits for an operator; with
  ``"all"`` also when a step is delivered (with the ERP's order number once the route made one)
  or skipped (saying why), which costs one storefront call per such step; ``"none"`` tells nothing.
- **The customer's manager and the CRM**, for any step of an ``order.submit`` (its branches too)
  or of an account's ``account.create`` / ``account.deactivate`` that fails for good or waits for
  an operator: a :class:`schemas.notices.FailureReport`, mailed and noted on the customer. The
  steps blocked behind the failed one stay blocked (the key's order is the point), but the
  people who can act are told.

A notice is never about a notice: a ``message.status`` or ``failure.report`` that fails is left
to the operator, and begets nothing.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.adapters.accounts import account_settings, no_manager
from bus.adapters.base import Delivery
from bus.adapters.orders import erp_number
from bus.errors import PermanentError
from bus.journal.accept import Command
from bus.journal.customers import CustomerDirectory
from bus.journal.delivery import Claim, Finish
from bus.journal.notices import (
    about,
    delivered_notice,
    failure_notice,
    failure_reports,
    is_notice,
)
from bus.journal.tables import Status
from bus.settings import Settings
from schemas.notices import FailureReport, ManagerAddress
from schemas.steps import CustomerProfile

#: Methods whose failures the customer's manager and the CRM hear of.
ORDER_METHODS = frozenset({"order.submit"})
ACCOUNT_METHODS = frozenset({"account.create", "account.deactivate"})


class Notifier:
    """Decides the notices of one finished attempt.

    Parameters:
        settings: ``[storefront] notify`` and the deployment's mail and CRM systems.
        engine: the journal, whose customer directory names an account's manager.
    """

    def __init__(self, settings: Settings, engine: AsyncEngine) -> None:
        self._settings = settings
        self._directory = CustomerDirectory(engine)

    async def follow_ups(
        self, claimed: Claim, outcome: Finish, previous: dict[str, Any] | None
    ) -> tuple[Command, ...]:
        """The notices to journal with ``outcome``'s finish (see the module docstring)."""
        if is_notice(claimed.method):
            return ()
        mode = self._settings.storefront.notify
        storefront = claimed.source == "storefront" and mode != "none"
        if outcome.waits_for_operator:
            told = (failure_notice(claimed, outcome),) if storefront else ()
            return told + await self._reports(claimed, outcome, previous)
        if outcome.status in (Status.DELIVERED, Status.SKIPPED) and storefront and mode == "all":
            result = outcome.result or {}
            skipped = result.get("skipped")
            number = _erp_number(claimed, result)
            return (delivered_notice(claimed, number, str(skipped) if skipped else None),)
        return ()

    async def _reports(
        self, claimed: Claim, outcome: Finish, previous: dict[str, Any] | None
    ) -> tuple[Command, ...]:
        """The manager's mail and the CRM's note of an order's or an account's failure."""
        if claimed.method in ORDER_METHODS:
            report = _order_report(claimed, outcome)
        elif claimed.method in ACCOUNT_METHODS:
            report = await self._account_report(claimed, outcome, previous)
        else:
            return ()
        settings = self._settings
        return failure_reports(
            report, claimed.attempt, mail=settings.system("mail"), crm=settings.crm
        )

    async def _account_report(
        self, claimed: Claim, outcome: Finish, previous: dict[str, Any] | None
    ) -> FailureReport:
        """The account's report: its manager as the call and the CRM's read name it, else as
        the directory knows it from the customer's provisioning, else why there is none."""
        erp_key = str(claimed.payload["erp_key"])
        delivery = Delivery(claimed.message_id, claimed.operation, claimed.payload, previous)
        settings = account_settings(delivery)
        why = no_manager(settings)
        manager = settings.get("manager") if why is None else None
        if manager is None:
            manager, why = await self._kept_manager(erp_key, why)
        crm_id = settings.get("crm_id")
        return _report(
            claimed,
            outcome,
            manager,
            why,
            subject="account",
            customer=erp_key,
            crm_id=str(crm_id) if crm_id else None,
        )

    async def _kept_manager(
        self, erp_key: str, why: str | None
    ) -> tuple[dict[str, Any] | None, str | None]:
        """The manager the directory keeps of the customer, or why there is none (``why``:
        why the call and the CRM's read named none)."""
        kept = await self._directory.get(erp_key)
        if kept is None:
            return None, f"customer {erp_key} is not in the bus's directory ({why})"
        try:
            profile = CustomerProfile.model_validate(kept)
        except ValidationError:  # the report must go out all the same, saying why it has no one
            return None, f"customer {erp_key}'s profile in the bus's directory is unreadable"
        manager = profile.manager.model_dump(mode="json") if profile.manager else None
        return manager, profile.no_manager or why


def _order_report(claimed: Claim, outcome: Finish) -> FailureReport:
    """The order's report: its manager as order routing put it in the order (or why none)."""
    order = claimed.payload
    return _report(
        claimed,
        outcome,
        order.get("manager"),
        order.get("no_manager"),
        subject="order",
        customer=str(order["customer"]),
        order_id=str(order["order_id"]),
    )


def _report(
    claimed: Claim,
    outcome: Finish,
    manager: dict[str, Any] | None,
    why: str | None,
    **fields: Any,
) -> FailureReport:
    """The report of ``claimed``'s failure; mailed to ``manager`` if it has an address, else
    saying ``why`` nobody is mailed."""
    address = None
    if manager and manager.get("email"):
        address = ManagerAddress(name=manager.get("name"), email=manager["email"])
    return FailureReport(
        about=about(claimed),
        step=claimed.message_id,
        method=claimed.method,
        target=claimed.target,
        operation=claimed.operation,
        status="failed" if outcome.status is Status.FAILED else "unknown_outcome",
        reason=outcome.error or "",
        manager=address,
        no_manager=None if address else (why or "no manager is named"),
        **fields,
    )


def _erp_number(claimed: Claim, result: dict[str, Any]) -> str | None:
    """The ERP's order number a delivered step made or was handed (``None``: none yet)."""
    made = Delivery(claimed.message_id, claimed.operation, claimed.payload, result)
    try:
        return erp_number(made)
    except PermanentError:  # an unreadable receipt is the step's own trouble, not the notice's
        return None
