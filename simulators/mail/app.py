"""The mail simulator: an SMTP server in the app's event loop, and its HTTP control routes.

    GET    /_control/mail/info                       {"smtp_host", "smtp_port", "running"}
    GET    /_control/mail/messages?to=&subject=      {"messages": [...]}, oldest first; ``to`` is
                                                     an envelope recipient, ``subject`` a
                                                     case-insensitive substring
    GET    /_control/mail/messages/{id}              one message (404 if unknown)
    DELETE /_control/mail/messages                   {"deleted": n}
    GET    /_control/mail/smtp-faults                {"fault": the active one or null}
    POST   /_control/mail/smtp-faults                set it (see :mod:`simulators.mail.smtp_faults`)

The shared fault layer (:mod:`simulators.faults`) adds ``/_control/reset`` (clears messages and
SMTP faults), ``/_control/health`` and the rest; its HTTP faults never touch SMTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from simulators import faults
from simulators.mail.service import MAIL_KEY, MailService
from simulators.mail.smtp_faults import SmtpFaultError

PREFIX = "/_control/mail/"


def create_app(*, smtp_host: str = "127.0.0.1", smtp_port: int = 7025) -> web.Application:
    """Build the mail simulator: an SMTP server that keeps what it receives, and HTTP control.

    The SMTP server starts with the app (in its event loop) and stops at cleanup. It accepts any
    sender and recipient, AUTH PLAIN/LOGIN with any credentials, and needs no TLS.

    Parameters:
        smtp_host: the address SMTP listens on.
        smtp_port: its port; 0 picks a free one, shown by ``GET /_control/mail/info`` and
            ``app[MAIL_KEY].smtp_port`` once started.
    """
    service = MailService(smtp_host=smtp_host, smtp_port=smtp_port)
    app = web.Application()
    app[MAIL_KEY] = service
    app.cleanup_ctx.append(_smtp_server)
    app.router.add_get(PREFIX + "info", info)
    app.router.add_get(PREFIX + "messages", messages)
    app.router.add_delete(PREFIX + "messages", clear)
    app.router.add_get(PREFIX + "messages/{id}", message)
    app.router.add_get(PREFIX + "smtp-faults", smtp_faults)
    app.router.add_post(PREFIX + "smtp-faults", smtp_faults)
    faults.install(app, reset=service.reset)
    return app


async def _smtp_server(app: web.Application) -> AsyncIterator[None]:
    service = app[MAIL_KEY]
    await service.start()
    yield
    await service.stop()


async def info(request: web.Request) -> web.Response:
    """Where the SMTP server listens."""
    service = request.app[MAIL_KEY]
    return web.json_response(
        {"smtp_host": service.smtp_host, "smtp_port": service.smtp_port, "running": service.running}
    )


async def messages(request: web.Request) -> web.Response:
    """The kept messages, filtered by ``?to=`` and ``?subject=``."""
    found = request.app[MAIL_KEY].mailbox.find(
        to=request.query.get("to"), subject=request.query.get("subject")
    )
    return web.json_response({"messages": [mail.to_json() for mail in found]})


async def message(request: web.Request) -> web.Response:
    """One message by id."""
    raw_id = request.match_info["id"]
    mail = request.app[MAIL_KEY].mailbox.get(int(raw_id)) if raw_id.isdigit() else None
    if mail is None:
        return web.json_response({"error": f"no message {raw_id}"}, status=404)
    return web.json_response(mail.to_json())


async def clear(request: web.Request) -> web.Response:
    """Forget every message."""
    mailbox = request.app[MAIL_KEY].mailbox
    deleted = len(mailbox.messages)
    mailbox.clear()
    return web.json_response({"deleted": deleted})


async def smtp_faults(request: web.Request) -> web.Response:
    """POST sets the SMTP fault (``{"mode": "off"}`` clears it); both answer with the active one."""
    state = request.app[MAIL_KEY].faults
    if request.method == "POST":
        try:
            state.set(await request.json())
        except (ValueError, SmtpFaultError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
    return web.json_response({"fault": state.to_json()})
