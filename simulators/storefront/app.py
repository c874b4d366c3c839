"""The aiohttp app of the storefront simulator: ``POST /rpc`` with bearer auth, control routes."""

from __future__ import annotations

import json

from aiohttp import web

from simulators import faults
from simulators.storefront import control
from simulators.storefront.errors import error_body_for_status, error_response, unauthorized
from simulators.storefront.jsonrpc import answer
from simulators.storefront.service import STOREFRONT_KEY, StorefrontService

#: Documents travel base64-encoded inside the body, so allow more than aiohttp's 1 MiB.
MAX_BODY_BYTES = 32 * 1024 * 1024


def create_app(
    *, token: str = "dev-storefront-inbound", site_url: str = "https://b2b.example"
) -> web.Application:
    """Build a simulated B2B storefront (a 1C-Bitrix site's integration endpoint).

    The bus calls JSON-RPC 2.0 methods at ``POST /rpc`` with ``Authorization: Bearer <token>``
    (see :mod:`simulators.storefront.methods` for the methods and
    :mod:`simulators.storefront.errors` for the codes). The state is shown under
    ``/_control/storefront/`` (see :mod:`simulators.storefront.control`); faults, the request
    record and reset (back to the seed) are under ``/_control/`` (see :mod:`simulators.faults`).

    Parameters:
        token: the bearer token the bus must present.
        site_url: the site's public address, the base of set-password links.
    """
    service = StorefrontService(token=token, site_url=site_url)
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[STOREFRONT_KEY] = service
    app.router.add_post("/rpc", rpc)
    control.add_routes(app)
    faults.install(app, reset=service.reset, default_error_body=error_body_for_status)
    return app


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(body, ensure_ascii=False), status=status, content_type="application/json"
    )


async def rpc(request: web.Request) -> web.Response:
    """Serve one HTTP request: a call, a notification or a batch.

    HTTP 200 carries every JSON-RPC answer, errors included; 204 answers notifications only;
    401 (with a JSON-RPC error body, code -32001) a missing or wrong token.
    """
    service = request.app[STOREFRONT_KEY]
    if not service.authorized(request.headers.get("Authorization")):
        response = _json(error_response(unauthorized(), None), status=401)
        response.headers["WWW-Authenticate"] = 'Bearer realm="storefront"'
        return response
    # The body is JSON whatever its declared Content-Type (curl -d sends a form type).
    body = answer(await request.read(), service.call)
    if body is None:
        return web.Response(status=204)
    return _json(body)
