"""Control routes of the Bitrix24 simulator under ``/_control/bitrix24/`` (no auth)::

POST /_control/bitrix24/subscribe        {"url", "application_token", "event"?}
POST /_control/bitrix24/edit_deal        {"id", "fields"}: a manager's edit (ONCRMDEALUPDATE)
POST /_control/bitrix24/oauth/token      a new token pair, as /oauth/token/ answers
POST /_control/bitrix24/oauth/expire     {"access_token"?}: expire one token or all
POST /_control/bitrix24/operating_cost   {"method", "seconds"}: simulated time per call
POST /_control/bitrix24/limits           {"capacity"?, "drain_per_second"?}: the leaky bucket,
                                         emptied; answers the bucket's size and drain

What the portal served, and when (a 503 of the bucket included), is the shared request record
(``GET /_control/received``: each request's ``at`` and ``status``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulators.bitrix24.errors import B24Error
from simulators.bitrix24.events import DEAL_UPDATE, EVENTS
from simulators.bitrix24.methods import fields_of, record_id
from simulators.bitrix24.params import normalise
from simulators.bitrix24.service import B24_KEY

PREFIX = "/_control/bitrix24/"


def add_routes(app: web.Application) -> None:
    """Register every control route on ``app``."""
    app.router.add_post(PREFIX + "subscribe", subscribe)
    app.router.add_post(PREFIX + "edit_deal", edit_deal)
    app.router.add_post(PREFIX + "oauth/token", issue_token)
    app.router.add_post(PREFIX + "oauth/expire", expire_tokens)
    app.router.add_post(PREFIX + "operating_cost", operating_cost)
    app.router.add_post(PREFIX + "limits", limits)


def _refusal(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _json_object(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    raw = await request.read()
    if optional and not raw.strip():
        return {}
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text='{"error": "a JSON object is required"}')
    return body


async def subscribe(request: web.Request) -> web.Response:
    """Register an outgoing-webhook handler of ``event`` (default ONCRMDEALUPDATE)."""
    body = await _json_object(request)
    url, token = body.get("url"), body.get("application_token", "")
    event = body.get("event", DEAL_UPDATE)
    if not isinstance(url, str) or not url or not isinstance(token, str):
        return _refusal("url and application_token are required")
    if not isinstance(event, str) or event.upper() not in EVENTS:
        return _refusal(f"event must be one of {', '.join(sorted(EVENTS))}")
    subscription = request.app[B24_KEY].events.subscribe(url, token, request.host, event.upper())
    return web.json_response(
        {"event_handler_id": subscription.handler_id, "event": subscription.event}
    )


async def edit_deal(request: web.Request) -> web.Response:
    """Change a deal as a manager in the UI would, firing ONCRMDEALUPDATE."""
    service = request.app[B24_KEY]
    params = normalise(await _json_object(request))
    try:
        deal_id = record_id(params)
        fields = fields_of(params)
    except B24Error as error:
        return web.json_response(error.body(), status=error.status)
    if service.store.deals.get(deal_id) is None:
        return _refusal("no such deal", 404)
    service.store.deals.update(deal_id, fields)
    service.events.deal_updated(deal_id)
    return web.json_response({"ok": True})


async def issue_token(request: web.Request) -> web.Response:
    """A new access/refresh pair for the OAuth application (as if it had just been installed)."""
    oauth = request.app[B24_KEY].oauth
    return web.json_response(oauth.token_response(oauth.issue(), str(request.url.origin())))


async def expire_tokens(request: web.Request) -> web.Response:
    """Expire the access token named in the body, or every access token."""
    body = await _json_object(request, optional=True)
    token = body.get("access_token")
    if token is not None and not isinstance(token, str):
        return _refusal("access_token must be a string")
    return web.json_response({"expired": request.app[B24_KEY].oauth.expire(token)})


async def operating_cost(request: web.Request) -> web.Response:
    """Make every call of a method count ``seconds`` against its operating budget."""
    body = await _json_object(request)
    method, seconds = body.get("method"), body.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        return _refusal("seconds must be a non-negative number")
    if not isinstance(method, str) or not method:
        return _refusal("method must be a method name")
    costs = request.app[B24_KEY].operating.costs
    costs[method.lower()] = float(seconds)
    return web.json_response({"costs": costs})


async def limits(request: web.Request) -> web.Response:
    """Resize the leaky bucket and set its drain (each optional), and empty it."""
    body = await _json_object(request, optional=True)
    bucket = request.app[B24_KEY].bucket
    capacity = body.get("capacity", bucket.capacity)
    drain = body.get("drain_per_second", bucket.drain_per_second)
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        return _refusal("capacity must be a whole number of requests, at least 1")
    if isinstance(drain, bool) or not isinstance(drain, int | float) or drain <= 0:
        return _refusal("drain_per_second must be a positive number")
    bucket.capacity, bucket.drain_per_second = capacity, float(drain)
    bucket.reset()
    return web.json_response({"capacity": capacity, "drain_per_second": float(drain)})
