"""The ``$filter`` subset NAV supports, compiled into a predicate over record values.

Grammar (precedence ``not`` > ``and`` > ``or``, parentheses group)::

    Field eq|ne|gt|ge|lt|le literal      Field in (literal, ...)
    startswith|endswith|contains(Field, 'text') [eq true|false]

Like NAV, an ``or`` whose operands filter different fields is rejected: NAV turns a filter
into per-field AL filters, and an OR cannot span two of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulators.navision.errors import bad_request
from simulators.navision.literals import Token, tokenize
from simulators.navision.schema import EntityType, Property
from simulators.odata import COMPARISONS, STRING_FUNCTIONS, BooleanParser
from simulators.odata_literals import is_literal, literal_value

Row = dict[str, Any]
Test = Callable[[Row], bool]

# NAV's name of each comparison in its type-mismatch message.
_OPERATOR_KINDS: dict[str, str] = {
    "eq": "Equal",
    "ne": "NotEqual",
    "gt": "GreaterThan",
    "ge": "GreaterThanOrEqual",
    "lt": "LessThan",
    "le": "LessThanOrEqual",
}
# Which literal kinds each Edm type can be compared with.
_COMPATIBLE: dict[str, tuple[type, ...]] = {
    "Edm.String": (str,),
    "Edm.Date": (str,),
    "Edm.DateTimeOffset": (str,),
    "Edm.Decimal": (int, float),
    "Edm.Int32": (int, float),
    "Edm.Boolean": (bool,),
}
# A date or a moment is compared with a literal of its own type only (a quoted string is
# neither), and a string or number never with a date or moment literal.
_TEMPORAL_KINDS: dict[str, str] = {"Edm.Date": "date", "Edm.DateTimeOffset": "datetime"}
_OR_ACROSS_FIELDS = "The 'OR' operator is not supported on distinct fields on an OData filter."


@dataclass(frozen=True, slots=True)
class Predicate:
    """A compiled filter.

    Parameters:
        test: true for the rows the filter keeps.
        fields: the properties the filter reads.
        equalities: ``(field, value)`` pairs every kept row satisfies; lets the store answer
            ``No eq '10000'`` or ``External_Document_No eq 'X'`` from an index.
    """

    test: Test
    fields: frozenset[str]
    equalities: tuple[tuple[str, Any], ...] = ()


def parse_filter(entity: EntityType, text: str) -> Predicate:
    """Compile ``$filter`` text for ``entity``.

    Raises:
        NavError: 400 ``BadRequest`` on a syntax error, an unknown property, a literal of the
            wrong type, or an OR across different fields.
    """
    return _Parser(entity, text).parse()


class _Parser(BooleanParser[Token, Predicate]):
    def __init__(self, entity: EntityType, text: str) -> None:
        super().__init__(text, tokenize(text), bad_request)
        self.entity = entity

    def negate(self, inner: Predicate) -> Predicate:
        """``not inner``: reads the same fields, promises no equalities."""
        return Predicate(lambda row: not inner.test(row), inner.fields)

    def both(self, left: Predicate, right: Predicate) -> Predicate:
        """``left and right``: keeps the equalities of both sides for index lookups."""
        return _both(left, right)

    def either(self, left: Predicate, right: Predicate) -> Predicate:
        """``left or right``, refused like NAV does when the sides read different fields."""
        fields = left.fields | right.fields
        if len(fields) > 1:
            raise bad_request(_OR_ACROSS_FIELDS)
        return _either(left, right, fields)

    def term(self) -> Predicate:
        token = self.next()
        if token.text in STRING_FUNCTIONS and self.accept("("):
            return self._function(token.text)
        prop = self._property(token)
        if self.accept("in"):
            return self._in(prop)
        op = self.next().text
        if op not in COMPARISONS:
            raise self.syntax_error()
        return _compare(prop, op, self._literal(prop, _OPERATOR_KINDS[op]))

    def _function(self, name: str) -> Predicate:
        prop = self._property(self.next())
        self.expect(",")
        needle = self._literal(prop, name)
        self.expect(")")
        if prop.edm != "Edm.String" or not isinstance(needle, str):
            raise bad_request(f"The function '{name}' needs a string property and string.")
        func, field = STRING_FUNCTIONS[name], prop.name
        wanted = self.compared_flag()
        return Predicate(lambda row: func(row[field], needle) is wanted, frozenset([field]))

    def _in(self, prop: Property) -> Predicate:
        self.expect("(")
        values = {self._literal(prop, "In")}
        while self.accept(","):
            values.add(self._literal(prop, "In"))
        self.expect(")")
        field = prop.name
        return Predicate(lambda row: row[field] in values, frozenset([field]))

    def _property(self, token: Token) -> Property:
        if token.kind != "name":
            raise self.syntax_error()
        prop = self.entity.by_name.get(token.text)
        if prop is None:
            raise bad_request(
                f"Could not find a property named '{token.text}' on type 'NAV.{self.entity.name}'."
            )
        return prop

    def _literal(self, prop: Property, operator_kind: str) -> Any:
        token = self.next()
        if not is_literal(token):
            raise self.syntax_error()
        value = literal_value(token)
        kinds = _COMPATIBLE[prop.edm]
        valid = value is None or (
            isinstance(value, kinds)
            and not _bool_as_number(value, kinds)
            and _TEMPORAL_KINDS.get(prop.edm) == _TEMPORAL_KINDS.get(_edm_of(token))
        )
        if not valid:
            raise bad_request(
                "A binary operator with incompatible types was detected. Found operand types "
                f"'{prop.edm}' and '{_edm_of(token)}' for operator kind '{operator_kind}'."
            )
        return value


def _compare(prop: Property, op: str, value: Any) -> Predicate:
    field, func = prop.name, COMPARISONS[op]
    fields = frozenset([field])
    if value is None:
        # NAV fields are never null: "eq null" keeps nothing, "ne null" keeps everything.
        return Predicate(lambda row: op == "ne", fields)
    equalities = ((field, value),) if op == "eq" else ()
    return Predicate(lambda row: bool(func(row[field], value)), fields, equalities)


def _both(left: Predicate, right: Predicate) -> Predicate:
    lt, rt = left.test, right.test
    return Predicate(
        lambda row: lt(row) and rt(row),
        left.fields | right.fields,
        left.equalities + right.equalities,
    )


def _either(left: Predicate, right: Predicate, fields: frozenset[str]) -> Predicate:
    lt, rt = left.test, right.test
    return Predicate(lambda row: lt(row) or rt(row), fields)


def _bool_as_number(value: Any, kinds: tuple[type, ...]) -> bool:
    # bool is an int subclass in Python; OData keeps them apart.
    return isinstance(value, bool) and bool not in kinds


def _edm_of(token: Token) -> str:
    value = literal_value(token)
    if token.kind == "date":
        return "Edm.Date"
    if token.kind == "datetime":
        return "Edm.DateTimeOffset"
    if isinstance(value, bool):
        return "Edm.Boolean"
    if isinstance(value, int):
        return "Edm.Int32"
    if isinstance(value, float):
        return "Edm.Decimal"
    return "Edm.String"
