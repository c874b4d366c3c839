"""The console's overview and failure groups: counts that link to their messages, groups with
their replay and cancel, and a group action refused when the group changed since it was seen."""

from __future__ import annotations

import html
import re
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.db import reading
from bus.journal.queries import get_message
from tests.console.conftest import failed_order, sign_in

Client = TestClient[Any, Any]


async def _page(browser: Client, path: str) -> str:
    answer = await browser.get(path)
    assert answer.status == 200, await answer.text()
    return " ".join(html.unescape(await answer.text()).split())


async def _group_id(browser: Client) -> str:
    found = re.search(
        r'href="/console/groups/([0-9a-f]{10})"', await _page(browser, "/console/groups")
    )
    assert found
    return found.group(1)


async def test_the_overview_counts_failed_orders_and_links_to_them(
    browser: Client, journal: AsyncEngine
) -> None:
    ids = [await failed_order(journal, f"OV-{n}") for n in (1, 2)]
    await sign_in(browser)
    page = await _page(browser, "/console/")
    assert '<a href="/console/messages?target=navision&status=failed">2</a>' in page
    assert "Oldest waiting" in page and ids[0] in page  # the oldest failed message
    assert "The embedded queue" in page  # no Redis: no queue depth to read
    listed = await _page(browser, "/console/messages?target=navision&status=failed")
    assert "2 message(s)" in listed and all(i in listed for i in ids)
    assert (await browser.get("/console/messages?status=lost")).status == 400


async def test_orders_failing_alike_are_one_group_replayed_at_once(
    browser: Client, journal: AsyncEngine
) -> None:
    ids = [
        await failed_order(journal, f"GR-{n}", error=f"HTTP 400: Item {n}000 does not exist")
        for n in (1, 2)
    ]
    other = await failed_order(journal, "GR-3", error="HTTP 503: service unavailable")
    csrf = await sign_in(browser)
    page = await _page(browser, "/console/groups")
    assert "2 × order.submit → navision" in page and "1 × order.submit → navision" in page
    assert "HTTP 400: Item # does not exist" in page
    group = re.search(r'id="group-([0-9a-f]{10})"', page)
    assert group
    members = await _page(browser, f"/console/groups/{group.group(1)}")
    assert all(i in members for i in ids) and other not in members

    answer = await browser.post(
        f"/console/groups/{group.group(1)}/replay",
        data={"csrf": csrf, "reason": "items created in NAV", "count": "2"},
        allow_redirects=False,
    )
    assert answer.status == 303
    done = await _page(browser, answer.headers["Location"])
    assert "Replayed 2 message(s)." in done
    for message_id in ids:
        message = await _message(journal, message_id)
        assert message["status"] == "accepted"
        [action] = message["actions"]
        assert (action["actor"], action["reason"]) == ("console:ops", "items created in NAV")
    assert (await _message(journal, other))["status"] == "failed"


async def test_a_group_is_not_acted_on_when_it_changed_since_it_was_seen(
    browser: Client, journal: AsyncEngine
) -> None:
    first = await failed_order(journal, "CH-1")
    csrf = await sign_in(browser)
    group = await _group_id(browser)
    later = await failed_order(journal, "CH-2")  # fails alike after the page was read
    answer = await browser.post(
        f"/console/groups/{group}/cancel",
        data={"csrf": csrf, "reason": "duplicates", "count": "1"},
    )
    assert answer.status == 409 and "2 message(s) now" in await answer.text()
    for message_id in (first, later):
        assert (await _message(journal, message_id))["status"] == "failed"
    answer = await browser.post(
        f"/console/groups/{group}/cancel",
        data={"csrf": csrf, "reason": "duplicates", "count": "2"},
        allow_redirects=False,
    )
    assert "Cancelled 2 message(s)." in await _page(browser, answer.headers["Location"])
    for message_id in (first, later):
        assert (await _message(journal, message_id))["status"] == "cancelled"


async def test_a_group_action_needs_the_token_and_a_reason(
    browser: Client, journal: AsyncEngine
) -> None:
    message_id = await failed_order(journal, "TOK-1")
    csrf = await sign_in(browser)
    group = await _group_id(browser)
    url = f"/console/groups/{group}/replay"
    assert (await browser.post(url, data={"reason": "x", "count": "1"})).status == 403
    assert (await browser.post(url, data={"csrf": csrf, "count": "1"})).status == 400
    assert (await _message(journal, message_id))["status"] == "failed"


async def _message(journal: AsyncEngine, message_id: str) -> dict[str, Any]:
    async with reading(journal) as conn:
        message = await get_message(conn, message_id)
    assert message is not None
    return message
