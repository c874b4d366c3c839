"""The JSON-RPC 2.0 edge at ``POST /rpc``: limits, authentication, batches, dispatch, errors.

jsonrpcserver is the dispatch core, kept behind this module. Around it the edge adds what the
library lacks (see the stack notes): a body size cap, per-item validation of batches (one invalid
item gets its own ``-32600`` while the others run), bounded batch concurrency, bearer-key
authentication with per-client method lists, pydantic params, a per-call time budget, and error
mapping that never leaks exception text.

HTTP status codes: 200 for any JSON-RPC response (errors included, so clients that stop at non-2xx
still read them), 204 when only notifications were sent, 401 for a missing or unknown key, 408 for
a body that did not arrive within ``limits.body_timeout``, 413 for an oversized body or batch, 429
(with ``Retry-After``) for a client over its rate or concurrency (:mod:`bus.client_limits`). The
body is read as JSON whatever its declared ``Content-Type`` (``curl -d`` sends a form type); a body
that is not JSON, not UTF-8, not decodable as its ``Content-Encoding`` says (gzip and deflate are
decoded here, :mod:`bus.content_encoding`; HTTP 400), or that holds a number JSON cannot carry back
(``1e309``) gets ``-32700``. Every answer is strict JSON (no ``NaN``).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from jsonrpcserver import Error, Success
from jsonrpcserver.async_dispatcher import call as call_method
from jsonrpcserver.dispatcher import create_request, to_response
from jsonrpcserver.response import to_serializable_one
from jsonrpcserver.sentinels import NOID
from pydantic import BaseModel, ValidationError

from bus import logs
from bus.client_limits import ClientLimits
from bus.content_encoding import BodyTooLarge, UndecodableBody, decode_body
from bus.db import journal_unreachable
from bus.errors import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    CallError,
    CallTimeout,
    Forbidden,
    InvalidParams,
    JournalUnavailable,
    RateLimited,
    RequestTooLarge,
    Unauthenticated,
    error_member,
)
from bus.journal.ids import unique_hex
from bus.journal.storable import nul_fields
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
        self._client_limits = ClientLimits(limits)

    async def handle(self, request: web.Request) -> web.Response:
        """Serve one HTTP request carrying a JSON-RPC call, notification or batch."""
        correlation_id = _correlation_id(request)
        logs.bind_correlation(correlation_id)  # on every line logged for this call
        try:
            context = self._authenticate(request, correlation_id)
            self._client_limits.enter(context.client_name)
        except _Refused as refused:
            return refused.response(correlation_id)
        except RateLimited as limited:
            return _Refused.limited(limited).response(correlation_id)
        try:
            return await self._serve(request, context)
        finally:
            self._client_limits.leave(context.client_name)

    async def _serve(self, request: web.Request, context: _Context) -> web.Response:
        try:
            document = _parse(await self._read_body(request))
            if isinstance(document, list):
                self._check_batch(document)
            calls = len(document) if isinstance(document, list) else 1
            self._client_limits.take(context.client_name, calls)
        except _Refused as refused:
            return refused.response(context.correlation_id)
        except RateLimited as limited:
            return _Refused.limited(limited).response(context.correlation_id)
        if isinstance(document, list):
            return await self._batch(document, context)
        return json_answer(await self._one(document, context), context.correlation_id)

    def _check_batch(self, items: list[Any]) -> None:
        if not items:
            message = "a batch must contain at least one request"
            raise _Refused(
                200, error_member(INVALID_REQUEST, "Invalid Request", {"message": message})
            )
        if len(items) > self._limits.max_batch:
            refused = RequestTooLarge({"max_batch": self._limits.max_batch, "got": len(items)})
            raise _Refused(413, refused.to_error())

    async def _batch(self, items: list[Any], context: _Context) -> web.Response:
        gate = asyncio.Semaphore(self._limits.batch_concurrency)

        async def bounded(item: Any) -> dict[str, Any] | None:
            async with gate:
                return await self._one(item, context)

        answers = await asyncio.gather(*(bounded(item) for item in items))
        return json_answer([a for a in answers if a is not None] or None, context.correlation_id)

    async def _one(self, item: Any, context: _Context) -> dict[str, Any] | None:
        problem = _envelope_problem(item)
        if problem is not None:
            error = error_member(INVALID_REQUEST, "Invalid Request", problem)
            return _error_response(error, echoable_id(item))
        if item["method"] not in self._methods:  # answered here: the library's data is a string
            if "id" not in item:
                return None  # a notification is never answered, not even with an error
            error = error_member(METHOD_NOT_FOUND, "Method not found", {"method": item["method"]})
            return _error_response(error, item["id"])
        # The library's own steps for one call, without its dispatch of a whole document: that
        # gathers the document's calls (a task of its own for every call, where a batch here
        # already runs each call in one: :meth:`_batch`), looks the method up (done above) and
        # binds the params to its signature, which takes any (each method parses its params).
        request = create_request(item)
        result = await call_method(request, context, self._methods[request.method])
        if request.id is NOID:
            return None  # a notification is never answered
        return cast(dict[str, Any], to_serializable_one(to_response(request, result)))

    def _authenticate(self, request: web.Request, correlation_id: str) -> _Context:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        name = self._find_key(key.strip()) if scheme.lower() == "bearer" else None
        if name is None:
            message = "send 'Authorization: Bearer <key>' with a known key"
            raise _Refused(401, Unauthenticated({"message": message}).to_error())
        return _Context(name, self._clients[name], correlation_id)

    def _find_key(self, presented: str) -> str | None:
        return client_of(self._keys, presented)

    async def _read_body(self, request: web.Request) -> bytes:
        limit = self._limits.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise _too_large(limit)
        seconds = self._limits.body_timeout
        encoding = request.headers.get("Content-Encoding", "identity")
        try:
            if request.content.is_eof():  # all of it came with the headers: nothing to wait for
                body = await request.read()
            else:
                async with asyncio.timeout(seconds):
                    body = await request.read()
            return decode_body(body, encoding, limit)
        except UndecodableBody as exc:
            error = error_member(PARSE_ERROR, "Parse error", _body_problem(str(exc)))
            raise _Refused(400, error) from None
        except (web.HTTPRequestEntityTooLarge, BodyTooLarge):
            raise _too_large(limit) from None
        except TimeoutError:
            log.info("body from %s not received within %s s: refused", request.remote, seconds)
            discard_body(request)
            message = f"the body did not arrive within {seconds:g} s"
            error = error_member(INVALID_REQUEST, "Invalid Request", _body_problem(message))
            raise _Refused(408, error, close=True) from None
        except (BadHttpMessage, web.RequestPayloadError):  # a broken chunked encoding
            discard_body(request)
            message = "the body could not be read as its Transfer-Encoding says"
            error = error_member(PARSE_ERROR, "Parse error", _body_problem(message))
            raise _Refused(400, error, close=True) from None
        except ConnectionError:  # the caller went away mid-body: nobody is left to answer
            log.info("client %s closed the connection before its body arrived", request.remote)
            message = "the connection closed before the body arrived"
            error = error_member(INVALID_REQUEST, "Invalid Request", _body_problem(message))
            raise _Refused(400, error) from None


def client_of(keys: Mapping[str, str], presented: str) -> str | None:
    """The name of the client whose key (``keys``: key -> client name) is ``presented``, or
    ``None``; every key is compared in constant time, so the answer's timing tells nothing."""
    # aiohttp keeps a header's bytes that are not UTF-8 as surrogates: encoded back the same
    # way, any header compares (and is refused) instead of failing to encode.
    given = presented.encode("utf-8", "surrogateescape")
    for key, name in keys.items():
        if hmac.compare_digest(key.encode(), given):
            return name
    return None


