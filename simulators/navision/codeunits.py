"""Published codeunits: their functions, parameter types and how values cross the wire.

One :class:`Codeunit` description drives the WSDL, the dispatch by ``SOAPAction`` and the
reading of arguments, so the service cannot drift from what its WSDL advertises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from simulators.navision.service import NavService
from simulators.navision.soap import SoapFault, deserialization_failed, parameter_missing

#: The XML Schema types NAV maps Code/Text, Decimal, Integer and Date parameters to.
Xsd = Literal["string", "decimal", "int", "date"]
_CLR_TYPES: dict[Xsd, str] = {
    "string": "String",
    "decimal": "Decimal",
    "int": "Int32",
    "date": "DateTime",
}


@dataclass(frozen=True)
class Parameter:
    """One function parameter: its name on the wire and its XML Schema type."""

    name: str
    xsd: Xsd


@dataclass(frozen=True)
class Function:
    """A public codeunit function published as a SOAP operation.

    A function either returns one value (``return_value``) or, having no return value, hands
    its results back through ``VAR`` parameters, which NAV returns by name in
    ``<Function>_Result``. NAV's WSDL also lists ``VAR`` parameters in the request, where
    their value goes in; the simulator's functions only write them, so it leaves them out of
    the request (a simplification: a client of a real codeunit sends them as well).

    Parameters:
        name: the function (and operation) name.
        parameters: its parameters, in order.
        returns: the type of ``return_value``; ``None`` for a function without one.
        run: the implementation, given the server instance and the parsed arguments; it gives
            the return value, or the ``results`` by name.
        results: the ``VAR`` parameters that carry a function's results out, in order.
    """

    name: str
    parameters: tuple[Parameter, ...]
    returns: Xsd | None
    run: Callable[[NavService, dict[str, Any]], Any]
    results: tuple[Parameter, ...] = ()

    def __post_init__(self) -> None:
        if (self.returns is None) == (not self.results):
            raise ValueError(f"{self.name} must have either a return value or results")

    @property
    def result_fields(self) -> tuple[Parameter, ...]:
        """The children of ``<Function>_Result``, as its WSDL declares them."""
        if self.returns is not None:
            return (Parameter("return_value", self.returns),)
        return self.results

    def result_values(self, value: Any) -> dict[str, str]:
        """What ``run`` gave as the text of each child of ``<Function>_Result``."""
        if self.returns is not None:
            return {"return_value": format_value(self.returns, value)}
        return {field.name: format_value(field.xsd, value[field.name]) for field in self.results}


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
    if parameter.xsd == "date":
        try:
            return date.fromisoformat(text.strip())
        except ValueError:
            raise _not_parsed(codeunit, parameter, text) from None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        value = None
    if (
        value is None
        or not value.is_finite()
        or (parameter.xsd == "int" and value != value.to_integral_value())
    ):
        raise _not_parsed(codeunit, parameter, text)
    return int(value) if parameter.xsd == "int" else value


def _not_parsed(codeunit: Codeunit, parameter: Parameter, text: str) -> SoapFault:
    """WCF's fault for an argument that is not a value of its parameter's type."""
    clr = _CLR_TYPES[parameter.xsd]
    return deserialization_failed(
        f"There was an error while trying to deserialize parameter "
        f"{codeunit.namespace}:{parameter.name}. The InnerException message was 'There was "
        f"an error deserializing the object of type System.{clr}. The value '{text}' cannot "
        f"be parsed as the type '{clr}'.'.  Please see InnerException for more details."
    )


def format_value(xsd: Xsd, value: Any) -> str:
    """A result as XML Schema text: decimals without exponent or trailing zeros, ISO dates."""
    if xsd == "string":
        return str(value)
    if xsd == "date":
        return date.isoformat(value)
    if xsd == "int":
        return str(int(value))
    number = Decimal(str(value)).normalize()
    return format(number, "f") if number != 0 else "0"
