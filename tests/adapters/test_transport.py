"""The HTTP client of the bus's adapters (httpx over aiohttp's connections), against real servers.

A request must reach the server as httpx's own transport would send it, the answer must read the
same, and every failure must say whether the request may have been received: the difference between
a retry and an *unknown outcome* (an order created twice, or never).
"""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bus.adapters.http import cookieless_jar, upstream_errors
from bus.adapters.transport import http_client
from bus.errors import TransientError, UnknownOutcome

pytestmark = pytest.mark.timeout(30)

Seen = list[dict[str, Any]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _record(request: web.Request, seen: Seen) -> web.Response:
    seen.append(
        {
            "method": request.method,
            "path": request.raw_path,
            "headers": {k.lower(): v for k, v in request.headers.items() if k.lower() != "host"},
            "body": await request.read(),
            "peer": request.transport.get_extra_info("peername") if request.transport else None,
        }
    )
    answer = web.Response(status=201, reason="Created Here", text='{"No": "S-1"}')
    answer.headers["Content-Type"] = "application/json"
    answer.headers.add("X-Twice", "1")
    answer.headers.add("X-Twice", "2")
    answer.set_cookie("session", "secret")
    return answer


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def _send(client: httpx.AsyncClient, base: str) -> httpx.Response:
    return await client.post(
        f"{base}/Company('CRONUS')/SalesOrder",
        params={"$filter": "External_Document_No eq 'a b&c/ä'", "company": "Ünïcode"},
        json={"No": "x", "Lines": [1, 2]},
        auth=("bus", "bus-secret"),
        headers={"If-Match": 'W/"1"'},
    )


async def test_a_request_arrives_as_httpx_sends_it_and_the_answer_reads_the_same() -> None:
    seen: Seen = []

    async def record(request: web.Request) -> web.Response:
        return await _record(request, seen)

    async with serving(record) as base:
        async with httpx.AsyncClient() as reference, http_client() as ours:
            expected, got = await _send(reference, base), await _send(ours, base)
    sent_by_httpx, sent_by_ours = seen
    assert sent_by_ours["method"] == sent_by_httpx["method"] == "POST"
    assert sent_by_ours["path"] == sent_by_httpx["path"]
    assert sent_by_ours["headers"] == sent_by_httpx["headers"]
    assert sent_by_ours["body"] == sent_by_httpx["body"]
    assert (got.status_code, got.reason_phrase, got.json()) == (201, "Created Here", {"No": "S-1"})
    assert got.headers.get_list("X-Twice") == expected.headers.get_list("X-Twice") == ["1", "2"]
    assert got.http_version == "HTTP/1.1"


async def test_a_compressed_answer_is_decoded_and_says_how_it_came() -> None:
    async def gzipped(_: web.Request) -> web.Response:
        body = gzip.compress(b'{"ok": true}', mtime=0)
        return web.Response(body=body, headers={"Content-Encoding": "gzip"})

    async with serving(gzipped) as base, http_client() as client:
        answer = await client.get(base)
    assert answer.json() == {"ok": True}
    assert answer.headers["Content-Encoding"] == "gzip"


async def test_no_cookie_is_kept_and_no_redirect_followed() -> None:
    seen: Seen = []

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/moved":
            raise web.HTTPFound("/elsewhere")
        return await _record(request, seen)

    async with serving(handler) as base, http_client(cookies=cookieless_jar()) as client:
        base = base.replace("127.0.0.1", "localhost")  # aiohttp would keep no cookie of an IP
        await client.get(f"{base}/first")  # sets a cookie
        await client.get(f"{base}/second")
        moved = await client.get(f"{base}/moved")
    assert "cookie" not in seen[1]["headers"]
    assert (moved.status_code, moved.headers["Location"]) == (302, "/elsewhere")
    assert len(seen) == 2


async def test_connections_are_kept_alive_up_to_the_limit() -> None:
    seen: Seen = []

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.05)
        return await _record(request, seen)

    async with serving(slow) as base, http_client(max_connections=3) as client:
        await asyncio.gather(*(client.get(base) for _ in range(12)))
        await client.get(base)
    assert len({entry["peer"] for entry in seen}) == 3


async def test_a_request_goes_through_the_proxy_the_environment_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As httpx's own transport does: HTTP_PROXY for http URLs, NO_PROXY's hosts directly."""
    seen: Seen = []

    async def proxy(request: web.Request) -> web.Response:
        seen.append({"url": str(request.url), "host": request.headers["Host"]})
        return web.Response(text="via the proxy")

    async def direct(request: web.Request) -> web.Response:
        return web.Response(text="direct")

    async with serving(proxy) as proxy_url, serving(direct) as direct_url:
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with http_client() as client:
            proxied = await client.get("http://erp.example.invalid/orders?no=1")
            bypassed = await client.get(f"{direct_url}/orders")
    assert proxied.text == "via the proxy"
    url, host = "http://erp.example.invalid/orders?no=1", "erp.example.invalid"
    assert seen == [{"url": url, "host": host}]
    assert bypassed.text == "direct"


# --- what a failure says about the request -------------------------------------------------------


async def _classified(client: httpx.AsyncClient, url: str, *, idempotent: bool) -> Exception:
    with pytest.raises((TransientError, UnknownOutcome)) as raised:
        with upstream_errors("NAV", idempotent=idempotent):
            await client.post(url, json={"No": "x"})
    return raised.value


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_refused_connection_sent_nothing_so_it_is_retried() -> None:
    async with http_client() as client:
        error = await _classified(client, f"http://127.0.0.1:{_closed_port()}/", idempotent=False)
    assert isinstance(error, TransientError) and "unreachable" in str(error)
    assert isinstance(error.__cause__, httpx.ConnectError)


async def test_a_connection_dropped_after_the_request_is_an_unknown_outcome() -> None:
    async def drop(request: web.Request) -> web.Response:
        await request.read()  # the request was received ...
        assert request.transport is not None
        request.transport.close()  # ... and no answer comes
        await asyncio.sleep(1)
        return web.Response()

    async with serving(drop) as base, http_client() as client:
        error = await _classified(client, base, idempotent=False)
        read = await _classified(client, base, idempotent=True)
    assert isinstance(error, UnknownOutcome)
    assert isinstance(error.__cause__, httpx.RemoteProtocolError)
    assert isinstance(read, TransientError)


async def test_no_answer_in_time_is_an_unknown_outcome() -> None:
    async def silent(_: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response()

    async with serving(silent) as base, http_client(timeout=httpx.Timeout(5, read=0.3)) as client:
        error = await _classified(client, base, idempotent=False)
    assert isinstance(error, UnknownOutcome)
    assert isinstance(error.__cause__, httpx.ReadTimeout)


async def test_no_free_connection_in_time_sent_nothing() -> None:
    release = asyncio.Event()

    async def held(_: web.Request) -> web.Response:
        await release.wait()
        return web.Response()

    timeout = httpx.Timeout(5, pool=0.3)
    async with serving(held) as base, http_client(max_connections=1, timeout=timeout) as client:
        holding = asyncio.create_task(client.get(base))
        await asyncio.sleep(0.1)
        error = await _classified(client, base, idempotent=False)
        release.set()
        assert (await holding).status_code == 200
    assert isinstance(error, TransientError)
    assert isinstance(error.__cause__, httpx.ConnectTimeout)
