"""One simulated mail server: its mailbox, SMTP faults and SMTP listener, kept on the app."""

from __future__ import annotations

from aiohttp import web

from simulators.mail.handler import MailHandler
from simulators.mail.mailbox import Mailbox
from simulators.mail.server import SmtpServer
from simulators.mail.smtp_faults import SmtpFaults


class MailService:
    """The mailbox, the SMTP faults and the server that shares them.

    Parameters:
        smtp_host: the address the SMTP server listens on.
        smtp_port: its port; 0 picks a free one, then :attr:`smtp_port` tells which.
    """

    def __init__(self, *, smtp_host: str, smtp_port: int) -> None:
        self.mailbox = Mailbox()
        self.faults = SmtpFaults()
        self.server = SmtpServer(MailHandler(self.mailbox, self.faults))
        self.smtp_host = smtp_host
        self._requested_port = smtp_port

    @property
    def smtp_port(self) -> int:
        """The port the SMTP server listens on (the requested one until it has started)."""
        return self.server.port if self.server.port is not None else self._requested_port

    @property
    def running(self) -> bool:
        """Whether the SMTP server is listening."""
        return self.server.listening

    async def start(self) -> None:
        """Start the SMTP server."""
        await self.server.start(self.smtp_host, self._requested_port)

    async def stop(self) -> None:
        """Stop the SMTP server."""
        await self.server.close()

    def reset(self) -> None:
        """Forget every message and switch SMTP faults off."""
        self.mailbox.reset()
        self.faults.active = None


MAIL_KEY = web.AppKey("mail", MailService)
