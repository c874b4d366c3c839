"""SOAP 1.1 as NAV's web services speak it: request envelopes in, results and faults out.

NAV serves SOAP through WCF's ``basicHttpBinding``: ``text/xml; charset=utf-8``, the operation
chosen by the ``SOAPAction`` header, document/literal bodies. Results come in a
``Soap:``-prefixed envelope, failures as HTTP 500 with an ``s:Fault`` whose ``faultcode`` names
the .NET exception (``a:Microsoft.Dynamics.Nav.Types.Exceptions.NavCSideRecordNotFoundException``)
and whose ``faultstring`` is the AL message.

Requests are parsed with :mod:`xml.etree.ElementTree`; a body with a document type declaration
is refused before parsing (SOAP 1.1 forbids DTDs, and refusing them rules out entity expansion).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
CONTENT_TYPE = "text/xml; charset=utf-8"
#: The namespace of NAV's own fault codes (``a:Microsoft.Dynamics.Nav...``).
NAV_ERROR_NS = "urn:microsoft-dynamics-schemas/error"
#: WCF's namespaces for faults raised before NAV code runs.
_WCF_DISPATCHER_NS = (
    "http://schemas.microsoft.com/net/2005/12/windowscommunicationfoundation/dispatcher"
)
_WCF_ADDRESSING_NS = "http://schemas.microsoft.com/ws/2005/05/addressing/none"
_NAV_EXCEPTIONS = "Microsoft.Dynamics.Nav.Types.Exceptions."


class SoapFault(Exception):
    """A failure NAV reports as a SOAP fault (HTTP 500).

    Parameters:
        code: the fault code as written, e.g. ``a:ActionNotSupported`` or ``s:Client``.
        message: the ``faultstring``.
        code_namespace: the namespace bound to the ``a`` prefix of ``code``; ``None`` for the
            SOAP envelope's own codes (``s:Client``, ``s:Server``).
    """

    def __init__(self, code: str, message: str, code_namespace: str | None = NAV_ERROR_NS) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.code_namespace = code_namespace


def record_not_found(table: str, identification: str) -> SoapFault:
    """AL's "record does not exist" error, e.g. for ``Customer.GET('99999')``."""
    return SoapFault(
        f"a:{_NAV_EXCEPTIONS}NavCSideRecordNotFoundException",
        f"The {table} does not exist. Identification fields and values: {identification}",
    )


def dialog(message: str) -> SoapFault:
    """An AL ``Error()`` call inside the codeunit."""
    return SoapFault(f"a:{_NAV_EXCEPTIONS}NavNCLDialogException", message)


def parameter_missing(parameter: str, function: str, service: str) -> SoapFault:
    """NAV's service broker refusing a call that leaves out a parameter."""
    return SoapFault(
        "a:Microsoft.Dynamics.Nav.Service.WebServices.ServiceBrokerException",
        f"Parameter {parameter} in method {function} in service {service} is null!",
    )


def deserialization_failed(detail: str) -> SoapFault:
    """WCF could not read the operation's body (wrong element, value of the wrong type)."""
    return SoapFault(
        "a:DeserializationFailed",
        f"The formatter threw an exception while trying to deserialize the message: {detail}",
        _WCF_DISPATCHER_NS,
    )


def action_not_supported(action: str) -> SoapFault:
    """WCF's answer to a ``SOAPAction`` that names no operation of the service."""
    return SoapFault(
        "a:ActionNotSupported",
        f"The message with Action '{action}' cannot be processed at the receiver, due to a "
        "ContractFilter mismatch at the EndpointDispatcher. This may be because of either a "
        "contract mismatch (mismatched Actions between sender and receiver) or a "
        "binding/security mismatch between the sender and the receiver.  Check that sender "
        "and receiver have the same contract and the same binding (including security "
        "requirements, e.g. Message, Transport, None).",
        _WCF_ADDRESSING_NS,
    )


def malformed(reason: str) -> SoapFault:
    """A body that is not a SOAP 1.1 envelope at all (the simulator's own wording)."""
    return SoapFault("s:Client", f"The request is not a valid SOAP 1.1 envelope: {reason}", None)


@dataclass(frozen=True)
class Operation:
    """The one element inside ``soap:Body``: its name, namespace and child elements.

    Parameters:
        name: the element's local name (the operation, e.g. ``GetCustomerPrice``).
        namespace: its namespace URI.
        arguments: child local name -> text (``""`` for an empty element, ``None`` for
            ``xsi:nil="true"``), children in other namespaces left out.
    """

    name: str
    namespace: str
    arguments: dict[str, str | None]


def read_operation(raw: bytes) -> Operation:
    """Parse a request envelope down to the operation element in its body.

    Raises:
        SoapFault: ``s:Client`` for a DTD, bytes that are not UTF-8 XML, or XML that is not an
            envelope with exactly one element in its body.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise malformed("the body is not UTF-8 text.") from None
    if "<!doctype" in text.lower():
        raise malformed("document type declarations are not allowed.")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise malformed(f"{exc}.") from None
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise malformed(f"the root element is {root.tag}, not {{{SOAP_ENV}}}Envelope.")
    body = root.find(f"{{{SOAP_ENV}}}Body")
    children = list(body) if body is not None else []
    if len(children) != 1:
        raise malformed("the Body must hold exactly one element.")
    element = children[0]
    namespace, name = _split(element.tag)
    arguments: dict[str, str | None] = {}
    for child in element:
        child_namespace, child_name = _split(child.tag)
        if child_namespace != namespace:
            continue
        nil = child.get(f"{{{XSI}}}nil", "false").strip() in ("true", "1")
        arguments[child_name] = None if nil else (child.text or "")
    return Operation(name, namespace, arguments)


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return "", tag


def result_response(operation: str, namespace: str, values: dict[str, str]) -> web.Response:
    """HTTP 200 with ``<{operation}_Result xmlns="…"><return_value>…</return_value>…``."""
    fields = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in values.items())
    body = f"<{operation}_Result xmlns={quoteattr(namespace)}>{fields}</{operation}_Result>"
    envelope = (
        f'<Soap:Envelope xmlns:Soap="{SOAP_ENV}"><Soap:Body>{body}</Soap:Body></Soap:Envelope>'
    )
    return web.Response(
        body=envelope.encode(), status=200, content_type="text/xml", charset="utf-8"
    )


def fault_response(fault: SoapFault) -> web.Response:
    """HTTP 500 with the fault in an ``s:Envelope``, as NAV sends it."""
    binding = f" xmlns:a={quoteattr(fault.code_namespace)}" if fault.code_namespace else ""
    message = escape(fault.message)
    envelope = (
        f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><s:Fault>'
        f"<faultcode{binding}>{escape(fault.code)}</faultcode>"
        f'<faultstring xml:lang="en-US">{message}</faultstring>'
        '<detail><string xmlns="http://schemas.microsoft.com/2003/10/Serialization/">'
        f"{message}</string></detail>"
        "</s:Fault></s:Body></s:Envelope>"
    )
    return web.Response(
        body=envelope.encode(), status=500, content_type="text/xml", charset="utf-8"
    )
