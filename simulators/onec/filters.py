"""The ``$filter`` subset of 1C's OData v3 interface, compiled into a predicate over rows.

Grammar (precedence ``not`` > ``and`` > ``or``, parentheses group)::

    Property eq|ne|gt|ge|lt|le literal
    substringof('text', Property)   startswith(Property, 'text')   endswith(Property, 'text')
    (a function may be followed by ``eq true`` / ``eq false``)

A literal must have the property's type: ``guid'…'`` for a reference, ``datetime'…'`` for a
date, a quoted string, a number, ``true``/``false``. Like every 1C query, string comparisons
ignore case (1C's string columns use case-insensitive collations); ``eq null`` matches nothing,
since 1C values are never null.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from simulators.odata import COMPARISONS, BooleanParser
from simulators.odata_literals import is_literal, literal_value
from simulators.onec.errors import bad_option
from simulators.onec.literals import Token, accepts, literal_edm, tokenize
from simulators.onec.schema import Edm, Property

Row = Mapping[str, Any]
Test = Callable[[Row], bool]

_FUNCTIONS: dict[str, Callable[[str, str], bool]] = {
    "substringof": operator.contains,
    "startswith": str.startswith,
    "endswith": str.endswith,
}


@dataclass(frozen=True, slots=True)
class Predicate:
    """A compiled filter.

    Parameters:
        test: true for the rows the filter keeps.
        equalities: ``(property, folded value)`` pairs every kept row satisfies; lets the store
            answer ``НомерПоДаннымКлиента eq '…'`` from an index.
    """

    test: Test
    equalities: tuple[tuple[str, Any], ...] = ()


def fold(edm: Edm, value: Any) -> Any:
    """The value as 1C compares it: strings without case."""
    return value.casefold() if edm == "Edm.String" and isinstance(value, str) else value


def parse_filter(properties: Mapping[str, Property], text: str) -> Predicate:
    """Compile ``$filter`` text over rows with these properties.

    Raises:
        OneCError: 400, code 14, on a syntax error, an unknown property or a literal of the
            wrong type.
    """
    return _Parser(properties, text).parse()


class _Parser(BooleanParser[Token, Predicate]):
    def __init__(self, properties: Mapping[str, Property], text: str) -> None:
        super().__init__(text, tokenize(text, bad_option), bad_option)
        self.properties = properties

    def negate(self, inner: Predicate) -> Predicate:
        """``not inner``: promises no equalities."""
        test = inner.test
        return Predicate(lambda row: not test(row))

    def both(self, left: Predicate, right: Predicate) -> Predicate:
        """``left and right``: keeps the equalities of both sides for index look-ups."""
        lt, rt = left.test, right.test
        return Predicate(lambda row: lt(row) and rt(row), left.equalities + right.equalities)

    def either(self, left: Predicate, right: Predicate) -> Predicate:
        """``left or right`` (1C allows it across different properties)."""
        lt, rt = left.test, right.test
        return Predicate(lambda row: lt(row) or rt(row))

    def term(self) -> Predicate:
        """A comparison or a string function."""
        token = self.next()
        if token.text in _FUNCTIONS and self.accept("("):
            return self._function(token.text)
        prop = self._property(token)
        op = self.next().text
        if op not in COMPARISONS:
            raise self.syntax_error()
        return _compare(prop, op, self._literal(prop))

    def _function(self, name: str) -> Predicate:
        if name == "substringof":
            needle = self._string()
            self.expect(",")
            prop = self._property(self.next())
        else:
            prop = self._property(self.next())
            self.expect(",")
            needle = self._string()
        self.expect(")")
        if prop.edm != "Edm.String":
            raise bad_option(f"функция {name} применима только к строкам, '{prop.name}'")
        wanted = self.compared_flag()
        func, field, folded = _FUNCTIONS[name], prop.name, needle.casefold()
        return Predicate(lambda row: func(row[field].casefold(), folded) is wanted)

    def _string(self) -> str:
        token = self.next()
        if token.kind != "string":
            raise self.syntax_error()
        return str(token.value)

    def _property(self, token: Token) -> Property:
        if token.kind != "name":
            raise self.syntax_error()
        prop = self.properties.get(token.text)
        if prop is None:
            raise bad_option(f"не найдено свойство '{token.text}'")
        return prop

    def _literal(self, prop: Property) -> Any:
        token = self.next()
        if not is_literal(token):
            raise self.syntax_error()
        if not accepts(prop.edm, token):
            raise bad_option(
                f"несовместимые типы операндов '{prop.edm}' ({prop.name}) и '{literal_edm(token)}'"
            )
        return literal_value(token)


def _compare(prop: Property, op: str, value: Any) -> Predicate:
    if value is None:
        return Predicate(lambda row: op == "ne")
    field, edm, func = prop.name, prop.edm, COMPARISONS[op]
    wanted = fold(edm, value)
    equalities = ((field, wanted),) if op == "eq" else ()
    if edm == "Edm.String":
        return Predicate(lambda row: func(row[field].casefold(), wanted), equalities)
    return Predicate(lambda row: bool(func(row[field], wanted)), equalities)
