"""OData query machinery shared by the NAV and Creatio (v4) and 1C (v3) simulators.

Each simulator keeps its own error type, schema, literal grammar and paging; this module gets
them passed in: an :data:`ErrorFactory` turns a message into the simulator's 400 error, and a
:class:`Schema` tells which property names exist.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

#: Builds a simulator's "400 Bad Request" error from a message.
ErrorFactory = Callable[[str], Exception]
#: ``(property, descending)`` clauses of ``$orderby``.
OrderBy = tuple[tuple[str, bool], ...]
T = TypeVar("T")
P = TypeVar("P")

#: The comparison operators of ``$filter``, the same in v3 and v4.
COMPARISONS: Mapping[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}
#: The string functions of v4 ``$filter`` as ``func(value, argument)``; v3 has ``substringof``.
STRING_FUNCTIONS: Mapping[str, Callable[[str, str], bool]] = {
    "contains": operator.contains,
    "startswith": str.startswith,
    "endswith": str.endswith,
}


@dataclass(frozen=True)
class Schema:
    """What the option parsers need to know about the entity a request addresses.

    Parameters:
        properties: the names ``$select`` and ``$orderby`` may use.
        type_name: the qualified type name error messages show, e.g. ``NAV.Customer``.
        error: builds the simulator's 400 error.
    """

    properties: Container[str]
    type_name: str
    error: ErrorFactory

    def unknown_property(self, name: str) -> Exception:
        """The error for a property the entity does not have."""
        return self.error(f"Could not find a property named '{name}' on type '{self.type_name}'.")


@dataclass(frozen=True)
class ListOptions(Generic[P]):
    """The query options both simulators parse; ``P`` is the simulator's compiled filter."""

    filter: P | None = None
    select: tuple[str, ...] | None = None
    orderby: OrderBy = ()
    top: int | None = None
    skip: int = 0
    count: bool = False
    expand: tuple[str, ...] = ()


def check_options(query: Mapping[str, str], known: Container[str], error: ErrorFactory) -> None:
    """Reject a ``$``-option the simulator does not support (plain parameters are ignored)."""
    for name in query:
        if name.startswith("$") and name not in known:
            raise error(f"The query parameter '{name}' is not supported.")


def property_names(schema: Schema, text: str) -> list[str]:
    """Split a comma-separated list of property names and check each one exists."""
    names = [part.strip() for part in text.split(",")]
    for name in names:
        if name not in schema.properties:
            raise schema.unknown_property(name)
    return names


def parse_select(schema: Schema, text: str | None) -> tuple[str, ...] | None:
    """``$select``: the chosen properties, or ``None`` for all of them."""
    if not text or text.strip() == "*":
        return None
    return tuple(property_names(schema, text))


def parse_orderby(schema: Schema, text: str | None) -> OrderBy:
    """``$orderby``: ``(property, descending)`` pairs, most significant first."""
    if not text:
        return ()
    clauses: list[tuple[str, bool]] = []
    for clause in text.split(","):
        name, _, direction = clause.strip().partition(" ")
        direction = direction.strip().lower()
        if direction not in ("", "asc", "desc"):
            raise schema.error(f"Syntax error in $orderby '{text}'.")
        clauses.append((property_names(schema, name)[0], direction == "desc"))
    return tuple(clauses)


def parse_expand(
    schema: Schema, text: str | None, expandable: Callable[[str], bool]
) -> tuple[str, ...]:
    """``$expand``: the navigation properties named, each accepted by ``expandable``."""
    if not text:
        return ()
    names = tuple(part.strip() for part in text.split(","))
    for name in names:
        if not expandable(name):
            raise schema.unknown_property(name)
    return names


def parse_non_negative(option: str, text: str | None, error: ErrorFactory) -> int | None:
    """``$top``/``$skip``: a non-negative integer, or ``None`` when absent."""
    if text is None:
        return None
    if not text.isdigit():
        raise error(
            f"Invalid value '{text}' for {option} query option found. "
            f"The {option} query option requires a non-negative integer value."
        )
    return int(text)


def parse_count(text: str | None, error: ErrorFactory) -> bool:
    """``$count``: ``true`` or ``false`` in any case; absent means false."""
    if text is None or text.lower() == "false":
        return False
    if text.lower() == "true":
        return True
    raise error(f"'{text}' is not a valid count option.")


