"""Mail over SMTP (aiosmtplib): the managers' notifications and the customers' links.

``mail.send`` takes ``{to, subject, text, html?}`` and sends one message whose ``Message-ID`` is
derived from the bus's message id, so a receiving system can recognise a repeat. SMTP has no way
to ask whether a message arrived: after a connection lost during ``DATA`` the outcome is unknown,
and a replay may send the mail twice (with the same ``Message-ID``).
"""

from __future__ import annotations

import email.utils
from email.message import EmailMessage
from typing import Any

import aiosmtplib

from bus.adapters.base import Delivery, EntityState, Receipt
from bus.errors import PermanentError, TransientError, UnknownOutcome
from bus.settings import MailSettings

SYSTEM = "mail"


class MailAdapter:
    """Sends the bus's mail through one SMTP relay.

    Parameters:
        settings: the relay, the sender address, optional credentials and STARTTLS.
    """

    def __init__(self, settings: MailSettings) -> None:
        self._settings = settings

    def intended_state(self, delivery: Delivery) -> EntityState | None:
        """Mail sends no change events: there is no echo to recognise."""
        return None

    async def deliver(self, delivery: Delivery) -> Receipt:
        """Send the message (see the module docstring)."""
        if delivery.operation != "mail.send":
            raise PermanentError(f"{SYSTEM} has no operation {delivery.operation!r}")
        message = build_message(delivery, self._settings.sender)
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


def build_message(delivery: Delivery, sender: str) -> EmailMessage:
    """The message for a ``mail.send`` payload."""
    payload = delivery.payload
    recipients = payload["to"] if isinstance(payload["to"], list) else [payload["to"]]
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = payload["subject"]
    message["Date"] = email.utils.formatdate(localtime=False)
    message["Message-ID"] = f"<{delivery.message_id}@bus>"
    message.set_content(payload["text"])
    if payload.get("html"):
        message.add_alternative(payload["html"], subtype="html")
    return message


def _by_code(code: int, text: str) -> Exception:
    detail = f"{SYSTEM} relay answered {code}: {text}"
    return TransientError(detail) if 400 <= code < 500 else PermanentError(detail)
