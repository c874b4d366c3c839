"""Mail over SMTP (aiosmtplib): the managers' notifications and the customers' links.

``mail.send`` takes ``{to, subject, text, html?}``; ``mail.set_password_link`` composes the new
customer's mail from ``account.create`` and the storefront's link; ``mail.order_waiting`` tells
the customer's manager that a new order waits; ``mail.failure_report`` tells the manager that a
step of the customer's order or account waits for an operator (which, at which step, why, the
message id: :class:`schemas.notices.FailureReport`). Each message's ``Message-ID`` is
derived from the bus's message id, so a receiving system can recognise a repeat. SMTP has no way
to ask whether a message arrived: after a connection lost during ``DATA`` the outcome is unknown,
and a replay may send the mail twice (with the same ``Message-ID``).

A mail that has nobody to go to is not sent, and its step is done saying why (``skipped`` in its
result) rather than failing, which would hold the messages after it (an order's status changes):
the set-password link of a user that already had one (a re-provisioned account updates its user,
which keeps its password), and the manager's mail of an order of a customer without a manager,
or of a failure report about such a customer.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any, ClassVar

import aiosmtplib

from bus.adapters.accounts import UPDATED, USER_OUTCOME, account_settings
from bus.adapters.base import Delivery, EntityState, Receipt
from bus.adapters.failures import failure_report
from bus.adapters.orders import erp_number, erp_receipt, how_delivered, routed_order
from bus.errors import PermanentError, TransientError, UnknownOutcome
from bus.sealing import Sealer, SealError, is_sealed
from bus.settings import MailSettings
from schemas.steps import RoutedOrder

SYSTEM = "mail"


class NothingToSend(Exception):
    """A composer's verdict that its mail has nobody to go to: the step is done, saying why."""


class MailAdapter:
    """Sends the bus's mail through one SMTP relay.

    Parameters:
        settings: the relay, the sender address, optional credentials and STARTTLS.
        sealer: opens the set-password link the storefront's step sealed (the development key
            by default).
    """

    #: See :class:`bus.adapters.base.Adapter`: the kinds of mail (``COMPOSERS``, set below).
    operations: ClassVar[frozenset[str]]

    def __init__(self, settings: MailSettings, sealer: Sealer | None = None) -> None:
        self._settings = settings
        self._sealer = sealer or Sealer.development()

    def intended_state(self, delivery: Delivery) -> EntityState | None:
        """Mail sends no change events: there is no echo to recognise."""
        return None

    async def deliver(self, delivery: Delivery) -> Receipt:
        """Send the message (see the module docstring)."""
        compose = COMPOSERS.get(delivery.operation)
        if compose is None:
            raise PermanentError(f"{SYSTEM} has no operation {delivery.operation!r}")
        try:
            if delivery.operation == "mail.set_password_link":
                mail = set_password_mail(delivery, self._sealer)
            else:
                mail = compose(delivery)
        except NothingToSend as nobody:
            return Receipt("", details={"skipped": str(nobody)})
        message = build_message(delivery.message_id, mail, self._settings.sender)
        settings = self._settings
        password = settings.password.get_secret_value() if settings.password else None
        try:
            errors, reply = await aiosmtplib.send(
                message,
                hostname=settings.host,
                port=settings.port,
                username=settings.username,
                password=password,
                start_tls=settings.starttls,
                timeout=settings.retry.attempt_timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise _by_code(min(r.code for r in exc.recipients), str(exc)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _by_code(exc.code, exc.message) from exc
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError) as exc:
            raise TransientError(f"{SYSTEM} relay unreachable: {exc}") from exc
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError) as exc:
            raise UnknownOutcome(f"{SYSTEM} relay did not confirm the message: {exc}") from exc
        details: dict[str, Any] = {"message_id": message["Message-ID"], "reply": reply}
        if errors:
            details["refused"] = {rcpt: str(error) for rcpt, error in errors.items()}
        return Receipt(message["Message-ID"], details=details)

    async def lookup(self, delivery: Delivery) -> Receipt | None:
        """SMTP cannot be asked whether a message arrived."""
        return None

    async def aclose(self) -> None:
        """Each send opens its own connection: nothing to release."""


def build_message(message_id: str, mail: dict[str, Any], sender: str) -> EmailMessage:
    """The message for ``{to, subject, text, html?}``, its Message-ID derived from the bus's."""
    recipients = mail["to"] if isinstance(mail["to"], list) else [mail["to"]]
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = mail["subject"]
    message["Date"] = email.utils.formatdate(localtime=False)
    message["Message-ID"] = f"<{message_id}@bus>"
    message.set_content(mail["text"])
    if mail.get("html"):
        message.add_alternative(mail["html"], subtype="html")
    return message


