"""Fault injection and request recording, shared by every simulator.

:func:`install` adds to a simulator's app an outermost middleware, which records every request
and applies the first matching fault, and control routes under ``/_control/`` (no auth)::

    POST   /_control/faults     {"mode": ..., "delay", "status", "body", "headers",
                                 "retry_after", "times", "every", "match", "methods"} (or a list)
    GET    /_control/faults     the active faults
    DELETE /_control/faults     clear them
    GET    /_control/received?since=<seq>   recorded requests, oldest first
    DELETE /_control/received   clear the record
    POST   /_control/reset      the app's reset hook + clear faults and record
    GET    /_control/health     {"ok": true}

Modes: ``down`` (drop the connection, no response), ``slow`` (wait ``delay`` s, then handle),
``status``/``error`` (answer ``status`` with ``body`` without handling), ``rate_limit`` (429
with ``Retry-After``), ``drop_after_commit`` (handle, then drop the connection: the client
cannot tell whether it worked) and ``slow_after_commit`` (handle, then wait ``delay`` s).
``every: N`` applies a fault to every Nth matching request only (a target failing a third of the
time, deterministically); ``times`` counts the requests it applied to.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveInt,
    PrivateAttr,
    ValidationError,
    model_validator,
)

CONTROL_PREFIX = "/_control/"
#: How many requests the record keeps.
DEFAULT_LOG_SIZE = 10_000

ResetHook = Callable[[], None]
#: Builds the body of an injected error from its status, in the simulated system's envelope.
ErrorBodyFactory = Callable[[int], Any]
_DEFAULT_STATUS = {"rate_limit": 429, "error": 500, "status": 500}


class FaultSpecError(ValueError):
    """A fault description that cannot be applied."""


def plain_error_body(status: int) -> dict[str, Any]:
    """The error body used when a simulator does not bring its own envelope."""
    return {"error": {"code": status, "message": "Injected fault"}}


class Fault(BaseModel):
    """One fault, as the control API takes it and while it is active (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    mode: Literal[
        "down", "slow", "status", "rate_limit", "error", "drop_after_commit", "slow_after_commit"
    ]
    delay: NonNegativeFloat = 1.0
    status: Annotated[int, Field(ge=100, le=599)] = 500
    body: Any = None
    headers: dict[str, str] = Field(default_factory=dict)
    retry_after: NonNegativeFloat = 1
    times: PositiveInt | None = None
    every: PositiveInt | None = None
    match: str | None = None
    methods: list[str] | None = None
    _id: int = PrivateAttr(default=0)
    #: matching requests seen, for ``every``
    _seen: int = PrivateAttr(default=0)

    @model_validator(mode="before")
    @classmethod
    def _status_of_mode(cls, spec: Any) -> Any:
        if isinstance(spec, dict) and "status" not in spec:
            return {**spec, "status": _DEFAULT_STATUS.get(str(spec.get("mode")), 500)}
        return spec

    def matches(self, request: web.Request) -> bool:
        """Whether this fault applies to ``request``."""
        return (self.match is None or self.match in request.path) and (
            self.methods is None or request.method in {m.upper() for m in self.methods}
        )

    def turn_of(self, request: web.Request) -> bool:
        """Whether this matching ``request`` is one the fault applies to (see ``every``)."""
        if self.every is None:
            return True
        self._seen += 1
        return self._seen % self.every == 0

    def to_json(self) -> dict[str, Any]:
        """The fault as the control API shows it."""
        return {"id": self._id, **self.model_dump(mode="json")}


def parse_fault(spec: Any, fault_id: int) -> Fault:
    """Validate a fault description from the control API.

    Raises:
        FaultSpecError: for an unknown mode or field, or a value of the wrong type.
    """
    try:
        fault = Fault.model_validate(spec)
    except ValidationError as exc:
        raise FaultSpecError(str(exc)) from None
    fault._id = fault_id
    return fault


class FaultSet:
    """The active faults, in the order they were added (the first match wins)."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._next_id = 1

    def add(self, specs: list[Any]) -> list[Fault]:
        """Validate every spec, then activate them all (none when one is invalid).

        Raises:
            FaultSpecError: for the first invalid spec.
        """
        faults = [parse_fault(spec, self._next_id + n) for n, spec in enumerate(specs)]
        self._next_id += len(faults)
        self._faults.extend(faults)
        return faults

    def clear(self) -> None:
        """Deactivate every fault."""
        self._faults.clear()

    def take(self, request: web.Request) -> Fault | None:
        """The first fault matching ``request``, using up one of its ``times``."""
        for fault in self._faults:
            if fault.matches(request) and fault.turn_of(request):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                return fault
        return None

    def to_json(self) -> list[dict[str, Any]]:
        """The active faults as the control API shows them."""
        return [fault.to_json() for fault in self._faults]


@dataclass(slots=True)
class Received:
    """One recorded request. The body stays raw bytes until someone asks, to keep it cheap."""

    seq: int
    at: float
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int | None = None
    fault: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The request as ``GET /_control/received`` shows it."""
        return {**dataclasses.asdict(self), "body": _decode_body(self.body)}


def _decode_body(raw: bytes) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


class RequestLog:
    """The last ``size`` requests with increasing sequence numbers (never reused)."""

    def __init__(self, size: int = DEFAULT_LOG_SIZE) -> None:
        self._entries: deque[Received] = deque(maxlen=size)
        self._seq = 0

    def record(self, request: web.Request, body: bytes) -> Received:
        """Append ``request`` and return its entry, to be completed with the status."""
        self._seq += 1
        entry = Received(
            seq=self._seq,
            at=time.time(),
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=dict(request.headers),
            body=body,
        )
        self._entries.append(entry)
        return entry

    def since(self, seq: int) -> list[Received]:
        """The entries after ``seq``, oldest first."""
        return [entry for entry in self._entries if entry.seq > seq]

    def clear(self) -> None:
        """Forget every entry (sequence numbers keep growing)."""
        self._entries.clear()


@dataclass
class Control:
    """The fault and recording state of one simulator app."""

    reset_hook: ResetHook
    error_body: ErrorBodyFactory = plain_error_body
    faults: FaultSet = field(default_factory=FaultSet)
    log: RequestLog = field(default_factory=RequestLog)

    def reset(self) -> None:
        """Restore the app's data and forget faults and recorded requests."""
        self.reset_hook()
        self.faults.clear()
        self.log.clear()


CONTROL_KEY = web.AppKey("simulator_control", Control)


def install(
    app: web.Application,
    *,
    reset: ResetHook,
    default_error_body: ErrorBodyFactory = plain_error_body,
    log_size: int = DEFAULT_LOG_SIZE,
) -> Control:
    """Add fault injection, request recording and the ``/_control/`` routes to ``app``.

    Parameters:
        app: the simulator app, not started yet.
        reset: restores the simulator's seed data.
        default_error_body: the body of an ``error``/``status``/``rate_limit`` fault that
            gives none, in the simulated system's own envelope.
        log_size: how many requests to keep.
    """
    control = Control(reset, default_error_body, log=RequestLog(log_size))
    app[CONTROL_KEY] = control
    # Outermost, so faults also hit unauthenticated requests and every answer is recorded.
    app.middlewares.insert(0, fault_middleware)
    app.router.add_routes(
        [
            web.post(CONTROL_PREFIX + "faults", _faults),
            web.get(CONTROL_PREFIX + "faults", _faults),
            web.delete(CONTROL_PREFIX + "faults", _faults),
            web.get(CONTROL_PREFIX + "received", _received),
            web.delete(CONTROL_PREFIX + "received", _received),
            web.post(CONTROL_PREFIX + "reset", _reset),
            web.get(CONTROL_PREFIX + "health", _health),
        ]
    )
    return control


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record the request, apply the first matching fault, record the outcome."""
    if request.path.startswith(CONTROL_PREFIX):
        return await handler(request)
    control = request.app[CONTROL_KEY]
    entry = control.log.record(request, await request.read())
    fault = control.faults.take(request)
    entry.fault = fault.mode if fault else None
    try:
        response = await _respond(request, handler, fault, control.error_body)
    except web.HTTPException as exc:
        entry.status = exc.status
        raise
    except Exception:
        entry.status = 500
        raise
    dropped = fault is not None and fault.mode in ("down", "drop_after_commit")
    entry.status = None if dropped else response.status
    return response


async def _respond(
    request: web.Request, handler: Handler, fault: Fault | None, error_body: ErrorBodyFactory
) -> web.StreamResponse:
    if fault is None:
        return await handler(request)
    if fault.mode == "down":
        _drop_connection(request)
        return web.Response(status=503)
    if fault.mode == "slow":
        await asyncio.sleep(fault.delay)
        return await handler(request)
    if fault.mode in ("drop_after_commit", "slow_after_commit"):
        return await _after_commit(request, handler, fault)
    return _canned(fault, error_body)


async def _after_commit(request: web.Request, handler: Handler, fault: Fault) -> web.StreamResponse:
    try:
        return await handler(request)
    finally:
        # The work is done (and committed) whatever its outcome; only the answer suffers.
        if fault.mode == "drop_after_commit":
            _drop_connection(request)
        else:
            await asyncio.sleep(fault.delay)


def _drop_connection(request: web.Request) -> None:
    # Aborting the transport makes aiohttp discard whatever response follows, so the client
    # sees a connection closed without an answer (a protocol/connection error).
    transport = request.transport
    if transport is not None:
        transport.abort()


def _canned(fault: Fault, error_body: ErrorBodyFactory) -> web.Response:
    headers = dict(fault.headers)
    if fault.mode == "rate_limit":
        headers["Retry-After"] = _seconds(fault.retry_after)
    body = fault.body
    if body is None and fault.status < 400:
        return web.Response(status=fault.status, headers=headers)
    if body is None:
        body = error_body(fault.status)
    if isinstance(body, str):
        # A string is sent as is: lets a test imitate an HTML page from a proxy.
        return web.Response(status=fault.status, text=body, headers=headers)
    return web.json_response(body, status=fault.status, headers=headers)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _control(request: web.Request) -> Control:
    return request.app[CONTROL_KEY]


async def _faults(request: web.Request) -> web.Response:
    """POST adds faults, DELETE clears them; every method answers with the active ones."""
    faults = _control(request).faults
    if request.method == "DELETE":
        faults.clear()
    elif request.method == "POST":
        try:
            spec = await request.json()
            faults.add(spec if isinstance(spec, list) else [spec])
        except (ValueError, FaultSpecError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
    return web.json_response({"faults": faults.to_json()})


async def _received(request: web.Request) -> web.Response:
    """GET lists the requests after ``?since=<seq>``; DELETE forgets them all."""
    log = _control(request).log
    if request.method == "DELETE":
        log.clear()
    since = request.query.get("since", "0")
    if not since.lstrip("-").isdigit():
        return web.json_response({"error": "since must be an integer"}, status=400)
    return web.json_response({"requests": [entry.to_json() for entry in log.since(int(since))]})


async def _reset(request: web.Request) -> web.Response:
    _control(request).reset()
    return web.json_response({"ok": True})


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})