class _Refused(Exception):
    """A whole HTTP request refused before dispatch, with its status and JSON-RPC error."""

    def __init__(
        self,
        status: int,
        error: dict[str, Any],
        retry_after: float | None = None,
        *,
        close: bool = False,
    ) -> None:
        super().__init__(error["message"])
        self.status = status
        self.error = error
        self.retry_after = retry_after
        self.close = close

    @classmethod
    def limited(cls, error: RateLimited) -> _Refused:
        """HTTP 429 with ``Retry-After`` (whole seconds, rounded up) for a client over a limit."""
        return cls(429, error.to_error(), retry_after=float(error.data["retry_after"]))

    def response(self, correlation_id: str) -> web.Response:
        response = json_answer(_error_response(self.error, None), correlation_id)
        response.set_status(self.status)
        if self.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="bus"'
        if self.retry_after is not None:
            response.headers["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        if self.close:
            response.force_close()
        return response


def discard_body(request: web.Request) -> None:
    """Give up a body that cannot be read; its connection must close after the answer.

    aiohttp would otherwise read on after the answer to reuse the connection, meet the same
    undecodable body again and log it as an unhandled exception.
    """
    request.content.feed_eof()


def _too_large(limit: int) -> _Refused:
    """HTTP 413 for a body over ``limit`` bytes (made only when refusing: building the error
    for every call was a percent of the edge's CPU)."""
    return _Refused(413, RequestTooLarge({"max_body_bytes": limit}).to_error())


def _body_problem(message: str) -> dict[str, str]:
    return {"field": "body", "message": message}


def _parse(body: bytes) -> Any:
    """The JSON document of a body, or a ``-32700`` that says why in words, not Python's."""
    try:
        # As json.loads reads bytes, through a decoder made once (it makes one per call).
        return _JSON_DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except json.JSONDecodeError as exc:
        problem: dict[str, Any] = {"field": "body", "message": "not valid JSON"}
        problem |= {"line": exc.lineno, "column": exc.colno}
    except UnicodeDecodeError:
        problem = _body_problem("not UTF-8 text")
    except _NotFinite:
        problem = _body_problem("NaN, Infinity and numbers beyond ±1.8e308 have no JSON value")
    except RecursionError:
        problem = _body_problem("nested too deeply")
    except ValueError:  # an integer of more digits than Python converts
        problem = _body_problem("a number too long to read")
    raise _Refused(200, error_member(PARSE_ERROR, "Parse error", problem))


class _NotFinite(ValueError):
    """A number JSON cannot carry back: it would have to be answered as ``Infinity`` or ``NaN``."""


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text)
    return value


