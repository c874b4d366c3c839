"""The console's pages of messages: one message with all the journal knows of it, its neighbours,
and the search by order id, customer and ERP number, on SQLite and PostgreSQL; no secret shows."""

from __future__ import annotations

import html
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import writing
from bus.journal.tables import messages
from bus.sealing import Sealer
from tests.console.conftest import NAV_PASSWORD, failed_order, sign_in

Client = TestClient[Any, Any]


async def _page(browser: Client, path: str) -> str:
    answer = await browser.get(path)
    assert answer.status == 200, await answer.text()
    return html.unescape(await answer.text())


async def test_a_message_shows_payload_attempts_exchanges_and_error(
    browser: Client, journal: AsyncEngine
) -> None:
    request = [{"method": "POST", "url": "http://nav/SalesOrder", "body": {"Sell_to": "10000"}}]
    response = [{"status": 400, "body": {"error": {"message": "Item 9999 does not exist"}}}]
    message_id = await failed_order(journal, "SHOW-1", exchange=(request, response))
    await sign_in(browser)
    page = await _page(browser, f"/console/messages/{message_id}")
    for shown in (
        "order.submit",
        "sales_order.create",
        "order:SHOW-1",
        '"order_id": "SHOW-1"',
        "HTTP 400: Item 9999 does not exist",
        "http://nav/SalesOrder",
        '"Sell_to": "10000"',
        "#1 failed · HTTP 400",
    ):
        assert shown in page, shown
    assert "Replay" in page and "Cancel" in page and "Release" not in page


async def test_an_answer_not_kept_is_told_from_no_answer(
    browser: Client, journal: AsyncEngine
) -> None:
    """keep_exchange = "sent" keeps no answer of a delivered attempt: the page does not say the
    system did not answer."""
    request = [{"method": "POST", "url": "http://nav/SalesOrder", "body": {"Sell_to": "10000"}}]
    not_kept = await failed_order(journal, "KEPT-1", exchange=(request, None))
    unanswered = await failed_order(journal, "KEPT-2", exchange=(request, [None]))
    await sign_in(browser)
    page = await _page(browser, f"/console/messages/{not_kept}")
    assert "The answer is not kept" in page and "No answer." not in page
    page = await _page(browser, f"/console/messages/{unanswered}")
    assert "No answer." in page and "not kept" not in page


async def test_a_message_links_its_neighbours_in_its_key(
    browser: Client, journal: AsyncEngine
) -> None:
    first = await failed_order(journal, "KEY-1")
    # a second message of the same key waits behind the first
    second = await failed_order(journal, "KEY-1b")
    async with writing(journal) as conn:
        await conn.execute(
            update(messages)
            .where(messages.c.id == second)
            .values(ordering_key="order:KEY-1", ordering_seq=2)
        )
    await sign_in(browser)
    page = " ".join((await (await browser.get(f"/console/messages/{first}")).text()).split())
    assert f'next of its key: <a class="id" href="/console/messages/{second}">' in page
    assert "previous of its key" not in page
    back = " ".join((await (await browser.get(f"/console/messages/{second}")).text()).split())
    assert f'<a class="id" href="/console/messages/{first}">{first}</a>' in back


async def test_no_such_message_is_a_404_that_says_so(browser: Client) -> None:
    await sign_in(browser)
    answer = await browser.get("/console/messages/01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert answer.status == 404 and "No such message" in await answer.text()


async def test_search_finds_an_order_by_its_id_its_customer_and_its_erp_number(
    browser: Client, journal: AsyncEngine
) -> None:
    wanted = await failed_order(
        journal,
        "FIND-7",
        customer="C-4711",
        result={"erp_order_no": "SO-90001", "erp_receipt": {"number": "SO-90001"}},
    )
    other = await failed_order(journal, "FIND-8", customer="C-4712")
    await sign_in(browser)
    for kind, value in (
        ("order", "FIND-7"),
        ("customer", "C-4711"),
        ("erp", "SO-90001"),
        ("any", "SO-90001"),
        ("any", "FIND-7"),
    ):
        page = await _page(browser, f"/console/search?kind={kind}&q={value}")
        assert wanted in page and other not in page, (kind, value)
        assert "1 message(s)" in page
    page = await _page(browser, "/console/search?kind=erp&q=SO-0")
    assert "No message carries that key." in page


async def test_search_finds_an_erp_number_the_later_steps_carry(
    browser: Client, journal: AsyncEngine
) -> None:
    later = await failed_order(
        journal, "REF-1", result={"order_references": {"order_id": "REF-1", "erp_number": "101"}}
    )
    await sign_in(browser)
    assert later in await _page(browser, "/console/search?kind=erp&q=101")


async def test_search_finds_a_split_orders_keys(browser: Client, journal: AsyncEngine) -> None:
    split = await failed_order(journal, "SPLIT-1-x")
    async with writing(journal) as conn:
        await conn.execute(
            update(messages)
            .where(messages.c.id == split)
            .values(ordering_key="order:SPLIT-1/C-2", payload={"lines": []})
        )
    await sign_in(browser)
    assert split in await _page(browser, "/console/search?kind=order&q=SPLIT-1")
    # a LIKE wildcard in the id is text, not a pattern
    assert split not in await _page(browser, "/console/search?kind=order&q=SPLIT-_")


async def test_search_refuses_what_is_no_key(browser: Client) -> None:
    await sign_in(browser)
    assert (await browser.get("/console/search?kind=nope&q=1")).status == 400
    assert (await browser.get("/console/search?q=" + "x" * 201)).status == 400


async def test_no_secret_reaches_a_page(browser: Client, journal: AsyncEngine) -> None:
    link = "https://shop.example/set-password?token=s3cr3t-reset-token"
    sealed = Sealer.development().seal(link)
    message_id = await failed_order(
        journal,
        "SECRET-1",
        error=f"navision refused user bus with password {NAV_PASSWORD}",
        result={"set_password_link": sealed, "mail": {"link": sealed}},
        exchange=(
            [{"url": "http://nav/x", "headers": {"Authorization": f"Basic {NAV_PASSWORD}"}}],
            [{"status": 401, "body": f"bad password {NAV_PASSWORD}"}],
        ),
    )
    async with writing(journal) as conn:
        await conn.execute(
            update(messages)
            .where(messages.c.id == message_id)
            .values(payload={"order_id": "SECRET-1", "password": "hunter2-plain", "link": link})
        )
    await sign_in(browser)
    for path in (f"/console/messages/{message_id}", "/console/search?q=SECRET-1"):
        page = await (await browser.get(path)).text()
        assert message_id in page
        for secret in (NAV_PASSWORD, "hunter2-plain", "s3cr3t-reset-token", sealed[8:40]):
            assert secret not in page, (path, secret)