def sort_rows(rows: list[T], orderby: OrderBy, key: Callable[[str], Callable[[T], Any]]) -> None:
    """Sort ``rows`` in place by ``orderby``; ``key(field)`` gives a row's sort key for a field."""
    # Stable sorts from the least to the most significant field give a mixed-direction order.
    for field, descending in reversed(orderby):
        rows.sort(key=key(field), reverse=descending)


def scan(text: str, pattern: re.Pattern[str], error: ErrorFactory) -> list[tuple[str, str]]:
    """Split ``text`` into ``(group name, matched text)`` tokens of ``pattern``.

    ``pattern`` must skip leading blanks itself and name one group per token kind.

    Raises:
        The ``error`` for a character that starts no token, e.g. an unclosed quote.
    """
    tokens: list[tuple[str, str]] = []
    pos = 0
    while text[pos:].strip():
        match = pattern.match(text, pos)
        if match is None or match.lastgroup is None:
            raise error(f"Syntax error at position {pos} in '{text}'.")
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        pos = match.end()
    return tokens


class HasText(Protocol):
    """A token: its ``text`` is what the parser matches keywords and punctuation against."""

    @property
    def text(self) -> str:
        """The token as written."""
        ...


TokenT = TypeVar("TokenT", bound=HasText)


class Cursor(Generic[TokenT]):
    """A position in a token list, the base of the recursive-descent ``$filter`` parsers."""

    def __init__(self, text: str, tokens: Sequence[TokenT], error: ErrorFactory) -> None:
        self.text = text
        self.tokens = tokens
        self.error = error
        self.pos = 0

    def next(self) -> TokenT:
        """Consume and return the next token; a syntax error at the end of the text."""
        if self.pos >= len(self.tokens):
            raise self.syntax_error()
        self.pos += 1
        return self.tokens[self.pos - 1]

    def accept(self, text: str) -> bool:
        """Consume the next token if it reads ``text``."""
        if self.pos < len(self.tokens) and self.tokens[self.pos].text == text:
            self.pos += 1
            return True
        return False

    def expect(self, text: str) -> None:
        """Consume a token reading ``text`` or fail with a syntax error."""
        if not self.accept(text):
            raise self.syntax_error()

    def at_end(self) -> bool:
        """Whether every token has been consumed."""
        return self.pos == len(self.tokens)

    def syntax_error(self) -> Exception:
        """The error for an unexpected token at the current position."""
        return self.error(f"Syntax error at position {self.pos} in '{self.text}'.")


class BooleanParser(Cursor[TokenT], Generic[TokenT, P]):
    """The ``not`` > ``and`` > ``or`` skeleton of ``$filter``, with parentheses grouping.

    A simulator supplies its terms and how predicates combine; NAV's :meth:`either` refuses an
    ``or`` across fields, Creatio's allows it.
    """

    def parse(self) -> P:
        """The predicate of the whole text; a syntax error if tokens are left over."""
        predicate = self._or()
        if not self.at_end():
            raise self.syntax_error()
        return predicate

    def term(self) -> P:
        """Parse one comparison or function call."""
        raise NotImplementedError

    def negate(self, inner: P) -> P:
        """``not inner``."""
        raise NotImplementedError

    def both(self, left: P, right: P) -> P:
        """``left and right``."""
        raise NotImplementedError

    def either(self, left: P, right: P) -> P:
        """``left or right``."""
        raise NotImplementedError

    def compared_flag(self) -> bool:
        """After a string function: ``true`` unless ``eq false`` follows (``eq true`` may)."""
        if not self.accept("eq"):
            return True
        flag = self.next()
        if flag.text not in ("true", "false"):
            raise self.syntax_error()
        return flag.text == "true"

    def _or(self) -> P:
        left = self._and()
        while self.accept("or"):
            left = self.either(left, self._and())
        return left

    def _and(self) -> P:
        left = self._unary()
        while self.accept("and"):
            left = self.both(left, self._unary())
        return left

    def _unary(self) -> P:
        if self.accept("not"):
            return self.negate(self._unary())
        if self.accept("("):
            inner = self._or()
            self.expect(")")
            return inner
        return self.term()