def _dispatchable(spec: MethodSpec, limits: Limits) -> Callable[..., Awaitable[Any]]:
    """Wrap a handler as a jsonrpcserver method: permission, params, time budget, error mapping.

    This is the one place where errors become JSON-RPC errors, so a journal that cannot be reached
    is recognised here, whichever handler met it (an accept through the group commit, a read of a
    message or of the customer directory): the caller hears a retryable ``JournalUnavailable``,
    never an internal error.
    """
    call_timeout = limits.call_timeout

    # ``context`` is positional-only so that a param named "context" is one of ``params``.
    async def method(context: _Context, /, *positional: Any, **params: Any) -> Any:
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
            parsed = parse_params(spec.params, params)
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


def parse_params(model: type[BaseModel], params: dict[str, Any]) -> BaseModel:
    """``params`` as a ``model``, or :class:`InvalidParams` naming each field that is wrong (as
    the edge answers a call, and as an operator's edit of a payload is refused)."""
    try:
        parsed = model.model_validate(params)
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
    if holding_nul := nul_fields(params):  # the journal could not store it
        raise InvalidParams({"fields": [_NUL_FIELD | {"field": field} for field in holding_nul]})
    return parsed


_NUL_FIELD = {"type": "string_nul", "message": "String should not hold the NUL character (U+0000)"}


def _error_result(error: CallError) -> Any:
    return Error(error.code, error.message, error.data)


def _envelope_problem(item: Any) -> dict[str, str] | None:
    """Why ``item`` is not a valid JSON-RPC 2.0 request object, or ``None`` if it is."""
    problem = envelope_problem(item)
    return None if problem is None else {"field": problem[0], "message": problem[1]}


def _reject_constant(name: str) -> Any:
    raise _NotFinite(name)


#: The bodies' JSON: strict, without NaN and Infinity (:func:`_parse`).
_JSON_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def _error_response(error: dict[str, Any], request_id: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": error, "id": request_id}


def _correlation_id(request: web.Request) -> str:
    given = request.headers.get("X-Correlation-Id", "")
    return given if _CORRELATION_ID.match(given) else unique_hex()


def json_answer(body: Any, correlation_id: str) -> web.Response:
    """The HTTP answer carrying ``body`` (``None``: 204), always strict JSON (no NaN)."""
    headers = {"X-Correlation-Id": correlation_id}
    if body is None:
        return web.Response(status=204, headers=headers)
    try:
        text = _dumps(body)
    except ValueError:  # NaN or Infinity in an answer: never sent as invalid JSON
        text = _dumps(_finite_answers(body, correlation_id))
    return web.Response(text=text, content_type="application/json", headers=headers)


def _dumps(body: Any) -> str:
    return _ANSWER_JSON.encode(body)


#: Made once: ``json.dumps`` with options builds an encoder for every call.
_ANSWER_JSON = json.JSONEncoder(separators=(",", ":"), default=str, allow_nan=False)


def _finite_answers(body: Any, correlation_id: str) -> Any:
    """``body`` with each answer that holds NaN or Infinity replaced by an internal error."""
    answers = body if isinstance(body, list) else [body]
    kept = []
    for answer in answers:
        try:
            _dumps(answer)
        except ValueError:
            log.error(
                "an answer to %s holds NaN or Infinity; answered as an internal error"
                " (correlation id %s)",
                answer.get("id"),
                correlation_id,
            )
            error = error_member(
                INTERNAL_ERROR, "Internal error", {"correlation_id": correlation_id}
            )
            answer = _error_response(error, answer.get("id"))
        kept.append(answer)
    return kept if isinstance(body, list) else kept[0]
