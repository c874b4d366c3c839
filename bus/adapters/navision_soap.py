"""Calling a codeunit NAV publishes as a SOAP web service, for the pricing and document calls.

NAV serves codeunit ``{service}`` at ``{instance}/WS/{company}/Codeunit/{service}``, beside
``{instance}/ODataV4``: SOAP 1.1, document/literal, the function chosen by the ``SOAPAction``
``urn:microsoft-dynamics-schemas/codeunit/{service}:{function}``. It answers
``<{function}_Result>`` holding ``return_value`` and any ``VAR`` parameters, or HTTP 500 with a
``Fault`` whose ``faultstring`` is the AL message (an ``Error()``, a missing record) or WCF's
reason for not running the function at all.
"""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import quote
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import httpx

from bus.adapters.http import malformed, raise_for_status, upstream_errors
from bus.errors import PermanentError
from bus.settings import NavisionSettings

SYSTEM = "navision"
_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
_CONTENT_TYPE = "text/xml; charset=utf-8"


class Codeunit:
    """One codeunit NAV publishes as a SOAP service, called with the deployment's credentials.

    Parameters:
        settings: NAV's address (the SOAP root is beside ``ODataV4``), company, credentials.
        name: the service name the codeunit is published under (``B2BPricing``).
        client: the process's shared HTTP client.
    """

    def __init__(self, settings: NavisionSettings, name: str, client: httpx.AsyncClient) -> None:
        root = settings.url.rstrip("/").removesuffix("/ODataV4")
        company = quote(settings.company, safe="")
        self.url = f"{root}/WS/{company}/Codeunit/{name}"
        self.namespace = f"urn:microsoft-dynamics-schemas/codeunit/{name}"
        self._client = client
        self._auth = httpx.BasicAuth(settings.username, settings.password.get_secret_value())

    async def call(
        self, function: str, arguments: dict[str, str], *, timeout: float, what: str
    ) -> dict[str, str]:
        """Call ``function`` with ``arguments`` (in parameter order, as XML Schema text).

        Only idempotent calls go through here (a price query, a document keyed by its request
        id), so an answer lost on the way is transient, never an unknown outcome.

        Returns:
            The children of ``<{function}_Result>`` by local name: ``return_value`` and the
            ``VAR`` parameters, each as its text (``""`` when empty).

        Raises:
            PermanentError: for a SOAP fault, NAV's answer to this very call (the codeunit's
                ``Error()``, a record it did not find, or a call the service does not take):
                asking again gets the same answer. ``what`` names the call in its text.
            TransientError: an answer without the result element, or not XML.
            DeliveryError: any other failure, as :func:`raise_for_status` classifies it.
        """
        with upstream_errors(SYSTEM, idempotent=True):
            response = await self._client.post(
                self.url,
                content=self._envelope(function, arguments).encode(),
                headers={
                    "Content-Type": _CONTENT_TYPE,
                    "SOAPAction": f'"{self.namespace}:{function}"',
                },
                auth=self._auth,
                timeout=timeout,
            )
        if response.status_code == 500:
            fault = _fault_string(response)
            if fault is not None:
                raise PermanentError(f"{SYSTEM} refused {what}: {fault}", http_status=500)
        raise_for_status(response, SYSTEM, lambda r: r.text[:300])
        return self._result(response, function)

    def _envelope(self, function: str, arguments: dict[str, str]) -> str:
        """The request envelope: ``<function>`` in the codeunit's namespace, one child each."""
        fields = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in arguments.items())
        return (
            f'<soap:Envelope xmlns:soap="{_SOAP}"><soap:Body>'
            f'<{function} xmlns="{self.namespace}">{fields}</{function}>'
            "</soap:Body></soap:Envelope>"
        )

    def _result(self, response: httpx.Response, function: str) -> dict[str, str]:
        """The children of ``<{function}_Result>`` in a successful answer, by local name."""
        root = _parse(response)
        tag = f"{{{self.namespace}}}{function}_Result"
        result = None if root is None else root.find(f"{{{_SOAP}}}Body/{tag}")
        if result is None:
            raise malformed(f"{SYSTEM} answered without a {function}_Result", idempotent=True)
        return {child.tag.rpartition("}")[2]: child.text or "" for child in result}


def _fault_string(response: httpx.Response) -> str | None:
    """The ``faultstring`` of a SOAP fault answer; ``None`` when the body is not a fault.

    A 500 without a fault (a proxy's error page, a server that fell over) is no verdict on the
    call and is classified by its status like any other.
    """
    root = _parse(response)
    fault = None if root is None else root.find(f"{{{_SOAP}}}Body/{{{_SOAP}}}Fault")
    if fault is None:
        return None
    return (fault.findtext("faultstring") or "").strip() or "a fault without a faultstring"


def _parse(response: httpx.Response) -> ElementTree.Element | None:
    """The answer's XML root; ``None`` for a body that is not XML."""
    try:
        return ElementTree.fromstring(response.content)
    except ElementTree.ParseError:
        return None


def xml_decimal(value: float) -> str:
    """``value`` as XML Schema decimal text: never an exponent, which ``xsd:decimal`` lacks."""
    return format(Decimal(str(value)), "f")
