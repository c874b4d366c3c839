"""Hypothesis strategies from the published JSON Schemas, and the validator that judges them.

The strategies cover the JSON Schema the params models publish (types, lengths, bounds, patterns,
formats, enums, ``anyOf``, ``$ref``; ``if``/``then``/``else`` through the validator) and fail
loudly on any other keyword, so a model that starts publishing something new is noticed here. A
generated value is a *candidate*: :func:`schema_valid` says whether the published schema allows
it, and ``format`` means what the bus checks (email-validator for ``email``, ISO dates).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import jsonschema
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from pydantic.networks import validate_email

#: Keywords the strategies understand, or that say nothing about which values are valid.
KNOWN = {
    "type",
    "title",
    "description",
    "default",
    "examples",
    "maxLength",
    "minLength",
    "pattern",
    "format",
    "maximum",
    "minimum",
    "exclusiveMaximum",
    "exclusiveMinimum",
    "items",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "additionalProperties",
    "anyOf",
    "enum",
    "const",
    "$ref",
    "$defs",
    "if",
    "then",
    "else",
}

_DATETIME = TypeAdapter(dt.datetime)


def _email(value: object) -> bool:
    try:
        validate_email(str(value))
    except ValueError:
        return False
    return True


def _date(value: object) -> bool:
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value))) and _parses(dt.date, value)


def _date_time(value: object) -> bool:
    try:
        _DATETIME.validate_python(value)
    except ValidationError:
        return False
    return bool(re.match(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}", str(value)))


def _uuid(value: object) -> bool:
    return _parses(uuid.UUID, value) and len(str(value)) == 36


def _parses(kind: Any, value: object) -> bool:
    try:
        kind.fromisoformat(value) if kind is dt.date else kind(value)
    except (TypeError, ValueError):
        return False
    return True


def _strings_only(check: Any) -> Any:
    # A format says nothing about a value of another type: its "type" judges that.
    return lambda value: not isinstance(value, str) or check(value)


FORMATS = jsonschema.FormatChecker(formats=())
for _name, _check in {
    "email": _email,
    "date": _date,
    "date-time": _date_time,
    "uuid": _uuid,
}.items():
    FORMATS.checks(_name)(_strings_only(_check))


_VALIDATORS: dict[int, jsonschema.Draft202012Validator] = {}


def schema_valid(schema: dict[str, Any], value: Any) -> bool:
    """Whether the published ``schema`` allows ``value`` (formats checked as the bus checks)."""
    validator = _VALIDATORS.get(id(schema))
    if validator is None:
        validator = jsonschema.Draft202012Validator(schema, format_checker=FORMATS)
        _VALIDATORS[id(schema)] = validator
    return bool(validator.is_valid(value))


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Candidates for ``schema``: mostly valid values (filter them with :func:`schema_valid`)."""
    return _Builder(schema.get("$defs", {})).build(schema)


#: Any JSON value, to put where it does not belong.
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


class _Builder:
    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs

    def build(self, node: dict[str, Any]) -> st.SearchStrategy[Any]:
        unknown = set(node) - KNOWN
        if unknown:
            raise NotImplementedError(f"schema keywords without a strategy: {sorted(unknown)}")
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            return st.deferred(lambda: self.build(self.defs[name]))
        if "anyOf" in node:
            return st.one_of([self.build(option) for option in node["anyOf"]])
        if "enum" in node:
            return st.sampled_from(node["enum"])
        if "const" in node:
            return st.just(node["const"])
        kind = node.get("type")
        builders = {
            "string": self._string,
            "integer": self._integer,
            "number": self._number,
            "boolean": lambda _: st.booleans(),
            "null": lambda _: st.none(),
            "array": self._array,
            "object": self._object,
        }
        if kind not in builders:
            raise NotImplementedError(f"schema type without a strategy: {kind!r}")
        return builders[kind](node)

    def _string(self, node: dict[str, Any]) -> st.SearchStrategy[Any]:
        low, high = node.get("minLength", 0), node.get("maxLength", 60)
        fmt = node.get("format")
        if fmt is not None:
            return _FORMAT_VALUES[fmt]
        pattern = node.get("pattern")
        if pattern is not None and re.search(r"\{\d+\}", pattern):
            # a fixed-length pattern (a message id): random text would never match it
            return st.from_regex(pattern, fullmatch=True).filter(lambda s: low <= len(s) <= high)
        text = st.text(min_size=low, max_size=high) | st.text(
            st.sampled_from(" \t\n\u3000\x1cab0-#?%/&'\u00a0"), min_size=low, max_size=high
        )
        if pattern is not None:
            compiled = re.compile(pattern)
            return text.filter(lambda s: compiled.search(s) is not None)
        return text

    def _integer(self, node: dict[str, Any]) -> st.SearchStrategy[Any]:
        low = node.get("minimum", node.get("exclusiveMinimum", -(2**40) - 1) + 1)
        high = node.get("maximum", node.get("exclusiveMaximum", 2**40 + 1) - 1)
        return st.integers(low, high)

    def _number(self, node: dict[str, Any]) -> st.SearchStrategy[Any]:
        low = node.get("minimum", node.get("exclusiveMinimum"))
        high = node.get("maximum", node.get("exclusiveMaximum"))
        floats = st.floats(
            min_value=low,
            max_value=high,
            exclude_min="exclusiveMinimum" in node,
            exclude_max="exclusiveMaximum" in node,
            allow_nan=False,
            allow_infinity=False,
        )
        ints = st.integers(
            None if low is None else int(low) + 1, None if high is None else int(high)
        )
        return floats | ints

    def _array(self, node: dict[str, Any]) -> st.SearchStrategy[Any]:
        items = self.build(node.get("items", {"type": "string"}))
        return st.lists(
            items, min_size=node.get("minItems", 0), max_size=min(node.get("maxItems", 4), 4)
        )

    def _object(self, node: dict[str, Any]) -> st.SearchStrategy[Any]:
        properties = node.get("properties", {})
        required = set(node.get("required", ()))
        fixed = {name: self.build(properties[name]) for name in properties if name in required}
        optional = {
            name: self.build(sub) for name, sub in properties.items() if name not in required
        }
        return st.fixed_dictionaries(fixed, optional=optional)


_FORMAT_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "email": st.from_regex(
        r"[a-z][a-z0-9._+-]{0,20}@[a-z][a-z0-9-]{0,15}\.(com|ru|org)", fullmatch=True
    )
    | st.text(max_size=20),
    "date": st.dates().map(dt.date.isoformat) | st.text(max_size=12),
    "date-time": st.datetimes(timezones=st.none() | st.timezones()).map(dt.datetime.isoformat)
    | st.text(max_size=25),
    "uuid": st.uuids().map(str) | st.text(max_size=36),
}
