"""The one error tree of the bus, and its single mapping to JSON-RPC error codes.

    BusError
    ├── CallError                      a caller's request cannot be served (JSON-RPC error)
    │   ├── InvalidParams              -32602 params fail validation; data names each field
    │   ├── Unauthenticated            -32001 missing or unknown bearer key
    │   ├── Forbidden                  -32003 the caller may not call this method
    │   ├── IdempotencyConflict        -32010 same idempotency key, different payload
    │   ├── MessageNotFound            -32011 no such message (for this caller)
    │   ├── InvalidTransition          -32012 an operator action the message's status forbids
    │   ├── CallTimeout                -32008 the call exceeded its time budget
    │   ├── UpstreamUnavailable        -32020 a real-time query's system cannot answer now
    │   ├── UpstreamRefused            -32021 the system refused the query (unknown customer)
    │   ├── JournalUnavailable         -32030 the journal cannot be reached now: retry the call
    │   ├── RateLimited                -32029 the caller sent more than its limits allow: wait
    │   └── RequestTooLarge            -32006 body or batch over the configured limit
    └── DeliveryError                  an adapter's outcome for one delivery attempt
        ├── TransientError             retry later (timeouts, 5xx, 429/503 with retry_after)
        ├── PermanentError             retrying cannot help (4xx, validation): fail now
        └── UnknownOutcome             sent, answer lost: the effect may have landed

Every JSON-RPC error the bus answers has ``data``, and it is always an object (``{}`` at least),
whatever the code: callers read its members, never parse a string.

Adapters raise only ``DeliveryError`` subclasses; the delivery policy, not the adapter, decides what
happens next. The JSON-RPC edge turns ``CallError`` into ``{"code", "message", "data"}`` through
``CallError.code``; an error saying that the journal cannot be reached
(``bus.db.journal_unreachable``) becomes ``JournalUnavailable``, whichever handler met it; anything
else becomes a sanitized internal error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from bus.redaction import redact

#: JSON-RPC 2.0 reserved codes used by the edge itself.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603


class BusError(Exception):
    """Root of every error the bus raises on purpose."""


class CallError(BusError):
    """A JSON-RPC call that cannot be served; carries its code, message and data."""

    code: ClassVar[int] = INTERNAL_ERROR
    message: ClassVar[str] = "Internal error"

    def __init__(self, data: Mapping[str, Any] | None = None, message: str | None = None) -> None:
        super().__init__(message or self.message)
        self.data: dict[str, Any] = dict(data or {})
        if message is not None:
            self.message = message  # type: ignore[misc]  # instance override of the default text

    def to_error(self) -> dict[str, Any]:
        """Return the JSON-RPC ``error`` member for this error (``data`` always an object)."""
        return error_member(self.code, self.message, self.data)


def error_member(code: int, message: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A JSON-RPC ``error`` member: the one shape of every error, ``data`` always an object."""
    return {"code": code, "message": message, "data": dict(data or {})}


class InvalidParams(CallError):
    """The params do not match the method's schema."""

    code = INVALID_PARAMS
    message = "Invalid params"


class Unauthenticated(CallError):
    """No bearer key, or a key the bus does not know."""

    code = -32001
    message = "Unauthenticated"


class Forbidden(CallError):
    """The authenticated caller may not call this method."""

    code = -32003
    message = "Forbidden"


class RequestTooLarge(CallError):
    """The body or the batch exceeds the configured limit."""

    code = -32006
    message = "Request too large"


class RateLimited(CallError):
    """The caller sent more calls, or more requests at once, than its limits allow.

    ``data`` carries ``retry_after`` (seconds, also the HTTP ``Retry-After``) and the ``limit``
    that was met (``rate`` or ``concurrency``).
    """

    code = -32029
    message = "Too many requests"


class CallTimeout(CallError):
    """The call did not finish within its time budget."""

    code = -32008
    message = "Call timed out"


class IdempotencyConflict(CallError):
    """The idempotency key was already used with a different payload."""

    code = -32010
    message = "Idempotency key reused with a different payload"


class MessageNotFound(CallError):
    """No message with this id is visible to the caller."""

    code = -32011
    message = "Message not found"


class InvalidTransition(CallError):
    """The requested operator action does not apply to the message's current status."""

    code = -32012
    message = "Invalid status transition"


class UpstreamUnavailable(CallError):
    """A real-time query could not be answered by its system, and no earlier answer is known.

    ``data`` carries ``system``, ``reason`` and ``retry_after`` (seconds).
    """

    code = -32020
    message = "Upstream unavailable"


class UpstreamRefused(CallError):
    """The system answered a real-time query with a refusal (an unknown customer or item).

    ``data`` carries ``system`` and its ``reason``.
    """

    code = -32021
    message = "Upstream refused the query"


class JournalUnavailable(CallError):
    """The journal's database cannot be reached now (down, starting, restarting).

    A command may or may not have been journaled (the connection may have dropped after the
    commit): the caller repeats the same call with the same idempotency key, which journals it
    once. ``data`` carries ``retry_after`` (seconds) and the ``correlation_id`` of the log line.
    """

    code = -32030
    message = "Journal unavailable"


class DeliveryError(BusError):
    """The outcome of a failed delivery attempt, as classified by an adapter.

    Parameters:
        detail: a human-readable reason, stored and shown: redacted here
            (:mod:`bus.redaction`), since it may quote a URL, an answer or a library's message.
        http_status: the target's HTTP status, when there was one.
    """

    def __init__(self, detail: str, *, http_status: int | None = None) -> None:
        detail = redact(detail)
        super().__init__(detail)
        self.detail = detail
        self.http_status = http_status


class TransientError(DeliveryError):
    """The target could not take the message now; a later attempt may succeed.

    Parameters:
        retry_after: seconds the target asked us to wait (429/503), if it said.
        throttled: the target refused for its rate limit, not because it is failing: the
            attempt is not counted against the retry budget, nor against the circuit breaker.
    """

    def __init__(
        self,
        detail: str,
        *,
        http_status: int | None = None,
        retry_after: float | None = None,
        throttled: bool = False,
    ) -> None:
        super().__init__(detail, http_status=http_status)
        self.retry_after = retry_after
        self.throttled = throttled


class PermanentError(DeliveryError):
    """The target refused the message for good; retrying cannot help."""


class UnknownOutcome(DeliveryError):
    """The request was sent but no answer came back: the effect may or may not have landed."""


#: The codes documented in the README, generated from the tree so the two cannot drift.
CALL_ERRORS: tuple[type[CallError], ...] = (
    InvalidParams,
    Unauthenticated,
    Forbidden,
    RequestTooLarge,
    CallTimeout,
    IdempotencyConflict,
    MessageNotFound,
    InvalidTransition,
    UpstreamUnavailable,
    UpstreamRefused,
    JournalUnavailable,
    RateLimited,
)
