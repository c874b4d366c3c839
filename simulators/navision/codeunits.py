"""Published codeunits: their functions, parameter types and how values cross the wire.

One :class:`Codeunit` description drives the WSDL, the dispatch by ``SOAPAction`` and the
reading of arguments, so the service cannot drift from what its WSDL advertises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from simulators.navision.service import NavService
from simulators.navision.soap import deserialization_failed, parameter_missing

#: The XML Schema types NAV maps Code/Text, Decimal and Integer parameters to.
Xsd = Literal["string", "decimal", "int"]
_CLR_TYPES: dict[Xsd, str] = {"string": "String", "decimal": "Decimal", "int": "Int32"}


@dataclass(frozen=True)
class Parameter:
    """One function parameter: its name on the wire and its XML Schema type."""

    name: str
    xsd: Xsd


@dataclass(frozen=True)
class Function:
    """A public codeunit function published as a SOAP operation.

    Parameters:
        name: the function (and operation) name.
        parameters: its parameters, in order.
        returns: the type of ``return_value``.
        run: the implementation, given the server instance and the parsed arguments.
    """

    name: str
    parameters: tuple[Parameter, ...]
    returns: Xsd
    run: Callable[[NavService, dict[str, Any]], Any]


@dataclass(frozen=True)
class Codeunit:
    """A codeunit published under a service name (``B2BPricing``)."""

    name: str
    functions: tuple[Function, ...]

    @property
    def namespace(self) -> str:
        """The target namespace of its WSDL and of every body element."""
        return f"urn:microsoft-dynamics-schemas/codeunit/{self.name}"

    def soap_action(self, function: Function) -> str:
        """The ``SOAPAction`` that selects ``function``."""
        return f"{self.namespace}:{function.name}"

    def by_action(self, action: str) -> Function | None:
        """The function a ``SOAPAction`` value (quotes allowed) selects, if any."""
        wanted = action.strip().strip('"')
        return next((f for f in self.functions if self.soap_action(f) == wanted), None)


def parse_arguments(
    codeunit: Codeunit, function: Function, raw: dict[str, str | None]
) -> dict[str, Any]:
    """Convert the body's child elements into typed arguments.

    Raises:
        SoapFault: NAV's "is null!" for a missing parameter, WCF's deserialization fault for a
            value that does not parse as its type.
    """
    arguments: dict[str, Any] = {}
    for parameter in function.parameters:
        text = raw.get(parameter.name)
        if text is None:
            raise parameter_missing(parameter.name, function.name, codeunit.name)
        arguments[parameter.name] = _parse(codeunit, parameter, text)
    return arguments


def _parse(codeunit: Codeunit, parameter: Parameter, text: str) -> Any:
    if parameter.xsd == "string":
        return text
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        value = None
    if (
        value is None
        or not value.is_finite()
        or (parameter.xsd == "int" and value != value.to_integral_value())
    ):
        clr = _CLR_TYPES[parameter.xsd]
        raise deserialization_failed(
            f"There was an error while trying to deserialize parameter "
            f"{codeunit.namespace}:{parameter.name}. The InnerException message was 'There was "
            f"an error deserializing the object of type System.{clr}. The value '{text}' cannot "
            f"be parsed as the type '{clr}'.'.  Please see InnerException for more details."
        )
    return int(value) if parameter.xsd == "int" else value


def format_value(xsd: Xsd, value: Any) -> str:
    """A return value as XML Schema text: decimals without exponent or trailing zeros."""
    if xsd == "string":
        return str(value)
    if xsd == "int":
        return str(int(value))
    number = Decimal(str(value)).normalize()
    return format(number, "f") if number != 0 else "0"
