"""Control routes that show the storefront's state (no auth), for tests and operators.

GET /_control/storefront/users[?customer=]      {"users": [...]} with profile, active,
                                                 set_password_url, order_history, employees
GET /_control/storefront/orders[?customer=]     {"orders": [...]} current fields, merged_from,
                                                 merge_rejected + "history" (every version,
                                                 oldest first)
GET /_control/storefront/documents[?customer=]  {"documents": [...]} with size and sha256
GET /_control/storefront/requests[?customer=]   {"requests": [...]} the ERP's decisions on
                                                 customers' requests, the latest per request
GET /_control/storefront/calls[?method=&message_id=]
                                                 {"calls": [...]} every call that reached a
                                                 method, with "repeat" and its outcome
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from simulators.storefront.service import STOREFRONT_KEY

PREFIX = "/_control/storefront/"


def add_routes(app: web.Application) -> None:
    """Register the control routes on ``app``."""
    app.router.add_get(PREFIX + "users", users)
    app.router.add_get(PREFIX + "orders", orders)
    app.router.add_get(PREFIX + "documents", documents)
    app.router.add_get(PREFIX + "requests", requests)
    app.router.add_get(PREFIX + "calls", calls)


def _wanted(request: web.Request, name: str, value: str | None) -> bool:
    expected = request.query.get(name)
    return expected is None or expected == value


def _of_customer(request: web.Request, name: str, records: Iterable[Any]) -> web.Response:
    """``{name: [...]}`` of ``records``, only the ``?customer=`` one's when asked."""
    shown = [r.to_json() for r in records if _wanted(request, "customer", r.customer)]
    return web.json_response({name: shown})


async def users(request: web.Request) -> web.Response:
    """Every user, seeded and created."""
    service = request.app[STOREFRONT_KEY]
    shown = [
        user.to_json(service.site_url)
        for user in service.store.users.values()
        if _wanted(request, "customer", user.customer)
    ]
    return web.json_response({"users": shown})


async def orders(request: web.Request) -> web.Response:
    """Every order with its version history."""
    store = request.app[STOREFRONT_KEY].store
    return _of_customer(request, "orders", store.orders.values())


async def documents(request: web.Request) -> web.Response:
    """Every delivered document, oldest first."""
    store = request.app[STOREFRONT_KEY].store
    return _of_customer(request, "documents", store.documents)


async def requests(request: web.Request) -> web.Response:
    """Every decided request, in the order each was first decided."""
    store = request.app[STOREFRONT_KEY].store
    return _of_customer(request, "requests", store.requests.values())


async def calls(request: web.Request) -> web.Response:
    """Every call that reached a method, oldest first."""
    log = request.app[STOREFRONT_KEY].calls
    shown = [
        call.to_json()
        for call in log.entries
        if _wanted(request, "method", call.method)
        and _wanted(request, "message_id", call.message_id)
    ]
    return web.json_response({"calls": shown})
