"""Creatio's OData 4 ``$filter`` subset, compiled into a predicate over rows.

Grammar (precedence ``not`` > ``and`` > ``or``, parentheses group)::

    Column eq|ne|gt|ge|lt|le literal        contains|startswith|endswith(Column, 'text')

Literals: ``'text'`` (``''`` escapes a quote), GUIDs unquoted, ``2024-01-01T00:00:00Z`` and
``2024-01-01`` unquoted, numbers, ``true``/``false``/``null``. Unlike NAV, an ``or`` may span
different columns (Creatio turns the filter into one SQL WHERE clause).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from simulators.creatio.entities import EntitySet, Kind, parse_datetime
from simulators.creatio.errors import bad_request
from simulators.odata import COMPARISONS, STRING_FUNCTIONS, BooleanParser, scan
from simulators.odata_literals import KEYWORDS, unquote

Row = dict[str, Any]
Predicate = Callable[[Row], bool]

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^']|'')*')
    | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})
    | (?P<datetime>\d{4}-\d{2}-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?)
    | (?P<number>-?\d+(?:\.\d+)?[mMdDfFlL]?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<punct>[(),])
    )""",
    re.VERBOSE,
)
# Which literal token kinds a column of each kind accepts.
_ACCEPTS: dict[Kind, frozenset[str]] = {
    "guid": frozenset({"guid"}),
    "string": frozenset({"string"}),
    "datetime": frozenset({"datetime"}),
    "decimal": frozenset({"number"}),
    "int32": frozenset({"number"}),
    "int64": frozenset({"number"}),
    "bool": frozenset({"bool"}),
}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str


def parse_filter(entity: EntitySet, text: str) -> Predicate:
    """Compile ``$filter`` text for ``entity``.

    Raises:
        CreatioError: 400 on a syntax error, an unknown column or a literal of the wrong type.
    """
    return _Parser(entity, text).parse()


def _tokenize(text: str) -> list[_Token]:
    return [_Token(kind, raw) for kind, raw in scan(text, _TOKEN, bad_request)]


class _Parser(BooleanParser[_Token, Predicate]):
    def __init__(self, entity: EntitySet, text: str) -> None:
        super().__init__(text, _tokenize(text), bad_request)
        self.entity = entity

    def negate(self, inner: Predicate) -> Predicate:
        """``not inner``."""
        return lambda row: not inner(row)

    def both(self, left: Predicate, right: Predicate) -> Predicate:
        """``left and right``."""
        return lambda row: left(row) and right(row)

    def either(self, left: Predicate, right: Predicate) -> Predicate:
        """``left or right``; unlike NAV, the sides may read different columns."""
        return lambda row: left(row) or right(row)

    def term(self) -> Predicate:
        token = self.next()
        if token.text in STRING_FUNCTIONS and self.accept("("):
            return self._function(token.text)
        column, kind = self._column(token)
        op = self.next().text
        if op not in COMPARISONS:
            raise self.syntax_error()
        value = self._literal(kind)
        if value is None:
            # SQL semantics of "eq null"/"ne null"; other comparisons with null keep nothing.
            return lambda row: (
                (row[column] is None) == (op == "eq") if op in ("eq", "ne") else False
            )
        compare = COMPARISONS[op]
        return lambda row: row[column] is not None and compare(row[column], value)

    def _function(self, name: str) -> Predicate:
        column, kind = self._column(self.next())
        self.expect(",")
        needle = self._literal(kind)
        self.expect(")")
        if kind != "string" or not isinstance(needle, str):
            raise bad_request(f"The function '{name}' needs a string column and a string.")
        func = STRING_FUNCTIONS[name]
        # Creatio's SQL Server collation is case-insensitive.
        lowered = needle.lower()
        return lambda row: func(str(row[column]).lower(), lowered)

    def _column(self, token: _Token) -> tuple[str, Kind]:
        if token.kind != "name":
            raise self.syntax_error()
        kind = self.entity.columns.get(token.text)
        if kind is None:
            raise bad_request(
                f"Could not find a property named '{token.text}' on type '{self.entity.type_name}'."
            )
        return token.text, kind

    def _literal(self, kind: Kind) -> Any:
        token = self.next()
        if token.kind == "name" and token.text in KEYWORDS:
            value = KEYWORDS[token.text]
            token_kind = "null" if value is None else "bool"
        else:
            value, token_kind = _value(token), token.kind
        if token_kind not in _ACCEPTS[kind] | {"null"}:
            raise bad_request(
                "A binary operator with incompatible types was detected. Found operand types "
                f"'{kind}' and '{token_kind}' in '{self.text}'."
            )
        return value


def _value(token: _Token) -> Any:
    if token.kind == "string":
        return unquote(token.text)
    if token.kind == "guid":
        return token.text.lower()
    if token.kind == "datetime":
        value = parse_datetime(token.text)
        if value is None:
            raise bad_request(f"Unrecognized date/time literal '{token.text}'.")
        return value
    if token.kind == "number":
        return Decimal(token.text.rstrip("mMdDfFlL"))
    raise bad_request(f"Unexpected '{token.text}' where a literal was expected.")
