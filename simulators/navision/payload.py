"""Request bodies: JSON parsing and validation of property values against the schema.

The checks follow NAV's order of complaint: the OData layer first (malformed JSON, unknown
property, wrong JSON type -> ``BadRequest``), then the field itself (too long ->
``Application_StringExceededLength``). Read-only properties are ignored, as NAV ignores
values sent for non-editable page fields.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from simulators.navision.errors import NavError, bad_request
from simulators.navision.literals import parse_datetime
from simulators.navision.schema import EntityType, Property


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The JSON object a write request carries.

    Raises:
        NavError: 400 ``BadRequest`` for an empty body, malformed JSON or a non-object.
    """
    try:
        body = json.loads(raw) if raw.strip() else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"An error occurred while processing this request. {exc}") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object describing one entity.")
    return body


def writable_values(entity: EntityType, body: dict[str, Any]) -> dict[str, Any]:
    """The validated, typed values of the editable properties in ``body``.

    Instance annotations (``@odata.etag``, ``@odata.type`` ...) are skipped.

    Raises:
        NavError: 400 ``BadRequest`` for an unknown property, a value of the wrong type or an
            invalid option; 400 ``Application_StringExceededLength`` for a too-long text.
    """
    values: dict[str, Any] = {}
    for name, raw in body.items():
        if "@" in name:
            continue
        prop = entity.by_name.get(name)
        if prop is None:
            raise bad_request(
                f"The property '{name}' does not exist on type 'NAV.{entity.name}'. Make sure to "
                "only use property names that are defined by the type."
            )
        if not prop.read_only:
            values[name] = coerce(prop, raw)
    return values


def coerce(prop: Property, raw: Any) -> Any:
    """``raw`` as a value of ``prop``; ``null`` means the blank value.

    Raises:
        NavError: as :func:`writable_values`.
    """
    if raw is None:
        return prop.default
    value = _COERCIONS[prop.edm](raw)
    if value is None:
        raise bad_request(f"Cannot convert the literal '{raw}' to the expected type '{prop.edm}'.")
    if prop.options and value not in prop.options:
        raise bad_request(
            f"'{value}' is not a valid value of {prop.name}. "
            f"Valid values: {', '.join(repr(o) for o in prop.options)}."
        )
    if prop.max_length is not None and isinstance(value, str) and len(value) > prop.max_length:
        raise NavError(
            400,
            "Application_StringExceededLength",
            f"The length of the string is {len(value)}, but it must be less than or equal to "
            f"{prop.max_length} characters. Value: {value}",
        )
    return value


def number(value: float) -> float:
    """A decimal as NAV prints it: ``100`` rather than ``100.0``."""
    return int(value) if float(value).is_integer() else value


def parse_decimal(raw: Any) -> float | None:
    """A JSON number (or, as IEEE754Compatible clients send it, a numeric string)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return number(raw)
    if isinstance(raw, str):
        try:
            return number(float(raw))
        except ValueError:
            return None
    return None


def _string(raw: Any) -> str | None:
    return raw if isinstance(raw, str) else None


def _integer(raw: Any) -> int | None:
    value = parse_decimal(raw)
    return value if isinstance(value, int) else None


def _boolean(raw: Any) -> bool | None:
    return raw if isinstance(raw, bool) else None


def _date(raw: Any) -> str | None:
    if not isinstance(raw, str):
        return None
    try:
        return raw if date.fromisoformat(raw).isoformat() == raw else None
    except ValueError:
        return None


def _datetime(raw: Any) -> str | None:
    return parse_datetime(raw) if isinstance(raw, str) else None


_COERCIONS = {
    "Edm.String": _string,
    "Edm.Decimal": parse_decimal,
    "Edm.Int32": _integer,
    "Edm.Boolean": _boolean,
    "Edm.Date": _date,
    "Edm.DateTimeOffset": _datetime,
}
