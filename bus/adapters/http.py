"""Classifying HTTP failures into the bus's error tree, in one place for every adapter.

Connection failures before anything was sent are transient. A timeout or a dropped connection after
a non-idempotent request was sent is an *unknown outcome*: the effect may have landed. 429 is a
throttle (a delay that does not count as an attempt); 429 and 503 honour ``Retry-After``; other
5xx, 408 and 409 are transient; remaining 4xx are permanent.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from bus.errors import DeliveryError, PermanentError, TransientError, UnknownOutcome

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_TRANSIENT_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


@contextmanager
def upstream_errors(system: str, *, idempotent: bool) -> Iterator[None]:
    """Translate httpx transport errors raised inside the block (``raise … from exc``).

    Parameters:
        system: named in the error text.
        idempotent: whether repeating the request is harmless (GET); if not, a lost answer is an
            unknown outcome rather than a transient error.
    """
    try:
        yield
    except _NOT_SENT as exc:
        raise TransientError(f"{system} unreachable: {_describe(exc)}") from exc
    except httpx.TransportError as exc:
        if idempotent:
            raise TransientError(f"{system} did not answer: {_describe(exc)}") from exc
        raise UnknownOutcome(
            f"{system} did not answer after the request was sent: {_describe(exc)}"
        ) from exc


def raise_for_status(
    response: httpx.Response, system: str, describe: Callable[[httpx.Response], str]
) -> None:
    """Raise the classified error for a non-2xx ``response``; ``describe`` extracts its reason."""
    if response.is_success:
        return
    status = response.status_code
    detail = f"{system} answered {status}: {describe(response)}"
    if status in _TRANSIENT_STATUSES:
        # 429 is the target's pace, not its health: a delay, not a counted attempt.
        raise TransientError(
            detail,
            http_status=status,
            retry_after=retry_after(response),
            throttled=status == 429,
        )
    raise PermanentError(detail, http_status=status)


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), if present."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    parsed = email.utils.parsedate_to_datetime(value) if value else None
    return None if parsed is None else max(0.0, parsed.timestamp() - time.time())


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def json_object(response: httpx.Response, system: str, *, idempotent: bool) -> dict[str, Any]:
    """The response's JSON object; a body that is not one is a :func:`malformed` answer."""
    try:
        document = response.json()
    except ValueError:
        document = None
    if isinstance(document, dict):
        return document
    detail = f"{system} answered {response.status_code} with a body that is not a JSON object"
    raise malformed(detail, idempotent=idempotent, http_status=response.status_code)


def malformed(detail: str, *, idempotent: bool, http_status: int | None = None) -> DeliveryError:
    """The error for an answer the adapter cannot read (wrong shape, wrong types).

    After a request that changes something, an unreadable answer leaves the effect unknown (the
    next attempt looks it up); after a read, asking again is harmless.
    """
    if idempotent:
        return TransientError(detail, http_status=http_status)
    return UnknownOutcome(detail, http_status=http_status)


def cookieless_jar() -> CookieJar:
    """A cookie jar that keeps nothing, for the shared client.

    Every adapter shares one client; an adapter that keeps a session (Creatio) sends its own
    cookies explicitly, and no system's cookies may leak into requests to another.
    """
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


def odata_error(response: httpx.Response) -> str:
    """An OData ``{"error": {"code", "message"}}`` envelope (NAV, Creatio) as one line."""
    try:
        error = response.json().get("error") or {}
        return f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
    except (ValueError, AttributeError):
        return response.text[:300] or response.reason_phrase
