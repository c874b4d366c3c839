"""The JSON-RPC 2.0 edge at ``POST /rpc``: limits, authentication, batches, dispatch, errors.

jsonrpcserver is the dispatch core, kept behind this module. Around it the edge adds what the
library lacks (see the stack notes): a body size cap, per-item validation of batches (one invalid
item gets its own ``-32600`` while the others run), bounded batch concurrency, bearer-key
authentication with per-client method lists, pydantic params, a per-call time budget, and error
mapping that never leaks exception text.

HTTP status codes: 200 for any JSON-RPC response (errors included, so clients that stop at non-2xx
still read them), 204 when only notifications were sent, 401 for a missing or unknown key, 413 for
an oversized body or batch. The body is read as JSON whatever its declared ``Content-Type``
(``curl -d`` sends a form type); a body that is not JSON gets ``-32700``.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from jsonrpcserver import Error, Success, async_dispatch_to_serializable
from pydantic import BaseModel, ValidationError

from bus.db import journal_unreachable
from bus.errors import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    PARSE_ERROR,
    CallError,
    CallTimeout,
    Forbidden,
    InvalidParams,
    JournalUnavailable,
    RequestTooLarge,
    Unauthenticated,
)
from bus.settings import ClientSettings, Limits
from schemas.catalog import METHODS
from schemas.jsonrpc import echoable_id, envelope_problem

log = logging.getLogger(__name__)

_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@dataclass(frozen=True)
class Call:
    """What a method handler knows of the call it serves."""

    client: str
    method: str
    correlation_id: str


@dataclass(frozen=True)
class MethodSpec:
    """A JSON-RPC method: its name, params model, handler and a one-line summary."""

    name: str
    params: type[BaseModel]
    handler: Callable[[Call, Any], Awaitable[Any]]
    summary: str

    @classmethod
    def serving(cls, name: str, handler: Callable[[Call, Any], Awaitable[Any]]) -> MethodSpec:
        """The method ``name`` of :data:`schemas.catalog.METHODS`, served by ``handler``."""
        schema = METHODS[name]
        return cls(name, schema.params, handler, schema.summary)


@dataclass(frozen=True)
class _Context:
    """Passed by jsonrpcserver as each method's first argument."""

    client_name: str
    client: ClientSettings
    correlation_id: str


