"""What the bus tells the people around a message about its status: typed notices.

:class:`StatusNotice` is the params of the storefront's ``message.status``, the callback that
tells the storefront a status change of one of its messages (a step of its route delivered, with
the ERP's order number when the step made one; a step failed or waiting for an operator, with the
reason; a step skipped, saying why; an operator's replay, release, cancel or edit).
:class:`FailureReport` is what the customer's manager (a mail) and the CRM (a note on the
customer's company or account) are told when a step of an order or of an account's provisioning
fails for good or waits for an operator.

Both are built by the worker in the transaction that finishes the message they are about
(:mod:`bus.journal.notices`) and read back by the adapters that deliver them, so a field one side
forgets is a validation error, not a mail that says nothing.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

#: The longest reason a notice carries; a longer one (a system's whole error page) is cut.
MAX_REASON = 4000


def _clip(value: Any) -> Any:
    """A reason cut to :data:`MAX_REASON` characters: a notice is never refused for its length."""
    if isinstance(value, str) and len(value) > MAX_REASON:
        return value[: MAX_REASON - 1] + "…"
    return value


Text = Annotated[str, BeforeValidator(_clip), StringConstraints(max_length=MAX_REASON)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]

#: The status a notice reports: the message's new status.
NoticeStatus = Literal[
    "delivered",
    "skipped",
    "failed",
    "unknown_outcome",
    "accepted",
    "blocked",
    "cancelled",
    "edited",
]
#: An operator's action that changed the status.
OperatorAction = Literal["replay", "release", "cancel", "edit"]
#: What a failure report is about.
Subject = Literal["order", "account"]


class Notice(BaseModel):
    """A notice as the journal stores it: closed and frozen, read back by its adapter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def as_payload(self) -> dict[str, Any]:
        """The notice as a message's payload (JSON-ready, unset optional fields left out)."""
        return self.model_dump(mode="json", exclude_none=True)


class StatusNotice(Notice):
    """``message.status``: a message of the storefront's changed its status.

    ``about`` is the message the storefront was given when it called the bus; ``step`` the
    message whose status changed (the same, or a later step of its route: the CRM order after
    the ERP's). Notices about one ``about`` reach the storefront in the order the changes
    happened.
    """

    about: Name
    step: Name
    method: Name
    target: Name
    operation: Name
    status: NoticeStatus
    reason: Text = Field(default="", description="the target's refusal, or the operator's why")
    order_id: Name | None = None
    erp_number: Name | None = Field(default=None, description="the ERP's order number, if made")
    action: OperatorAction | None = Field(default=None, description="the operator's, if any")
    edited_as: Name | None = Field(
        default=None, description="an edit: the message that takes the edited one's place"
    )


class ManagerAddress(Notice):
    """Whom a failure report is mailed to: the customer's personal manager."""

    name: Name | None = None
    email: Name


class FailureReport(Notice):
    """``failure.report``: a step of an order or an account waits for an operator.

    Mailed to the customer's manager and noted in the CRM on the customer's company (Bitrix24)
    or account (Creatio). Without a manager, ``no_manager`` says why; the mail step then mails
    nobody and says so.
    """

    subject: Subject
    customer: Name = Field(description="the customer's ERP key")
    about: Name = Field(description="the message the caller was given")
    step: Name = Field(description="the message that failed")
    method: Name
    target: Name
    operation: Name
    status: Literal["failed", "unknown_outcome"]
    reason: Text
    order_id: Name | None = None
    crm_id: Name | None = Field(default=None, description="where the CRM keeps the customer")
    manager: ManagerAddress | None = None
    no_manager: Text | None = None

    def what(self) -> str:
        """The order or the account, as a person reads it."""
        if self.subject == "order":
            return f"order {self.order_id} of customer {self.customer}"
        return f"the storefront account of customer {self.customer}"

    def text(self) -> str:
        """One paragraph: what failed, at which step, why, and which message to look at."""
        waits = "failed" if self.status == "failed" else "has an unknown outcome"
        return (
            f"The {self.method} of {self.what()} {waits} at step {self.operation} ({self.target}):"
            f" {self.reason or 'no reason given'}. The steps after it wait for an operator to"
            f" replay or cancel message {self.step} (the caller's message: {self.about})."
        )
