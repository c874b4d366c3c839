"""SOAP web services under ``/{instance}/WS/{company}/``: codeunits and the service list.

Routes (Basic auth like OData; names of the ``Codeunit``/``Services`` segments and of the
service are case-insensitive)::

    GET  /{instance}/WS/{company}/Services               DISCO list of the published services
    GET  /{instance}/WS/{company}/Codeunit/{service}     the WSDL (soap:address = this host)
    POST /{instance}/WS/{company}/Codeunit/{service}     call a function chosen by SOAPAction

A POST needs ``Content-Type: text/xml`` (anything else is WCF's 415 without a body) and
answers 200 with the result envelope or 500 with a fault (see :mod:`soap`).
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from simulators.navision.b2bdocuments import B2B_DOCUMENTS
from simulators.navision.b2bpricing import B2B_PRICING
from simulators.navision.codeunits import Codeunit, parse_arguments
from simulators.navision.errors import NavError, no_resource
from simulators.navision.service import NAV_KEY, NavService
from simulators.navision.soap import (
    SoapFault,
    action_not_supported,
    deserialization_failed,
    fault_response,
    read_operation,
    result_response,
)
from simulators.navision.wsdl import services_document, wsdl_document

#: The published codeunits by lowercase service name.
CODEUNITS: dict[str, Codeunit] = {c.name.lower(): c for c in (B2B_PRICING, B2B_DOCUMENTS)}


async def webservice(request: web.Request) -> web.StreamResponse:
    """Route a ``/WS/`` request to the service list, a WSDL or a codeunit call."""
    service = request.app[NAV_KEY]
    parts = request.match_info["tail"].split("/")
    if request.match_info["instance"] != service.instance or parts[0] != service.company:
        raise no_resource(request.url)
    kind = [part.lower() for part in parts[1:]]
    if kind == ["services"]:
        _only(request, "GET")
        return _xml(services_document(_address(request, service, c) for c in CODEUNITS.values()))
    codeunit = CODEUNITS.get(kind[1]) if len(kind) == 2 and kind[0] == "codeunit" else None
    if codeunit is None:
        raise no_resource(request.url)
    _only(request, "GET", "POST")
    if request.method == "GET":
        return _xml(wsdl_document(codeunit, _address(request, service, codeunit)))
    return await _call(request, service, codeunit)


def _only(request: web.Request, *methods: str) -> None:
    if request.method not in methods:
        raise NavError(
            405,
            "BadRequest_MethodNotAllowed",
            f"The requested resource does not support http method '{request.method}'.",
        )


def _address(request: web.Request, service: NavService, codeunit: Codeunit) -> str:
    company = quote(service.company, safe="")
    return f"{request.url.origin()}/{service.instance}/WS/{company}/Codeunit/{codeunit.name}"


def _xml(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/xml", charset="utf-8")


async def _call(request: web.Request, service: NavService, codeunit: Codeunit) -> web.Response:
    if request.content_type != "text/xml":
        # WCF's basicHttpBinding refuses other content types before reading the body.
        return web.Response(status=415)
    action = request.headers.get("SOAPAction", "")
    try:
        function = codeunit.by_action(action)
        if function is None:
            raise action_not_supported(action.strip().strip('"'))
        operation = read_operation(await request.read())
        if (operation.name, operation.namespace) != (function.name, codeunit.namespace):
            raise deserialization_failed(
                "OperationFormatter encountered an invalid Message body. Expected to find node "
                f"type 'Element' with name '{function.name}' and namespace "
                f"'{codeunit.namespace}'. Found node type 'Element' with name "
                f"'{operation.name}' and namespace '{operation.namespace}'"
            )
        arguments = parse_arguments(codeunit, function, operation.arguments)
        value = function.run(service, arguments)
    except SoapFault as fault:
        return fault_response(fault)
    return result_response(function.name, codeunit.namespace, function.result_values(value))
