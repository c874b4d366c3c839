"""The SMTP server, run in the caller's event loop (no thread, unlike aiosmtpd's Controller).

Running in the app's own loop keeps the simulator one process, one thread: the mailbox needs no
locks, and pytest-aiohttp's loop serves HTTP and SMTP alike.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import weakref

from aiosmtpd.smtp import SMTP

from simulators.mail.handler import MailHandler, accept_any_login


class _OwnDeprecationNotice(logging.Filter):
    """Drops the warning aiosmtpd 1.4 logs about its own use of ``Session.login_data``.

    aiosmtpd sets that deprecated attribute itself on every successful AUTH, so the warning
    says nothing about this code (which reads ``auth_data``) and would fill the log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Session.login_data is deprecated")


logging.getLogger("mail.log").addFilter(_OwnDeprecationNotice())

#: How long closing waits for open sessions to finish their last reply.
_CLOSE_GRACE = 2.0


class SmtpServer:
    """An ESMTP server (AUTH PLAIN/LOGIN without TLS, SMTPUTF8) that feeds ``handler``.

    Parameters:
        handler: keeps the messages and applies faults.
        hostname: the name in the greeting and EHLO reply (a fixed one: asking the system
            for its FQDN may wait on DNS).
    """

    def __init__(self, handler: MailHandler, *, hostname: str = "mail.simulator") -> None:
        self.handler = handler
        self.hostname = hostname
        self.host: str | None = None
        self.port: int | None = None
        self._server: asyncio.Server | None = None
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    @property
    def listening(self) -> bool:
        """Whether the server is accepting connections."""
        return self._server is not None

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0: any free port) and return the port actually bound."""
        loop = asyncio.get_running_loop()
        # One address family, so "localhost" binds one socket: with port 0, IPv4 and IPv6
        # sockets would each get a different free port and the port would be ambiguous.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._server = await loop.create_server(
            lambda: self._session(loop), host, port, family=family
        )
        self.host = host
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    def _session(self, loop: asyncio.AbstractEventLoop) -> SMTP:
        session = SMTP(
            self.handler,
            hostname=self.hostname,
            enable_SMTPUTF8=True,
            # Adapters may log in with any credentials over plain TCP, as in a dev setup.
            auth_require_tls=False,
            authenticator=accept_any_login,
            loop=loop,
        )
        self._sessions.add(session)
        return session

    async def close(self) -> None:
        """Stop listening, end open sessions and wait for their tasks to finish."""
        if self._server is None:
            return
        self._server.close()
        tasks: list[asyncio.Task[None]] = []
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
            # aiosmtpd keeps each session's task privately; awaiting it avoids a task destroyed
            # while pending at loop close.
            if session._handler_coroutine is not None:
                tasks.append(session._handler_coroutine)
        if tasks:
            await asyncio.wait(tasks, timeout=_CLOSE_GRACE)
        await self._server.wait_closed()
        self._server = None
