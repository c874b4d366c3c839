"""The aiohttp app of the Bitrix24 simulator: webhook routing, rate limit, control routes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from simulators import faults
from simulators.bitrix24.envelope import envelope
from simulators.bitrix24.errors import B24Error, error_body_for_status, no_auth, query_limit
from simulators.bitrix24.events import session_context
from simulators.bitrix24.limits import LeakyBucket
from simulators.bitrix24.methods import fields_of, record_id
from simulators.bitrix24.params import ParamsError, normalise, read_params
from simulators.bitrix24.service import B24_KEY, B24Service
from simulators.bitrix24.store import Store


def create_app(
    *,
    user_id: int = 1,
    webhook_code: str = "bus-webhook-code",
    capacity: int = 50,
    drain_per_second: float = 2.0,
    clock: Callable[[], float] = time.monotonic,
) -> web.Application:
    """Build a simulated Bitrix24 portal reached through one incoming webhook.

    REST calls go to ``/rest/{user_id}/{webhook_code}/{method}[.json]``. Faults, the request
    record and reset are under ``/_control/`` (see :mod:`simulators.faults`); outbound event
    handlers are registered with ``POST /_control/bitrix24/subscribe``, and
    ``POST /_control/bitrix24/edit_deal`` changes a deal as a manager would.

    Parameters:
        user_id: the webhook's user ID.
        webhook_code: the webhook's secret code.
        capacity: the leaky bucket's size (requests).
        drain_per_second: how many requests per second the bucket drains.
        clock: monotonic seconds for the bucket; tests pass a fake.
    """
    service = B24Service(
        user_id=user_id,
        webhook_code=webhook_code,
        store=Store(),
        bucket=LeakyBucket(capacity, drain_per_second, clock),
    )
    app = web.Application()
    app[B24_KEY] = service
    app.cleanup_ctx.append(_events_session)
    app.router.add_route("*", "/rest/{user_id}/{code}/{method}", rest)
    app.router.add_post("/_control/bitrix24/subscribe", subscribe)
    app.router.add_post("/_control/bitrix24/edit_deal", edit_deal)
    faults.install(app, reset=service.reset, default_error_body=error_body_for_status)
    return app


async def _events_session(app: web.Application) -> AsyncIterator[None]:
    async for _ in session_context(app[B24_KEY].events):
        yield


def _error(error: B24Error) -> web.Response:
    return web.json_response(error.body(), status=error.status)


async def rest(request: web.Request) -> web.Response:
    """One REST call: auth, rate limit, parameters, method, envelope."""
    started = time.time()
    service = request.app[B24_KEY]
    info = request.match_info
    if not service.authorized(info["user_id"], info["code"]):
        return _error(no_auth())
    # A batch is one HTTP request, so it costs one unit like any other call.
    if not service.bucket.admit():
        return _error(query_limit())
    method = info["method"].lower().removesuffix(".json")
    try:
        params = await read_params(request)
        outcome = service.call(method, params)
    except ParamsError as exc:
        return _error(B24Error(400, "INVALID_REQUEST", str(exc)))
    except B24Error as error:
        return _error(error)
    return web.json_response(envelope(outcome, started, time.time()))


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text='{"error": "a JSON object is required"}')
    return body


async def subscribe(request: web.Request) -> web.Response:
    """Register an outgoing-webhook handler for ONCRMDEALUPDATE."""
    body = await _json_object(request)
    url, token = body.get("url"), body.get("application_token", "")
    if not isinstance(url, str) or not url or not isinstance(token, str):
        return web.json_response({"error": "url and application_token are required"}, status=400)
    subscription = request.app[B24_KEY].events.subscribe(url, token, request.host)
    return web.json_response({"event_handler_id": subscription.handler_id})


async def edit_deal(request: web.Request) -> web.Response:
    """Change a deal as a manager in the UI would, firing ONCRMDEALUPDATE."""
    service = request.app[B24_KEY]
    params = normalise(await _json_object(request))
    try:
        deal_id = record_id(params)
        fields = fields_of(params)
        if service.store.deals.get(deal_id) is None:
            return web.json_response({"error": "no such deal"}, status=404)
    except B24Error as error:
        return _error(error)
    service.store.deals.update(deal_id, fields)
    service.events.deal_updated(deal_id)
    return web.json_response({"ok": True})
