"""The aiohttp app of the Dynamics NAV simulator: routing, Basic auth, errors, faults.

OData v4 pages are handled by :mod:`handlers`, SOAP web services by :mod:`webservices`.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from simulators import faults
from simulators.basic_auth import BasicCredentials
from simulators.navision.errors import NavError, error_body_for_status, no_resource
from simulators.navision.handlers import OPERATIONS
from simulators.navision.metadata import metadata_document
from simulators.navision.resources import parse_segments, resolve
from simulators.navision.responses import error_response
from simulators.navision.service import NAV_KEY, NavService
from simulators.navision.store import Store
from simulators.navision.webservices import webservice


def create_app(
    *,
    username: str = "bus",
    password: str = "bus-secret",
    instance: str = "DynamicsNAV110",
    company: str = "CRONUS",
    max_page_size: int = 1000,
) -> web.Application:
    """Build a simulated NAV server instance with one company and seeded demo data.

    The OData v4 service root is ``http://HOST:PORT/{instance}/ODataV4/``; entity sets live
    under ``Company('{company}')/`` (or take ``?company=``), ``$metadata`` at the root. SOAP
    web services live under ``/{instance}/WS/{company}/``: the ``B2BPricing`` and
    ``B2BDocuments`` codeunits and the ``Services`` list (see
    :mod:`simulators.navision.webservices`). Reset also forgets the documents issued.
    Faults, the request record and reset are under ``/_control/`` (see :mod:`simulators.faults`).

    Parameters:
        username: the NavUserPassword user accepted by Basic auth.
        password: its password.
        instance: the server instance name, first segment of every URL.
        company: the company name.
        max_page_size: the most rows one response carries before ``@odata.nextLink``.
    """
    store = Store()
    app = web.Application(middlewares=[nav_errors, basic_auth])
    app[NAV_KEY] = NavService(
        store=store,
        instance=instance,
        company=company,
        max_page_size=max_page_size,
        credentials=BasicCredentials(username, password),
        metadata=metadata_document(),
    )
    app.router.add_route("*", "/{instance}/ODataV4{tail:(/.*)?}", odata)
    app.router.add_route("*", "/{instance}/WS/{tail:.+}", webservice)
    faults.install(app, reset=store.reset, default_error_body=error_body_for_status)
    return app


async def odata(request: web.Request) -> web.StreamResponse:
    """Resolve the resource path and run the operation for the HTTP method."""
    service = request.app[NAV_KEY]
    if request.match_info["instance"] != service.instance:
        raise _not_found(request)
    tail = request.match_info["tail"].lstrip("/")
    if tail == "$metadata":
        return _metadata(request, service)
    segments = parse_segments(tail)
    company = request.query.get("company", "")
    resource = resolve(service.store, segments, company, service.company)
    operation = OPERATIONS.get((resource.kind, request.method))
    if operation is None:
        raise NavError(
            405,
            "BadRequest_MethodNotAllowed",
            f"The requested resource does not support http method '{request.method}'.",
        )
    return await operation(request, service, resource)


def _metadata(request: web.Request, service: NavService) -> web.Response:
    if request.method != "GET":
        raise NavError(405, "BadRequest_MethodNotAllowed", "$metadata is read-only.")
    return web.Response(
        text=service.metadata,
        content_type="application/xml",
        headers={"OData-Version": "4.0"},
    )


@web.middleware
async def nav_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render :class:`NavError` and the router's 404/405 in NAV's error envelope."""
    try:
        return await handler(request)
    except NavError as error:
        return error_response(error)
    except web.HTTPNotFound:
        return error_response(_not_found(request))
    except web.HTTPMethodNotAllowed as exc:
        return error_response(
            NavError(
                405,
                "BadRequest_MethodNotAllowed",
                f"The requested resource does not support http method '{exc.method}'.",
            )
        )


@web.middleware
async def basic_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """NavUserPassword authentication: HTTP Basic on everything but ``/_control/``."""
    if request.path.startswith(faults.CONTROL_PREFIX):
        return await handler(request)
    service = request.app[NAV_KEY]
    if not service.credentials.accept(request.headers.get("Authorization")):
        raise NavError(
            401,
            "Authentication_InvalidCredentials",
            "The server has rejected the client credentials.",
            {"WWW-Authenticate": f'Basic realm="{service.instance}"'},
        )
    return await handler(request)


def _not_found(request: web.Request) -> NavError:
    return no_resource(request.url)
