"""httpx's client over aiohttp's connections: the adapters keep httpx's API (requests, responses,
event hooks, auth, respx in their unit tests) while the bytes go through aiohttp's HTTP/1.1 client.

httpx's own transport (httpcore over anyio and h11) was the largest part of a worker's CPU: about
2.1 ms per POST against 1.0 ms for the same client over this transport, measured on one machine
with one local server. Every system the bus talks to speaks HTTP/1.1.

aiohttp's errors are mapped onto httpx's transport errors by what they say about the request, since
:func:`bus.adapters.http.upstream_errors` turns that into a retry or an *unknown outcome*: only a
failure to get a connection (refused, DNS, TLS, or no connection within the pool's timeout) means
nothing was sent. Anything later (a dropped connection, a read timeout, a broken answer) may come
after the server received the request, and is a read or protocol error.
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import httpx
from yarl import URL

#: httpx sets each of these on every request; aiohttp must not add its own values.
_HTTPX_SETS = frozenset({"User-Agent", "Accept", "Accept-Encoding", "Content-Type"})


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends each request with one ``aiohttp.ClientSession``.

    The session is made on the first request (it belongs to the running event loop). It keeps no
    cookies (httpx's client decides which cookies a request carries) and follows no redirects,
    and it does not decompress: httpx decodes the body by its ``Content-Encoding``. A request goes
    through the proxy the environment names for its scheme (``HTTP_PROXY``, ``HTTPS_PROXY``,
    ``ALL_PROXY``, less ``NO_PROXY``), as httpx's own transport sends it; read when the transport
    is made.
    """

    def __init__(self, limits: httpx.Limits, ssl_context: ssl.SSLContext | None = None) -> None:
        self._limits = limits
        self._ssl = ssl_context or httpx.create_ssl_context()
        self._proxies = urllib.request.getproxies_environment()
        self._session: aiohttp.ClientSession | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and read the whole answer (the bus reads every body it receives)."""
        body = await request.aread()
        with _as_httpx_errors(request):
            async with self._client().request(
                request.method,
                URL(str(request.url), encoded=True),  # httpx has encoded it already
                headers=request.headers.multi_items(),
                data=body or None,
                skip_auto_headers=_HTTPX_SETS,
                allow_redirects=False,
                auto_decompress=False,
                timeout=_timeout(request),
                proxy=self._proxy_for(request.url),
            ) as answer:
                content = await answer.read()
        return httpx.Response(
            answer.status,
            headers=list(answer.raw_headers),
            content=content,
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": _reason(answer)},
        )

    def _proxy_for(self, url: httpx.URL) -> str | None:
        if not self._proxies:  # the common case: nothing to look up
            return None
        proxy = self._proxies.get(url.scheme) or self._proxies.get("all")
        if proxy is None or urllib.request.proxy_bypass(url.host):
            return None
        return proxy

    async def aclose(self) -> None:
        """Close the session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._limits.max_connections or 0,
                keepalive_timeout=self._limits.keepalive_expiry or 5.0,
                ssl=self._ssl,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None),
            )
        return self._session


def http_client(
    *,
    max_connections: int | None = None,
    event_hooks: dict[str, list[Any]] | None = None,
    cookies: Any = None,
    timeout: float | httpx.Timeout = 5.0,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` over :class:`AiohttpTransport` (at most ``max_connections`` open,
    all of them kept alive between requests)."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=None)
    return httpx.AsyncClient(
        transport=AiohttpTransport(limits),
        event_hooks=event_hooks,
        cookies=cookies,
        timeout=timeout,
    )


def _reason(answer: aiohttp.ClientResponse) -> bytes:
    return (answer.reason or "").encode("latin-1", "replace")


def _timeout(request: httpx.Request) -> aiohttp.ClientTimeout:
    """httpx's per-phase timeouts as aiohttp's: ``pool`` bounds getting a connection (connecting
    included), ``connect`` a new connection's set-up, ``read`` each wait for the answer's bytes."""
    phases = request.extensions.get("timeout", {})
    return aiohttp.ClientTimeout(
        total=None,
        connect=phases.get("pool"),
        sock_connect=phases.get("connect"),
        sock_read=phases.get("read"),
    )


@contextmanager
def _as_httpx_errors(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        raise httpx.ConnectTimeout(str(exc), request=request) from exc
    except aiohttp.ClientConnectorError as exc:  # refused, DNS, TLS: before the request
        raise httpx.ConnectError(str(exc), request=request) from exc
    except aiohttp.ServerTimeoutError as exc:
        raise httpx.ReadTimeout(str(exc) or "no answer in time", request=request) from exc
    except aiohttp.InvalidURL as exc:
        raise httpx.UnsupportedProtocol(str(exc), request=request) from exc
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
        raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=request) from exc
    except aiohttp.ClientResponseError as exc:  # an answer aiohttp could not parse
        raise httpx.RemoteProtocolError(exc.message, request=request) from exc
    except (aiohttp.ClientError, OSError) as exc:  # reset or broken pipe, maybe after sending
        raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc
