"""The aiosmtpd handler: accepts any sender, recipient and credentials, keeps each message.

aiosmtpd calls ``handle_<COMMAND>`` hooks by name with ``(server, session, envelope, ...)`` and
sends back the reply string they return.
"""

from __future__ import annotations

import asyncio

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from simulators.mail.mailbox import Mailbox
from simulators.mail.smtp_faults import SmtpFaults, Stage


class MailHandler:
    """Keeps accepted messages in ``mailbox``; applies ``faults`` at RCPT and DATA."""

    def __init__(self, mailbox: Mailbox, faults: SmtpFaults) -> None:
        self.mailbox = mailbox
        self.faults = faults

    async def handle_RCPT(  # aiosmtpd finds hooks by this exact name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """Accept any recipient, unless a fault rejects it."""
        rejection = await self._fault("rcpt")
        if rejection is not None:
            return rejection
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(  # aiosmtpd finds hooks by this exact name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        """Keep the message, unless a fault rejects it."""
        rejection = await self._fault("data")
        if rejection is not None:
            return rejection
        raw = envelope.original_content or b""
        mail = self.mailbox.add(raw, envelope.mail_from or "", envelope.rcpt_tos, _login(session))
        return f"250 Message accepted for delivery as {mail.id}"

    async def _fault(self, stage: Stage) -> str | None:
        """The rejection reply for this stage, after any injected delay."""
        fault = self.faults.take(stage)
        if fault is None:
            return None
        if fault.mode == "slow":
            await asyncio.sleep(fault.delay)
            return None
        return fault.reply


def accept_any_login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
) -> AuthResult:
    """An authenticator that accepts every AUTH PLAIN/LOGIN (the simulator checks nothing)."""
    return AuthResult(success=True, auth_data=auth_data)


def _login(session: Session) -> str | None:
    data = session.auth_data
    if session.authenticated and isinstance(data, LoginPassword):
        return data.login.decode("utf-8", errors="replace")
    return None