def set_password_mail(delivery: Delivery, sealer: Sealer | None = None) -> dict[str, Any]:
    """The new customer's mail: the greeting and the storefront's set-password link.

    Follows ``user.create``: the link is the storefront's (single-use, expiring), kept sealed in
    that step's result and opened only here, into the mail. A user the storefront updated (a
    re-provisioned account) keeps its password and gets no link.
    """
    account = delivery.payload
    if delivery.fact(USER_OUTCOME) == UPDATED:
        user = delivery.fact("user_id")
        raise NothingToSend(f"user {user} was active already and keeps its password: no link")
    link = _set_password_link(delivery, sealer or Sealer.development())
    contacts = account["contacts"]
    primary = next((c for c in contacts if c.get("primary")), contacts[0])
    greeting = account_settings(delivery).get("greeting") or f"Hello, {primary['name']}!"
    text = (
        f"{greeting}\n\nYour account in our B2B store is ready. Set your password here:\n"
        f"{link}\n\nThe link works once and expires; ask your manager for a new one if needed.\n"
    )
    return {"to": [primary["email"]], "subject": "Your B2B store account", "text": text}


def _set_password_link(delivery: Delivery, sealer: Sealer) -> str:
    """The clear link: opened from its seal, or as a result journaled before links were sealed
    kept it."""
    sealed = delivery.fact("set_password_link")
    if is_sealed(sealed):
        try:
            return sealer.open(sealed)
        except SealError as exc:
            raise PermanentError(f"{SYSTEM}: cannot open the set-password link: {exc}") from exc
    link = delivery.fact("set_password_url")
    if not link or "***" in link:
        raise PermanentError(f"{SYSTEM}: the storefront gave no set-password link")
    return str(link)


def order_waiting_mail(delivery: Delivery) -> dict[str, Any]:
    """The manager's mail that a new order waits: what, for whom, how, and where it was created.

    Follows the CRM's ``order.create`` (and, on the licensed route, the ERP's order). The lines
    are the ERP's receipt of the order: each in its unit at the ERP's unit price, with its amount
    and the total, as the ERP and the CRM show them.
    """
    order = routed_order(delivery)
    manager = order.manager
    if manager is None or not manager.email:
        # Order routing says why (bus.order_routing); an order journaled before it did, not.
        why = order.no_manager or f"customer {order.customer} has no manager"
        raise NothingToSend(f"no manager mailed about order {order.order_id}: {why}")
    created = [
        f"{label}: {value}"
        for label, value in (
            ("ERP order", erp_number(delivery)),
            ("CRM", delivery.fact("crm_deal_id") or delivery.fact("crm_order_id")),
        )
        if value
    ]
    lines = _order_lines(delivery, order)
    text = "\n".join(
        [
            f"Hello, {manager.name or 'colleague'}!",
            "",
            f"Customer {order.customer} placed order {order.order_id}; it waits for you.",
            how_delivered(order),
            *created,
            "",
            *lines,
            "",
        ]
    )
    subject = f"New order {order.order_id} from customer {order.customer}"
    return {"to": [manager.email], "subject": subject, "text": text}


def failure_report_mail(delivery: Delivery) -> dict[str, Any]:
    """The manager's mail that a step of the customer's order or account waits for an
    operator: which, at which step, why, and the message to look at.
    """
    report = failure_report(delivery, SYSTEM)
    if report.manager is None:
        raise NothingToSend(f"no manager mailed about {report.what()}: {report.no_manager}")
    text = "\n".join(
        [
            f"Hello, {report.manager.name or 'colleague'}!",
            "",
            report.text(),
            "",
            f"Customer: {report.customer}",
            *([f"Order: {report.order_id}"] if report.order_id else []),
            f"Step: {report.operation} at {report.target}",
            f"Reason: {report.reason or 'none given'}",
            f"Message: {report.step}",
            "",
        ]
    )
    waits = "failed" if report.status == "failed" else "waits for an operator"
    what = report.what()
    subject = f"{what[0].upper()}{what[1:]} {waits} at {report.operation}"
    return {"to": [report.manager.email], "subject": subject, "text": text}


def _order_lines(delivery: Delivery, order: RoutedOrder) -> list[str]:
    """The order's lines for the manager: as the ERP priced them, or as ordered without its
    receipt (an order journaled before receipts were typed)."""
    receipt = erp_receipt(delivery)
    if receipt is None:
        return [
            f"  {line.item} x {line.quantity:g}" + (f" {line.unit}" if line.unit else "")
            for line in order.lines
        ]
    return [
        *(
            f"  {line.item} x {line.quantity:g} {line.unit} at {line.price:,.2f}"
            f" = {line.amount:,.2f}"
            for line in receipt.lines
        ),
        f"  Total: {receipt.total:,.2f} {receipt.currency} before VAT",
    ]


#: Each mail operation and how it composes its mail from the delivery.
COMPOSERS: dict[str, Callable[[Delivery], dict[str, Any]]] = {
    "mail.send": lambda delivery: delivery.payload,
    "mail.set_password_link": set_password_mail,
    "mail.order_waiting": order_waiting_mail,
    "mail.failure_report": failure_report_mail,
}
MailAdapter.operations = frozenset(COMPOSERS)


def _by_code(code: int, text: str) -> Exception:
    detail = f"{SYSTEM} relay answered {code}: {text}"
    return TransientError(detail) if 400 <= code < 500 else PermanentError(detail)
