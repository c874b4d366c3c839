"""OData v4 URL literals and the tokenizer shared by key predicates, $filter and $skiptoken.

Values are kept as the plain Python types the store uses: ``str`` for Edm.String and
Edm.Date (ISO ``YYYY-MM-DD``, so dates compare correctly as strings), ``int``/``float`` for
numbers, ``bool`` and ``None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, cast

from simulators.navision.errors import bad_request
from simulators.odata import scan

TokenKind = Literal["string", "number", "date", "name", "punct"]

# Order matters: a date must be tried before a number, or "2024-01-01" would lex as 2024.
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^']|'')*')
    | (?P<date>\d{4}-\d{2}-\d{2}(?![\d.]))
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[mMdDfFlL]?)
    | (?P<name>[A-Za-z_$][A-Za-z0-9_.$]*)
    | (?P<punct>[(),=/])
    )""",
    re.VERBOSE,
)
_KEYWORDS: dict[str, Any] = {"true": True, "false": False, "null": None}


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token; ``value`` is the decoded literal for string/number/date tokens."""

    kind: TokenKind
    text: str
    value: Any


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens.

    Raises:
        NavError: (400 BadRequest) on a character that starts no token, e.g. an unclosed quote.
    """
    return [
        Token(cast(TokenKind, kind), raw, _decode(cast(TokenKind, kind), raw))
        for kind, raw in scan(text, _TOKEN, bad_request)
    ]


def _decode(kind: TokenKind, raw: str) -> Any:
    if kind == "string":
        return raw[1:-1].replace("''", "'")
    if kind == "number":
        digits = raw.rstrip("mMdDfFlL")
        number = float(digits)
        return int(number) if number.is_integer() and "e" not in digits.lower() else number
    if kind == "date":
        return raw
    return None


def is_literal(token: Token) -> bool:
    """Whether the token is a literal value (including ``true``/``false``/``null``)."""
    return token.kind in ("string", "number", "date") or (
        token.kind == "name" and token.text in _KEYWORDS
    )


def literal_value(token: Token) -> Any:
    """The Python value of a literal token."""
    if token.kind == "name":
        return _KEYWORDS[token.text]
    return token.value


def format_literal(value: Any) -> str:
    """Render ``value`` the way it appears in an OData URL (keys, $skiptoken)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def parse_literal_list(text: str) -> list[Any]:
    """Parse ``'Order','101001',10000`` (a $skiptoken) into values.

    Raises:
        NavError: (400 BadRequest) when the text is not a comma-separated list of literals.
    """
    tokens = tokenize(text)
    values = [literal_value(t) for t in tokens[0::2] if is_literal(t)]
    commas_ok = all(t.text == "," for t in tokens[1::2])
    if not tokens or len(values) != (len(tokens) + 1) // 2 or not commas_ok:
        raise bad_request(f"The skip token '{text}' is not valid.")
    return values
