"""The WSDL of a codeunit service and the ``Services`` discovery document, shaped like NAV's.

NAV describes a codeunit as document/literal WSDL 1.1: one wrapper element per function
(parameters in order) and one ``<Function>_Result`` element holding ``return_value`` (or, for a
function without one, its ``VAR`` parameters), a port
type ``<Service>_Port``, a SOAP 1.1 binding ``<Service>_Binding`` and a service whose
``soap:address`` is the URL the client used.
"""

from __future__ import annotations

from collections.abc import Iterable
from xml.sax.saxutils import quoteattr

from simulators.navision.codeunits import Codeunit, Function

_WSDL = "http://schemas.xmlsoap.org/wsdl/"
_WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
_XSD = "http://www.w3.org/2001/XMLSchema"
_HTTP_TRANSPORT = "http://schemas.xmlsoap.org/soap/http"


def wsdl_document(codeunit: Codeunit, address: str) -> str:
    """The whole WSDL text of ``codeunit`` served at ``address``."""
    name = codeunit.name
    functions = codeunit.functions
    return "\n".join(
        [
            '<?xml version="1.0" encoding="utf-8"?>',
            f'<definitions xmlns="{_WSDL}" xmlns:tns={quoteattr(codeunit.namespace)} '
            f"targetNamespace={quoteattr(codeunit.namespace)}>",
            "<types>",
            f'<schema xmlns="{_XSD}" elementFormDefault="qualified" '
            f"targetNamespace={quoteattr(codeunit.namespace)}>",
            *(_elements(function) for function in functions),
            "</schema>",
            "</types>",
            *(_messages(function) for function in functions),
            f'<portType name="{name}_Port">',
            *(_port_operation(function) for function in functions),
            "</portType>",
            f'<binding name="{name}_Binding" type="tns:{name}_Port">',
            f'<binding xmlns="{_WSDL_SOAP}" transport="{_HTTP_TRANSPORT}" />',
            *(_binding_operation(codeunit, function) for function in functions),
            "</binding>",
            f'<service name="{name}">',
            f'<port name="{name}_Port" binding="tns:{name}_Binding">',
            f'<address xmlns="{_WSDL_SOAP}" location={quoteattr(address)} />',
            "</port>",
            "</service>",
            "</definitions>",
        ]
    )


def _element(name: str, fields: Iterable[tuple[str, str]]) -> str:
    sequence = "".join(
        f'<element minOccurs="1" maxOccurs="1" name="{field}" type="{xsd}" />'
        for field, xsd in fields
    )
    body = f"<complexType><sequence>{sequence}</sequence></complexType>"
    return f'<element name="{name}">{body}</element>'


def _elements(function: Function) -> str:
    request = _element(function.name, ((p.name, p.xsd) for p in function.parameters))
    result = _element(f"{function.name}_Result", ((f.name, f.xsd) for f in function.result_fields))
    return f"{request}\n{result}"


def _messages(function: Function) -> str:
    return "\n".join(
        f'<message name="{name}"><part name="parameters" element="tns:{name}" /></message>'
        for name in (function.name, f"{function.name}_Result")
    )


def _port_operation(function: Function) -> str:
    name = function.name
    return (
        f'<operation name="{name}">'
        f'<input name="{name}" message="tns:{name}" />'
        f'<output name="{name}_Result" message="tns:{name}_Result" />'
        "</operation>"
    )


def _binding_operation(codeunit: Codeunit, function: Function) -> str:
    name = function.name
    body = f'<body xmlns="{_WSDL_SOAP}" use="literal" />'
    return (
        f'<operation name="{name}">'
        f'<operation xmlns="{_WSDL_SOAP}" soapAction={quoteattr(codeunit.soap_action(function))} '
        'style="document" />'
        f'<input name="{name}">{body}</input>'
        f'<output name="{name}_Result">{body}</output>'
        "</operation>"
    )


def services_document(addresses: Iterable[str]) -> str:
    """``…/WS/{company}/Services``: a DISCO document with one contract per service URL."""
    refs = [
        f'<contractRef ref={quoteattr(address)} xmlns="http://schemas.xmlsoap.org/disco/scl/" />'
        for address in addresses
    ]
    return "\n".join(
        [
            '<?xml version="1.0" encoding="utf-8"?>',
            '<discovery xmlns="http://schemas.xmlsoap.org/disco/">',
            *refs,
            "</discovery>",
        ]
    )
