"""The aiohttp app of the Bitrix24 simulator: REST routing, auth, limits, response formats."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from simulators import faults
from simulators.bitrix24 import control
from simulators.bitrix24.envelope import envelope
from simulators.bitrix24.errors import B24Error, error_body_for_status, no_auth, query_limit
from simulators.bitrix24.events import session_context
from simulators.bitrix24.limits import LeakyBucket
from simulators.bitrix24.oauth import OAuthError, TokenStore
from simulators.bitrix24.operating import DEFAULT_BUDGET, OperatingMeter
from simulators.bitrix24.params import Params, ParamsError, read_params
from simulators.bitrix24.service import B24_KEY, B24Service
from simulators.bitrix24.store import Store
from simulators.bitrix24.xmlformat import CONTENT_TYPE as XML_CONTENT_TYPE
from simulators.bitrix24.xmlformat import to_xml

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def create_app(
    *,
    user_id: int = 1,
    webhook_code: str = "bus-webhook-code",
    capacity: int = 50,
    drain_per_second: float = 2.0,
    clock: Callable[[], float] = time.monotonic,
    operating_budget: float = DEFAULT_BUDGET,
    client_id: str = "local.bus-app",
    client_secret: str = "bus-app-secret",
    token_ttl: float = 3600.0,
) -> web.Application:
    """Build a simulated Bitrix24 portal with one incoming webhook and one OAuth application.

    REST calls go to ``/rest/{user_id}/{webhook_code}/{method}[.json|.xml]`` (webhook) or to
    ``/rest/{method}[.json|.xml]`` with an ``auth=<access_token>`` parameter (OAuth);
    ``/oauth/token/?grant_type=refresh_token&…`` renews a token pair. Faults, the request
    record and reset are under ``/_control/`` (see :mod:`simulators.faults`); the portal's own
    control routes are listed in :mod:`simulators.bitrix24.control`.

    Parameters:
        user_id: the webhook's user ID (also the OAuth tokens' user).
        webhook_code: the webhook's secret code.
        capacity: the leaky bucket's size (requests).
        drain_per_second: how many requests per second the bucket drains.
        clock: monotonic seconds for the bucket, the operating budget and token expiry;
            tests pass a fake.
        operating_budget: seconds of execution time a method may use per 10-minute window
            before it answers 429 ``OPERATION_TIME_LIMIT``.
        client_id: the OAuth application's id.
        client_secret: its secret.
        token_ttl: seconds an access token lives.
    """
    service = B24Service(
        user_id=user_id,
        webhook_code=webhook_code,
        store=Store(),
        bucket=LeakyBucket(capacity, drain_per_second, clock),
        operating=OperatingMeter(operating_budget, clock),
        oauth=TokenStore(client_id, client_secret, user_id, token_ttl, clock),
    )
    app = web.Application()
    app[B24_KEY] = service
    app.cleanup_ctx.append(_events_session)
    app.router.add_route("*", "/rest/{user_id}/{code}/{method}", webhook_rest)
    app.router.add_route("*", "/rest/{method}", oauth_rest)
    for path in ("/oauth/token/", "/oauth/token"):
        app.router.add_get(path, oauth_token)
        app.router.add_post(path, oauth_token)
    control.add_routes(app)
    faults.install(app, reset=service.reset, default_error_body=error_body_for_status)
    return app


async def _events_session(app: web.Application) -> AsyncIterator[None]:
    async for _ in session_context(app[B24_KEY].events):
        yield


def _split_format(name: str) -> tuple[str, bool]:
    """The lowercase method name and whether the ``.xml`` format was asked for."""
    method = name.lower()
    if method.endswith(".xml"):
        return method.removesuffix(".xml"), True
    return method.removesuffix(".json"), False


def _reply(body: dict[str, Any], status: int, as_xml: bool) -> web.Response:
    if as_xml:
        return web.Response(
            text=to_xml(body), status=status, content_type=XML_CONTENT_TYPE, charset="utf-8"
        )
    return web.json_response(body, status=status)


def _error(error: B24Error, as_xml: bool = False) -> web.Response:
    return _reply(error.body(), error.status, as_xml)


async def webhook_rest(request: web.Request) -> web.Response:
    """A REST call through the incoming webhook in the path."""
    service = request.app[B24_KEY]
    info = request.match_info
    method, as_xml = _split_format(info["method"])
    if not service.authorized(info["user_id"], info["code"]):
        return _error(no_auth(), as_xml)
    return await _run(request, service, method, as_xml)


async def oauth_rest(request: web.Request) -> web.Response:
    """A REST call of the OAuth application: ``auth`` in the query, form or JSON body."""
    service = request.app[B24_KEY]
    method, as_xml = _split_format(request.match_info["method"])
    try:
        params = await read_params(request)
    except ParamsError as exc:
        return _error(B24Error(400, "INVALID_REQUEST", str(exc)), as_xml)
    try:
        service.oauth.check(params.pop("auth", None))
    except B24Error as error:
        return _error(error, as_xml)
    return await _run(request, service, method, as_xml, params)


async def _run(
    request: web.Request,
    service: B24Service,
    method: str,
    as_xml: bool,
    params: Params | None = None,
) -> web.Response:
    """Rate limit, parameters, method, envelope: the part both auth modes share."""
    started = time.time()
    # A batch is one HTTP request, so it costs one unit like any other call.
    if not service.bucket.admit():
        return _error(query_limit(), as_xml)
    try:
        if params is None:
            params = await read_params(request)
        outcome = service.call(method, params)
    except ParamsError as exc:
        return _error(B24Error(400, "INVALID_REQUEST", str(exc)), as_xml)
    except B24Error as error:
        return _error(error, as_xml)
    meter = service.operating
    body = envelope(
        outcome, started, time.time(), meter.used(method), meter.seconds_to_reset(method)
    )
    return _reply(body, 200, as_xml)


async def oauth_token(request: web.Request) -> web.Response:
    """``/oauth/token/``: trade a refresh token for a new pair, like Bitrix24's OAuth server."""
    params = dict(request.query)
    if request.method == "POST" and request.content_type in _FORM_TYPES:
        form = await request.post()
        params.update({key: str(value) for key, value in form.items()})
    oauth = request.app[B24_KEY].oauth
    try:
        pair = oauth.refresh(params)
    except OAuthError as error:
        return web.json_response(error.body(), status=error.status)
    return web.json_response(oauth.token_response(pair, str(request.url.origin())))
