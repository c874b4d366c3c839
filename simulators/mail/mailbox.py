"""The messages the SMTP server accepted, parsed with :mod:`email` (``policy.default``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from typing import Any

_PARSER = BytesParser(policy=default)


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    """One accepted message: the SMTP envelope and what its headers and bodies say.

    ``rcpt_tos`` is the envelope (Bcc included); ``to``/``cc``/``sender`` are the headers.
    ``message_id`` is the ``Message-ID`` header as sent (``None`` if there was none).
    """

    id: int
    received_at: str
    mail_from: str
    rcpt_tos: list[str]
    message_id: str | None
    subject: str | None
    sender: str | None
    to: str | None
    cc: str | None
    text: str | None
    html: str | None
    headers: list[tuple[str, str]]
    attachments: list[dict[str, Any]] = field(default_factory=list)
    auth_login: str | None = None
    size: int = 0

    def to_json(self) -> dict[str, Any]:
        """The message as the control API shows it (``headers`` as ``[name, value]`` pairs)."""
        shown = asdict(self)
        shown["from"] = shown.pop("sender")
        shown["headers"] = [list(pair) for pair in self.headers]
        return shown

    def addressed_to(self, address: str) -> bool:
        """Whether ``address`` is one of the envelope recipients (case-insensitive)."""
        return address.casefold() in (rcpt.casefold() for rcpt in self.rcpt_tos)


def parse(
    mail_id: int, raw: bytes, mail_from: str, rcpt_tos: list[str], auth_login: str | None
) -> ReceivedMail:
    """Parse a message's bytes as received after DATA."""
    message = _PARSER.parsebytes(raw)
    assert isinstance(message, EmailMessage)  # policy.default always builds EmailMessage
    return ReceivedMail(
        id=mail_id,
        received_at=datetime.now(UTC).isoformat(),
        mail_from=mail_from,
        rcpt_tos=list(rcpt_tos),
        message_id=_header(message, "Message-ID"),
        subject=_header(message, "Subject"),
        sender=_header(message, "From"),
        to=_header(message, "To"),
        cc=_header(message, "Cc"),
        text=_body(message, "plain"),
        html=_body(message, "html"),
        headers=[(name, str(value)) for name, value in message.items()],
        attachments=[_attachment(part) for part in message.iter_attachments()],
        auth_login=auth_login,
        size=len(raw),
    )


def _header(message: EmailMessage, name: str) -> str | None:
    value = message.get(name)
    return None if value is None else str(value)


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    try:
        content = part.get_content()
    except (LookupError, ValueError):
        # An unknown charset: keep what can be read rather than lose the message.
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else None
    return content if isinstance(content, str) else None


def _attachment(part: EmailMessage) -> dict[str, Any]:
    payload = part.get_payload(decode=True)
    return {
        "filename": part.get_filename(),
        "content_type": part.get_content_type(),
        "size": len(payload) if isinstance(payload, bytes) else 0,
    }


class Mailbox:
    """Accepted messages, oldest first, with ids from 1 that a clear does not reuse."""

    def __init__(self) -> None:
        self.messages: list[ReceivedMail] = []
        self._last_id = 0

    def add(
        self, raw: bytes, mail_from: str, rcpt_tos: list[str], auth_login: str | None = None
    ) -> ReceivedMail:
        """Parse and keep a message."""
        self._last_id += 1
        mail = parse(self._last_id, raw, mail_from, rcpt_tos, auth_login)
        self.messages.append(mail)
        return mail

    def find(self, *, to: str | None = None, subject: str | None = None) -> list[ReceivedMail]:
        """Messages for recipient ``to`` whose subject contains ``subject`` (case-insensitive)."""
        wanted = subject.casefold() if subject is not None else None
        return [
            mail
            for mail in self.messages
            if (to is None or mail.addressed_to(to))
            and (wanted is None or wanted in (mail.subject or "").casefold())
        ]

    def get(self, mail_id: int) -> ReceivedMail | None:
        """The message with this id, or ``None``."""
        return next((mail for mail in self.messages if mail.id == mail_id), None)

    def clear(self) -> None:
        """Forget every message (ids keep growing)."""
        self.messages.clear()

    def reset(self) -> None:
        """Forget every message and number from 1 again."""
        self.messages.clear()
        self._last_id = 0
