"""Recording each attempt's HTTP exchange, with secrets redacted, for the attempt log.

The shared httpx client carries two event hooks; they append to the exchange list of the current
delivery, found through a context variable, so adapters record without knowing it. What is stored
is made when the attempt is recorded, and only if it is kept. Everything stored goes through the
process's :mod:`bus.redaction`: the URL (a Bitrix24 webhook's code, OAuth parameters of the
query), the headers, and the bodies (JSON fields named as secrets, form bodies' secret
parameters, every configured secret and token handed out wherever it occurs).
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any

import httpx

from bus.redaction import active

_MAX_BODY = 8_192


@dataclass
class Exchange:
    """One HTTP request and its response as they went. What is stored of them (:attr:`request`,
    :attr:`response`) is built and redacted when asked for: a part not kept
    (``retention.keep_exchange``: a delivered attempt's response by default) is neither parsed nor
    redacted."""

    sent: httpx.Request
    received: httpx.Response | None = None

    @property
    def status(self) -> int | None:
        """The response's HTTP status; ``None`` if none came."""
        return None if self.received is None else self.received.status_code

    @property
    def request(self) -> dict[str, Any]:
        """The request to store, redacted."""
        return {
            "method": self.sent.method,
            "url": active().text(str(self.sent.url)),
            "headers": redact_headers(self.sent.headers),
            "body": _body(self.sent.content),
        }

    @property
    def response(self) -> dict[str, Any] | None:
        """The response to store, redacted; ``None`` if none came."""
        if self.received is None:
            return None
        return {
            "status": self.received.status_code,
            "headers": redact_headers(self.received.headers),
            "body": _body(self.received.content),
        }


@dataclass
class ExchangeLog:
    """The exchanges of one delivery attempt, newest last."""

    exchanges: list[Exchange] = field(default_factory=list)

    @property
    def last(self) -> Exchange | None:
        """The most recent exchange, if any."""
        return self.exchanges[-1] if self.exchanges else None


_current: contextvars.ContextVar[ExchangeLog | None] = contextvars.ContextVar(
    "bus_exchange_log", default=None
)


def start_log() -> ExchangeLog:
    """Begin recording the exchanges of the current task's delivery attempt."""
    log = ExchangeLog()
    _current.set(log)
    return log


async def _on_request(request: httpx.Request) -> None:
    log = _current.get()
    if log is not None:
        log.exchanges.append(Exchange(request))


async def _on_response(response: httpx.Response) -> None:
    log = _current.get()
    if log is not None and log.last is not None:
        await response.aread()  # its body, for the record, whoever reads the response
        log.last.received = response


#: Pass to ``httpx.AsyncClient(event_hooks=...)``.
EVENT_HOOKS: dict[str, list[Any]] = {"request": [_on_request], "response": [_on_response]}


def redact_headers(headers: httpx.Headers) -> dict[str, str]:
    """Headers with credentials replaced by ``***`` and secrets redacted from the others."""
    return active().headers(headers.items())


def redact(value: Any) -> Any:
    """A copy of a JSON value with every secret-looking field's value replaced by ``***``."""
    return active().json(value)


def _body(content: bytes) -> Any:
    if not content:
        return None
    try:
        return active().json_document(content)
    except ValueError:  # not JSON
        text = active().text(content[:_MAX_BODY].decode("utf-8", "replace"))
        return text if len(content) <= _MAX_BODY else text + "…"
