"""The aiohttp app of the 1C simulator: routing, Basic auth, error rendering, faults."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from simulators import faults
from simulators.basic_auth import BasicCredentials
from simulators.onec import control, http_service
from simulators.onec.errors import (
    OneCError,
    ServiceError,
    bad_url,
    error_body_for_status,
    internal_error,
    method_forbidden,
)
from simulators.onec.handlers import OPERATIONS
from simulators.onec.metadata import metadata_document
from simulators.onec.resources import parse_resource
from simulators.onec.responses import error_response
from simulators.onec.service import ONEC_KEY, OneCService
from simulators.onec.store import Store

logger = logging.getLogger(__name__)

#: Methods a client may tunnel through POST with ``X-HTTP-Method`` (as v3 clients do).
_TUNNELLED = frozenset({"MERGE", "PATCH", "PUT", "DELETE"})


def create_app(
    *, username: str = "bus", password: str = "bus-secret", publication: str = "b2b"
) -> web.Application:
    """Build a simulated 1C:Enterprise infobase published on a web server, with demo data.

    The standard OData interface is at ``http://HOST:PORT/{publication}/odata/standard.odata/``
    and the HTTP service at ``/{publication}/hs/b2b/v1/`` (see :mod:`simulators.onec`), both
    behind HTTP Basic auth. Faults, the request record and reset are under ``/_control/``
    (see :mod:`simulators.faults`); the infobase's own control routes under ``/_control/onec/``
    (see :mod:`simulators.onec.control`).

    Parameters:
        username: the 1C user accepted by Basic auth.
        password: its password.
        publication: the publication name on the web server, first segment of every URL.
    """
    store = Store()
    app = web.Application(middlewares=[onec_errors, publication_and_auth])
    app[ONEC_KEY] = OneCService(
        store=store,
        publication=publication,
        credentials=BasicCredentials(username, password),
        metadata=metadata_document(),
    )
    app.router.add_route("*", "/{publication}/odata/standard.odata{tail:(/.*)?}", odata)
    app.router.add_routes(http_service.routes("/{publication}"))
    control.add_routes(app)
    faults.install(app, reset=store.reset, default_error_body=error_body_for_status)
    return app


async def odata(request: web.Request) -> web.StreamResponse:
    """Resolve the resource path and run the operation for the HTTP method."""
    service = request.app[ONEC_KEY]
    tail = request.match_info["tail"]
    if tail and not tail.startswith("/"):
        raise bad_url(request.path)
    resource = parse_resource(tail.removeprefix("/"))
    method = _method(request)
    if resource.kind == "metadata":
        if method != "GET":
            raise method_forbidden(method)
        return web.Response(
            text=service.metadata,
            content_type="application/xml",
            headers={"DataServiceVersion": "3.0"},
        )
    operation = OPERATIONS.get((resource.kind, method))
    if operation is None:
        raise method_forbidden(method)
    return await operation(request, service, resource)


def _method(request: web.Request) -> str:
    tunnelled = request.headers.get("X-HTTP-Method", "").upper()
    if request.method == "POST" and tunnelled in _TUNNELLED:
        return tunnelled
    return request.method


@web.middleware
async def onec_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render failures the way the addressed interface does: ``odata.error`` or ``{"error"}``."""
    try:
        return await handler(request)
    except OneCError as error:
        return error_response(error)
    except ServiceError as error:
        return http_service.error_response(error)
    except web.HTTPNotFound:
        if _is_http_service(request):
            return http_service.error_response(ServiceError(404, f"Не найдено: {request.path}"))
        return error_response(OneCError(404, "6", f"Неверный URL: {request.path}"))
    except web.HTTPMethodNotAllowed as exc:
        if _is_http_service(request):
            message = f"Метод {exc.method} не поддерживается"
            allow = {"Allow": exc.headers.get("Allow", "")}
            return http_service.error_response(ServiceError(405, message, allow))
        return error_response(method_forbidden(exc.method))
    except web.HTTPException:
        raise
    except Exception:
        # 1C answers an exception in configuration code with code -1; keep the trace here.
        logger.exception("1C simulator failed on %s %s", request.method, request.path)
        if _is_http_service(request):
            return http_service.error_response(ServiceError(500, "Внутренняя ошибка сервиса"))
        return error_response(internal_error())


@web.middleware
async def publication_and_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Only the configured publication exists; it needs HTTP Basic (``/_control/`` does not)."""
    if request.path.startswith(faults.CONTROL_PREFIX):
        return await handler(request)
    service = request.app[ONEC_KEY]
    # By path, not match_info: a 405 match carries no match_info, and must not become a 404.
    if request.path.split("/", 2)[1] != service.publication:
        raise web.HTTPNotFound()
    if not service.credentials.accept(request.headers.get("Authorization")):
        challenge = {"WWW-Authenticate": 'Basic realm="1C"'}
        if _is_http_service(request):
            raise ServiceError(401, "Требуется аутентификация", challenge)
        # The web-server module answers before OData does; the envelope keeps clients uniform.
        raise OneCError(401, "20", "Ошибка аутентификации пользователя", challenge)
    return await handler(request)


def _is_http_service(request: web.Request) -> bool:
    parts = request.path.split("/", 3)
    return len(parts) > 2 and parts[2] == "hs"
