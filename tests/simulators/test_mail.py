"""The mail simulator is a real SMTP server in the app's loop that keeps what it receives."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from simulators.mail import MAIL_KEY, create_app, extract_links

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[[web.Application], Awaitable[Client]]

LINK = "https://b2b.example/auth/set-password?user=u-0003&token=abc123"


@pytest.fixture
async def mail(aiohttp_client: ClientFactory) -> Client:
    return await aiohttp_client(create_app(smtp_port=0))


def smtp_port(client: Client) -> int:
    return client.app[MAIL_KEY].smtp_port


def welcome(to: str = "ann@adatum.example", subject: str = "Welcome to the B2B portal") -> Any:
    message = EmailMessage()
    message["From"] = "B2B portal <noreply@wholesale.example>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = "<m-1@bus.example>"
    message.set_content(f"Hello!\n\nChoose your password: {LINK}.\n")
    return message


async def send(client: Client, message: EmailMessage, **options: Any) -> Any:
    return await aiosmtplib.send(
        message, hostname="127.0.0.1", port=smtp_port(client), start_tls=False, **options
    )


async def listed(client: Client, **query: str) -> list[dict[str, Any]]:
    response = await client.get("/_control/mail/messages", params=query)
    assert response.status == 200
    found: list[dict[str, Any]] = (await response.json())["messages"]
    return found


async def test_info_tells_the_port_picked_for_smtp_port_zero(mail: Client) -> None:
    body = await (await mail.get("/_control/mail/info")).json()
    assert body == {"smtp_host": "127.0.0.1", "smtp_port": smtp_port(mail), "running": True}
    assert body["smtp_port"] > 0


async def test_a_sent_message_is_kept_with_its_envelope_and_headers(mail: Client) -> None:
    await send(mail, welcome(), recipients=["ann@adatum.example", "audit@wholesale.example"])
    [kept] = await listed(mail)
    assert kept["id"] == 1
    assert kept["mail_from"] == "noreply@wholesale.example"
    assert kept["rcpt_tos"] == ["ann@adatum.example", "audit@wholesale.example"]
    assert kept["message_id"] == "<m-1@bus.example>"
    assert kept["subject"] == "Welcome to the B2B portal"
    assert kept["from"] == "B2B portal <noreply@wholesale.example>"
    assert kept["to"] == "ann@adatum.example"
    assert kept["html"] is None and kept["attachments"] == []
    assert ["Message-ID", "<m-1@bus.example>"] in kept["headers"]
    assert extract_links(kept["text"]) == [LINK]
    one = await mail.get(f"/_control/mail/messages/{kept['id']}")
    assert await one.json() == kept


async def test_unicode_html_and_attachments_are_parsed(mail: Client) -> None:
    message = welcome(subject="Счёт на оплату № 42")
    message.set_content("Добрый день! Счёт во вложении.")
    message.add_alternative(f'<p>Счёт: <a href="{LINK}">открыть</a></p>', subtype="html")
    message.add_attachment(
        b"%PDF-1.4", maintype="application", subtype="pdf", filename="INV-42.pdf"
    )
    await send(mail, message)
    [kept] = await listed(mail)
    assert kept["subject"] == "Счёт на оплату № 42"
    assert kept["text"].strip() == "Добрый день! Счёт во вложении."
    assert extract_links(kept["html"]) == [LINK]
    assert kept["attachments"] == [
        {"filename": "INV-42.pdf", "content_type": "application/pdf", "size": 8}
    ]


async def test_messages_filter_by_recipient_and_subject(mail: Client) -> None:
    await send(mail, welcome("ann@adatum.example", "Welcome"))
    await send(mail, welcome("bob@trey.example", "New order A-1007 waits"))
    await send(mail, welcome("bob@trey.example", "Invoice INV-1"))
    assert [m["subject"] for m in await listed(mail, to="BOB@trey.example")] == [
        "New order A-1007 waits",
        "Invoice INV-1",
    ]
    assert [m["id"] for m in await listed(mail, to="bob@trey.example", subject="order")] == [2]
    assert await listed(mail, to="nobody@example.com") == []
    missing = await mail.get("/_control/mail/messages/99")
    assert missing.status == 404


async def test_any_credentials_log_in_without_tls(mail: Client) -> None:
    await send(mail, welcome(), username="bus", password="anything")
    [kept] = await listed(mail)
    assert kept["auth_login"] == "bus"


async def test_reject_at_data_gives_the_client_the_configured_code(mail: Client) -> None:
    fault = {"mode": "reject", "code": 451, "message": "Try again later", "times": 1}
    answer = await mail.post("/_control/mail/smtp-faults", json=fault)
    assert (await answer.json())["fault"]["code"] == 451
    with pytest.raises(aiosmtplib.SMTPResponseException) as raised:
        await send(mail, welcome())
    assert raised.value.code == 451 and raised.value.message == "Try again later"
    assert await listed(mail) == []
    # "times": 1 is used up: the retry goes through.
    assert (await (await mail.get("/_control/mail/smtp-faults")).json()) == {"fault": None}
    await send(mail, welcome())
    assert len(await listed(mail)) == 1


async def test_reject_at_rcpt_refuses_recipients(mail: Client) -> None:
    await mail.post(
        "/_control/mail/smtp-faults", json={"mode": "reject", "code": 550, "stage": "rcpt"}
    )
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as raised:
        await send(mail, welcome())
    assert [refused.code for refused in raised.value.recipients] == [550]
    off = await mail.post("/_control/mail/smtp-faults", json={"mode": "off"})
    assert await off.json() == {"fault": None}
    await send(mail, welcome())
    assert len(await listed(mail)) == 1


async def test_slow_fault_delays_the_answer(mail: Client) -> None:
    await mail.post("/_control/mail/smtp-faults", json={"mode": "slow", "delay": 0.3, "times": 1})
    with pytest.raises(aiosmtplib.SMTPTimeoutError):
        await send(mail, welcome(), timeout=0.1)


@pytest.mark.parametrize(
    "spec",
    [{"mode": "explode"}, {"mode": "reject", "code": 250}, {"mode": "reject", "colour": 1}, []],
)
async def test_invalid_smtp_faults_are_refused(mail: Client, spec: Any) -> None:
    response = await mail.post("/_control/mail/smtp-faults", json=spec)
    assert response.status == 400


async def test_clear_and_reset(mail: Client) -> None:
    await send(mail, welcome())
    await send(mail, welcome())
    cleared = await mail.delete("/_control/mail/messages")
    assert await cleared.json() == {"deleted": 2}
    assert await listed(mail) == []
    await send(mail, welcome())
    assert [m["id"] for m in await listed(mail)] == [3]  # ids are not reused after a clear
    await mail.post("/_control/mail/smtp-faults", json={"mode": "reject"})
    await mail.post("/_control/reset")
    assert await listed(mail) == []
    await send(mail, welcome())
    assert [m["id"] for m in await listed(mail)] == [1]


async def test_smtp_stops_with_the_app() -> None:
    app = create_app(smtp_port=0)
    async with TestServer(app):
        port = app[MAIL_KEY].smtp_port
        await aiosmtplib.send(welcome(), hostname="127.0.0.1", port=port, start_tls=False)
        assert len(app[MAIL_KEY].mailbox.messages) == 1
    assert app[MAIL_KEY].running is False
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await aiosmtplib.send(welcome(), hostname="127.0.0.1", port=port, start_tls=False)


def test_extract_links_trims_prose_punctuation() -> None:
    text = (
        "Set it here: https://b2b.example/set?a=1&b=2. Or (see https://x.example/wiki/A_(b)), "
        "<https://y.example/path> and https://b2b.example/set?a=1&b=2 again; ftp://no.example"
    )
    assert extract_links(text) == [
        "https://b2b.example/set?a=1&b=2",
        "https://x.example/wiki/A_(b)",
        "https://y.example/path",
    ]
    assert extract_links("no links here") == []