class RpcEdge:
    """The aiohttp handler of ``POST /rpc``.

    Parameters:
        methods: every method the bus serves.
        clients: the callers, by name, with their keys and allowed methods.
        limits: body size, batch length, per-call time budget, batch concurrency.
    """

    def __init__(
        self, methods: Iterable[MethodSpec], clients: dict[str, ClientSettings], limits: Limits
    ) -> None:
        self._limits = limits
        self._clients = clients
        self._keys = {client.key.get_secret_value(): name for name, client in clients.items()}
        self._methods = {spec.name: _dispatchable(spec, limits) for spec in methods}

    async def handle(self, request: web.Request) -> web.Response:
        """Serve one HTTP request carrying a JSON-RPC call, notification or batch."""
        correlation_id = _correlation_id(request)
        try:
            context = self._authenticate(request, correlation_id)
            body = await self._read_body(request)
        except _Refused as refused:
            return refused.response(correlation_id)
        try:
            document = json.loads(body, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            error = {"code": PARSE_ERROR, "message": "Parse error", "data": str(exc)}
            return _json_response(_error_response(error, None), correlation_id)
        if isinstance(document, list):
            return await self._batch(document, context)
        return _json_response(await self._one(document, context), correlation_id)

    async def _batch(self, items: list[Any], context: _Context) -> web.Response:
        if not items:
            error = {
                "code": INVALID_REQUEST,
                "message": "Invalid Request",
                "data": "a batch must contain at least one request",
            }
            return _json_response(_error_response(error, None), context.correlation_id)
        if len(items) > self._limits.max_batch:
            refused = RequestTooLarge({"max_batch": self._limits.max_batch, "got": len(items)})
            return _Refused(413, refused).response(context.correlation_id)
        gate = asyncio.Semaphore(self._limits.batch_concurrency)

        async def bounded(item: Any) -> dict[str, Any] | None:
            async with gate:
                return await self._one(item, context)

        answers = await asyncio.gather(*(bounded(item) for item in items))
        return _json_response([a for a in answers if a is not None] or None, context.correlation_id)

    async def _one(self, item: Any, context: _Context) -> dict[str, Any] | None:
        problem = _envelope_problem(item)
        if problem is not None:
            error = {"code": INVALID_REQUEST, "message": "Invalid Request", "data": problem}
            return _error_response(error, echoable_id(item))
        response = await async_dispatch_to_serializable(
            "",
            methods=self._methods,
            context=context,
            deserializer=lambda _text: item,
            validator=_envelope_checked,
        )
        return response  # type: ignore[return-value]  # one item in: one response or None out

    def _authenticate(self, request: web.Request, correlation_id: str) -> _Context:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        name = self._find_key(key.strip()) if scheme.lower() == "bearer" else None
        if name is None:
            raise _Refused(
                401, Unauthenticated("send 'Authorization: Bearer <key>' with a known key")
            )
        return _Context(name, self._clients[name], correlation_id)

    def _find_key(self, presented: str) -> str | None:
        for key, name in self._keys.items():  # constant-time per key: no timing oracle
            if hmac.compare_digest(key.encode(), presented.encode()):
                return name
        return None

    async def _read_body(self, request: web.Request) -> bytes:
        limit = self._limits.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise _Refused(413, RequestTooLarge({"max_body_bytes": limit}))
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise _Refused(413, RequestTooLarge({"max_body_bytes": limit})) from None


class _Refused(Exception):
    """A whole HTTP request refused before dispatch, with its status and JSON-RPC error."""

    def __init__(self, status: int, error: CallError) -> None:
        super().__init__(error.message)
        self.status = status
        self.error = error

    def response(self, correlation_id: str) -> web.Response:
        response = _json_response(_error_response(self.error.to_error(), None), correlation_id)
        response.set_status(self.status)
        if self.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="bus"'
        return response


def _dispatchable(spec: MethodSpec, limits: Limits) -> Callable[..., Awaitable[Any]]:
    """Wrap a handler as a jsonrpcserver method: permission, params, time budget, error mapping.

    This is the one place where errors become JSON-RPC errors, so a journal that cannot be reached
    is recognised here, whichever handler met it (an accept through the group commit, a read of a
    message or of the customer directory): the caller hears a retryable ``JournalUnavailable``,
    never an internal error.
    """
    call_timeout = limits.call_timeout

    async def method(context: _Context, *positional: Any, **params: Any) -> Any:
        call = Call(context.client_name, spec.name, context.correlation_id)
        budget = asyncio.timeout(call_timeout)
        try:
            if not context.client.may_call(spec.name):
                raise Forbidden({"method": spec.name, "client": context.client_name})
            if positional:
                raise InvalidParams(
                    {
                        "fields": [
                            {
                                "field": "params",
                                "type": "object_expected",
                                "message": "params must be an object (by name)",
                            }
                        ]
                    }
                )
            parsed = _parse_params(spec.params, params)
            async with budget:
                return Success(await spec.handler(call, parsed))
        except CallError as error:
            return _error_result(error)
        except Exception as error:
            # Before the time budget: connecting to a journal that is not there times out too
            # (bus.db.CONNECT_TIMEOUT, shorter than the budget), and that is what the caller
            # should hear about.
            if journal_unreachable(error) and not budget.expired():
                return _error_result(_journal_unavailable(error, call, limits))
            if isinstance(error, TimeoutError):
                return _error_result(CallTimeout({"seconds": call_timeout}))
            log.exception(
                "internal error in %s (correlation id %s)", spec.name, call.correlation_id
            )
            return Error(INTERNAL_ERROR, "Internal error", {"correlation_id": call.correlation_id})

    # jsonrpcserver checks arity with inspect.signature() on every call; a stored signature makes
    # that lookup free (it was a tenth of the edge's time under load).
    method.__signature__ = inspect.signature(method)  # type: ignore[attr-defined]
    return method


def _journal_unavailable(error: Exception, call: Call, limits: Limits) -> JournalUnavailable:
    log.warning(
        "journal unreachable in %s (correlation id %s): %s: %s",
        call.method,
        call.correlation_id,
        type(error).__name__,
        (str(error).splitlines() or [""])[0][:200],  # SQLAlchemy goes on with statement and values
    )
    return JournalUnavailable(
        {"retry_after": limits.journal_retry_after, "correlation_id": call.correlation_id}
    )


def _parse_params(model: type[BaseModel], params: dict[str, Any]) -> BaseModel:
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        fields = [
            {
                "field": ".".join(str(part) for part in error["loc"]) or "params",
                "type": error["type"],
                "message": error["msg"],
            }
            for error in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise InvalidParams({"fields": fields}) from None


def _error_result(error: CallError) -> Any:
    return Error(error.code, error.message, error.data)


def _envelope_problem(item: Any) -> dict[str, str] | None:
    """Why ``item`` is not a valid JSON-RPC 2.0 request object, or ``None`` if it is."""
    problem = envelope_problem(item)
    return None if problem is None else {"field": problem[0], "message": problem[1]}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _envelope_checked(document: Any) -> Any:
    return document  # _envelope_problem has already checked it; skip the library's jsonschema


def _error_response(error: dict[str, Any], request_id: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": error, "id": request_id}


def _correlation_id(request: web.Request) -> str:
    given = request.headers.get("X-Correlation-Id", "")
    return given if _CORRELATION_ID.match(given) else uuid.uuid4().hex


def _json_response(body: Any, correlation_id: str) -> web.Response:
    headers = {"X-Correlation-Id": correlation_id}
    if body is None:
        return web.Response(status=204, headers=headers)
    text = json.dumps(body, separators=(",", ":"), default=str)
    return web.Response(text=text, content_type="application/json", headers=headers)
