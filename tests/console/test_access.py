"""Who may enter the console and what a form must carry: the operators' key, a session cookie
kept private, a CSRF token and a reason on every action."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, make_mocked_request
from aiohttp.web import Response
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.console.access import HOME
from bus.console.session import COOKIE, Session, SessionCookies
from bus.db import reading
from bus.journal.queries import get_message
from bus.journal.storable import REPLACEMENT
from bus.settings import DEV_KEYS, Settings
from tests.console.conftest import (
    ClientFactory,
    console_app,
    console_settings,
    csrf_of,
    failed_order,
    sign_in,
)

Client = TestClient[Any, Any]


async def test_a_page_asks_a_stranger_to_sign_in_first(browser: Client) -> None:
    answer = await browser.get("/console/search?q=A-1", allow_redirects=False)
    assert answer.status == 303
    assert answer.headers["Location"] == "/console/login?next=/console/search%3Fq%3DA-1"


async def test_an_unknown_key_is_refused_and_never_written_back(browser: Client) -> None:
    answer = await browser.post("/console/login", data={"key": "guessed-key-123"})
    page = await answer.text()
    assert answer.status == 401 and "That key is not known." in page
    assert "guessed-key-123" not in page
    assert COOKIE not in answer.cookies
    assert (await browser.get("/console/search", allow_redirects=False)).status == 303


async def test_a_client_that_is_not_an_operator_may_not_enter(browser: Client) -> None:
    answer = await browser.post("/console/login", data={"key": DEV_KEYS["storefront"]})
    assert answer.status == 403
    assert "not an operator" in await answer.text()
    assert COOKIE not in answer.cookies
    assert (await browser.get("/console/search", allow_redirects=False)).status == 303


async def test_the_ops_key_starts_a_private_session(browser: Client) -> None:
    answer = await browser.post(
        "/console/login",
        data={"key": DEV_KEYS["ops"], "next": "/console/search?q=A-1"},
        allow_redirects=False,
    )
    assert answer.status == 303 and answer.headers["Location"] == "/console/search?q=A-1"
    cookie = answer.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/console"
    assert not cookie["secure"]  # plain HTTP here: a Secure cookie would never come back
    assert DEV_KEYS["ops"] not in cookie.value  # encrypted: not even the client's key shows
    page = await browser.get("/console/search")
    assert page.status == 200 and "ops" in await page.text()


@pytest.mark.parametrize(
    ("headers", "tls", "secure"),
    [
        ({}, True, True),
        ({"X-Forwarded-Proto": "https"}, False, True),  # a proxy ended TLS
        ({"Forwarded": "for=10.0.0.1;proto=https"}, False, True),
        ({"X-Forwarded-Proto": "http"}, False, False),
        ({}, False, False),
    ],
)
def test_over_https_the_cookie_is_secure(headers: dict[str, str], tls: bool, secure: bool) -> None:
    cookies = SessionCookies(Settings().journal_encryption_keys)
    response = Response()
    request = make_mocked_request("POST", "/console/login", headers=headers, sslcontext=tls)  # type: ignore[arg-type]
    cookies.write(request, response, Session.start("ops", Settings().clients["ops"].key))
    assert bool(response.cookies[COOKIE]["secure"]) is secure


async def test_a_sign_in_goes_nowhere_but_the_console(browser: Client) -> None:
    for elsewhere in ("https://example.org/", "//example.org/console/", "/rpc"):
        answer = await browser.post(
            "/console/login",
            data={"key": DEV_KEYS["ops"], "next": elsewhere},
            allow_redirects=False,
        )
        assert answer.headers["Location"] == HOME, elsewhere


async def test_an_altered_cookie_is_no_session(browser: Client) -> None:
    await sign_in(browser)
    token = browser.session.cookie_jar.filter_cookies(browser.make_url("/console/"))[COOKIE]
    browser.session.cookie_jar.update_cookies(
        {COOKIE: token.value[:-4] + ("AAAA" if not token.value.endswith("AAAA") else "BBBB")},
        browser.make_url("/console/"),
    )
    assert (await browser.get("/console/search", allow_redirects=False)).status == 303


async def test_a_session_ends_when_the_ops_key_is_replaced(
    aiohttp_client: ClientFactory, journal: AsyncEngine
) -> None:
    before = await aiohttp_client(console_app(journal))
    await sign_in(before)
    after = await aiohttp_client(console_app(journal, console_settings("a-new-ops-key-0001")))
    token = before.session.cookie_jar.filter_cookies(before.make_url("/console/"))[COOKIE]
    answer = await after.get(
        "/console/search", headers={"Cookie": f"{COOKIE}={token.value}"}, allow_redirects=False
    )
    assert answer.status == 303


async def test_pages_are_neither_cached_nor_scripted_nor_framed(browser: Client) -> None:
    await sign_in(browser)
    answer = await browser.get("/console/search")
    assert answer.headers["Cache-Control"] == "no-store"
    assert "script-src" not in answer.headers["Content-Security-Policy"]  # default-src 'none'
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    assert "<script" not in await answer.text()


async def test_an_action_without_the_sessions_token_is_refused(
    browser: Client, journal: AsyncEngine
) -> None:
    message_id = await failed_order(journal, "CSRF-1")
    await sign_in(browser)
    for form in ({"reason": "fixed"}, {"reason": "fixed", "csrf": "forged-token"}):
        answer = await browser.post(f"/console/messages/{message_id}/replay", data=form)
        assert answer.status == 403 and "stale" in await answer.text()
    assert await _status(journal, message_id) == "failed"


async def test_an_action_signed_out_is_refused(browser: Client, journal: AsyncEngine) -> None:
    message_id = await failed_order(journal, "OUT-1")
    answer = await browser.post(
        f"/console/messages/{message_id}/cancel", data={"reason": "x", "csrf": "x"}
    )
    assert answer.status == 403
    assert await _status(journal, message_id) == "failed"


async def test_an_action_needs_a_reason(browser: Client, journal: AsyncEngine) -> None:
    message_id = await failed_order(journal, "WHY-1")
    csrf = await sign_in(browser)
    for reason in ("", "   ", "x" * 1001):
        answer = await browser.post(
            f"/console/messages/{message_id}/replay", data={"csrf": csrf, "reason": reason}
        )
        assert answer.status == 400 and "A reason is needed" in await answer.text()
    assert await _status(journal, message_id) == "failed"


@pytest.mark.parametrize(
    ("sent", "recorded"),
    [
        ("the customer withdrew it", "the customer withdrew it"),
        # PostgreSQL's text holds no NUL (bus.journal.storable): it answered 500, nothing done
        ("withdrawn\x00 by phone", f"withdrawn{REPLACEMENT} by phone"),
    ],
)
async def test_an_action_is_recorded_as_the_consoles_with_its_reason(
    browser: Client, journal: AsyncEngine, sent: str, recorded: str
) -> None:
    message_id = await failed_order(journal, "ACT-1")
    csrf = await sign_in(browser)
    answer = await browser.post(
        f"/console/messages/{message_id}/cancel",
        data={"csrf": csrf, "reason": sent},
        allow_redirects=False,
    )
    assert answer.status == 303
    assert answer.headers["Location"] == f"/console/messages/{message_id}?done=cancel"
    async with reading(journal) as conn:
        message = await get_message(conn, message_id)
    assert message is not None and message["status"] == "cancelled"
    [action] = message["actions"]
    assert (action["action"], action["actor"], action["reason"]) == (
        "cancel",
        "console:ops",
        recorded,
    )
    page = await (await browser.get(answer.headers["Location"])).text()
    assert "Cancelled." in page and recorded in page


async def test_a_refused_action_says_why(browser: Client, journal: AsyncEngine) -> None:
    message_id = await failed_order(journal, "NO-1")
    csrf = await sign_in(browser)
    answer = await browser.post(
        f"/console/messages/{message_id}/release", data={"csrf": csrf, "reason": "try"}
    )
    assert answer.status == 409
    assert re.search(r"status|held", await answer.text())


async def test_signing_out_ends_the_session(browser: Client) -> None:
    csrf = await sign_in(browser)
    assert (await browser.post("/console/logout", data={})).status == 403  # no token
    answer = await browser.post("/console/logout", data={"csrf": csrf}, allow_redirects=False)
    assert answer.status == 303 and answer.headers["Location"] == "/console/login"
    assert (await browser.get("/console/search", allow_redirects=False)).status == 303
    assert await csrf_of_fails(browser)


async def csrf_of_fails(client: Client) -> bool:
    try:
        await csrf_of(client)
    except AssertionError:
        return True
    return False


async def _status(journal: AsyncEngine, message_id: str) -> str:
    async with reading(journal) as conn:
        message = await get_message(conn, message_id)
    assert message is not None
    return str(message["status"])
