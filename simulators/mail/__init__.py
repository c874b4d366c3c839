"""A mail server simulator: real SMTP (aiosmtpd, in the app's loop) that keeps what it receives,
with HTTP control routes to read, clear and fault it.

``create_app()`` builds the aiohttp app; see :func:`simulators.mail.app.create_app`.
:func:`extract_links` finds the links in a body (a set-password link, say).
"""

from __future__ import annotations

from simulators.mail.app import create_app
from simulators.mail.links import extract_links
from simulators.mail.mailbox import Mailbox, ReceivedMail
from simulators.mail.service import MAIL_KEY, MailService

__all__ = ["MAIL_KEY", "MailService", "Mailbox", "ReceivedMail", "create_app", "extract_links"]
