"""Control routes of the 1C simulator under ``/_control/onec/`` (no auth)::

    GET  /_control/onec/documents   {"preparing_for": seconds}
    POST /_control/onec/documents   {"preparing_for": seconds ≥ 0}: how long a new invoice or
                                    reconciliation act takes to prepare (0, the default: at once)
    GET  /_control/onec/requests    {"requests": [...]}: the customers' requests registered
                                    through the HTTP service, oldest first

``POST /_control/reset`` (from :mod:`simulators.faults`) sets ``preparing_for`` back to 0 and
forgets the requests.
"""

from __future__ import annotations

import json
import math

from aiohttp import web

from simulators.onec.service import ONEC_KEY

PREFIX = "/_control/onec/"


def add_routes(app: web.Application) -> None:
    """Register every control route on ``app``."""
    app.router.add_get(PREFIX + "documents", documents)
    app.router.add_post(PREFIX + "documents", documents)
    app.router.add_get(PREFIX + "requests", requests)


async def documents(request: web.Request) -> web.Response:
    """POST sets how long new documents take to prepare; both methods answer the setting."""
    store = request.app[ONEC_KEY].store
    if request.method == "POST":
        seconds = await _preparing_for(request)
        if seconds is None:
            return web.json_response(
                {"error": "preparing_for must be a non-negative number of seconds"}, status=400
            )
        store.preparing_for = seconds
    return web.json_response({"preparing_for": store.preparing_for})


async def _preparing_for(request: web.Request) -> float | None:
    """``preparing_for`` of the JSON body; ``None`` when the body does not give a valid one."""
    try:
        body = await request.json()
    except ValueError:
        return None
    seconds = body.get("preparing_for") if isinstance(body, dict) else None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    return float(seconds) if math.isfinite(seconds) and seconds >= 0 else None


async def requests(request: web.Request) -> web.Response:
    """The registered customer requests, oldest first."""
    registered = request.app[ONEC_KEY].store.requests.values()
    return web.json_response(
        {"requests": [entry.to_json() for entry in registered]},
        dumps=lambda value: json.dumps(value, ensure_ascii=False),
    )
