"""Request bodies: JSON parsing and typing of property values against the schema.

Annotations a client may echo from a read (``odata.metadata``, ``…@navigationLinkUrl``) are
skipped; an unknown property is refused (code 10); a value of the wrong type is refused
(code 4); read-only properties (``DataVersion``, ``Posted``, ``СуммаДокумента``, a row's
``Сумма``…) are ignored, as the platform recomputes them. JSON ``null`` means the blank value.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from simulators.onec.errors import (
    OneCError,
    bad_format,
    invalid_value,
    missing_value,
    unknown_property,
)
from simulators.onec.literals import parse_datetime, parse_guid
from simulators.onec.schema import EntityType, Property, Section

Values = dict[str, Any]


def parse_json_object(raw: bytes) -> Values:
    """The JSON object a write carries.

    Raises:
        OneCError: 400, code 2, for an empty body, malformed JSON or a non-object.
    """
    try:
        body = json.loads(raw) if raw.strip() else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_format(str(exc)) from None
    if not isinstance(body, dict):
        raise bad_format("тело запроса должно быть объектом JSON")
    return body


def writable_values(entity: EntityType, body: Values, *, creating: bool) -> Values:
    """The typed values of the writable properties in ``body`` (the section stays raw).

    ``Ref_Key`` is writable when creating: 1C lets an exchange choose the reference.

    Raises:
        OneCError: 400 for an unknown property (code 10) or a value of the wrong type (code 4).
    """
    values: Values = {}
    section = entity.section.name if entity.section else None
    for name, raw in body.items():
        if _is_annotation(name):
            continue
        if name == section:
            values[name] = raw
            continue
        prop = entity.by_name.get(name)
        if prop is None:
            raise unknown_property(name, entity.name)
        if not prop.read_only or (creating and name == "Ref_Key"):
            values[name] = coerce(prop, raw)
    return values


def parse_rows(section: Section, raw: Any) -> list[Values]:
    """The rows of a tabular section from a body, in ``LineNumber`` order, numbered 1…n.

    A row without ``Цена`` (or with 0 or ``null``) gets ``Цена`` ``None``: the order fills it
    from the price register.

    Raises:
        OneCError: 400 when the section is not an array of objects (code 4), a row lacks
            ``LineNumber`` (code 5), repeats one or has an invalid value (code 4).
    """
    if not isinstance(raw, list) or not all(isinstance(row, dict) for row in raw):
        raise invalid_value(section.name, "ожидается массив строк табличной части")
    rows: list[Values] = []
    for row in raw:
        if row.get("LineNumber") is None:
            raise missing_value(f"{section.name}.LineNumber")
        values: Values = {p.name: p.default for p in section.properties}
        for name, value in row.items():
            if _is_annotation(name):
                continue
            prop = section.by_name.get(name)
            if prop is None:
                raise unknown_property(name, section.name)
            if not prop.read_only:
                values[name] = coerce(prop, value)
        if not values["Цена"]:
            values["Цена"] = None
        rows.append(values)
    numbers = [row["LineNumber"] for row in rows]
    if len(set(numbers)) != len(numbers):
        raise invalid_value(f"{section.name}.LineNumber", "номера строк повторяются")
    rows.sort(key=lambda row: int(row["LineNumber"]))
    # The platform keeps line numbers contiguous, whatever numbers the client sent.
    for number, row in enumerate(rows, start=1):
        row["LineNumber"] = number
    return rows


def coerce(prop: Property, raw: Any) -> Any:
    """``raw`` as a value of ``prop``.

    Raises:
        OneCError: 400, code 4, for a value of the wrong type or an unknown enumeration value.
    """
    if raw is None:
        return prop.default
    value = _COERCIONS[prop.edm](raw, prop)
    if prop.choices and value not in prop.choices:
        raise invalid_value(prop.name, f"допустимые значения: {', '.join(prop.choices)}")
    return value


def _is_annotation(name: str) -> bool:
    return "@" in name or name.startswith("odata.")


def _wrong(prop: Property, raw: Any) -> OneCError:
    return invalid_value(prop.name, f"'{raw}' не является значением типа {prop.edm}")


def _string(raw: Any, prop: Property) -> str:
    if not isinstance(raw, str):
        raise _wrong(prop, raw)
    return raw


def _boolean(raw: Any, prop: Property) -> bool:
    if not isinstance(raw, bool):
        raise _wrong(prop, raw)
    return raw


def _guid(raw: Any, prop: Property) -> str:
    return parse_guid(_string(raw, prop), lambda _: _wrong(prop, raw))


def _datetime(raw: Any, prop: Property) -> str:
    return parse_datetime(_string(raw, prop), lambda _: _wrong(prop, raw))


def _double(raw: Any, prop: Property) -> float:
    if isinstance(raw, bool):
        raise _wrong(prop, raw)
    if isinstance(raw, str):
        try:
            raw = float(raw)
        except ValueError:
            raise _wrong(prop, raw) from None
    if not isinstance(raw, int | float):
        raise _wrong(prop, raw)
    return number(raw)


def _int64(raw: Any, prop: Property) -> int:
    # JSON-light v3 writes Edm.Int64 as a string ("LineNumber": "1"); a number is fine too.
    value = _double(raw, prop)
    if not isinstance(value, int) or value <= 0:
        raise _wrong(prop, raw)
    return value


def number(value: float) -> float:
    """A number as 1C writes it: ``100`` rather than ``100.0``."""
    return int(value) if float(value).is_integer() else value


_COERCIONS: dict[str, Callable[[Any, Property], Any]] = {
    "Edm.String": _string,
    "Edm.Boolean": _boolean,
    "Edm.Guid": _guid,
    "Edm.DateTime": _datetime,
    "Edm.Double": _double,
    "Edm.Int64": _int64,
}
