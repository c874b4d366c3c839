"""The literal forms OData v3 (1C) and v4 (NAV, Creatio) write alike, and a token type.

Each simulator keeps its own token pattern and typed literals (v4 has bare dates, v3 has
``guid'…'`` and ``datetime'…'``, Creatio reads numbers as ``Decimal``); quoted strings, numbers
with a type suffix and the keywords ``true``/``false``/``null`` read the same everywhere, and
are decoded here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from simulators.odata import ErrorFactory, scan

#: The keywords that are literals; the tokenizer sees them as names.
KEYWORDS: Mapping[str, Any] = {"true": True, "false": False, "null": None}
# The type suffixes of a number literal (10M, 2.5d…): the value does not depend on them.
_NUMBER_SUFFIXES = "mMdDfFlL"

KindT = TypeVar("KindT", bound=str)


@dataclass(frozen=True, slots=True)
class Token(Generic[KindT]):
    """One lexical token of a key predicate or ``$filter``.

    ``kind`` is the name of the token pattern's group; ``"name"`` and ``"punct"`` are the only
    kinds that are not literals. ``value`` is the decoded literal of a literal token.
    """

    kind: KindT
    text: str
    value: Any


def tokenize(
    text: str, pattern: re.Pattern[str], error: ErrorFactory, decode: Callable[[KindT, str], Any]
) -> list[Token[KindT]]:
    """Split ``text`` into the tokens of ``pattern`` (see :func:`simulators.odata.scan`).

    ``decode(kind, raw)`` gives a token's value; the pattern's group names must be the kinds.
    """
    tokens = []
    for kind, raw in scan(text, pattern, error):
        token_kind = cast(KindT, kind)
        tokens.append(Token(token_kind, raw, decode(token_kind, raw)))
    return tokens


def unquote(raw: str) -> str:
    """The text of a quoted string literal: ``'it''s'`` is ``it's``."""
    return raw[1:-1].replace("''", "'")


def quote(text: str) -> str:
    """``text`` as a string literal, its quotes doubled."""
    return "'" + text.replace("'", "''") + "'"


def parse_number(raw: str) -> int | float:
    """A number literal: an ``int`` when it is whole and has no exponent, else a ``float``."""
    digits = raw.rstrip(_NUMBER_SUFFIXES)
    number = float(digits)
    return int(number) if number.is_integer() and "e" not in digits.lower() else number


def is_literal(token: Token[Any]) -> bool:
    """Whether the token is a literal (including ``true``/``false``/``null``)."""
    return token.kind not in ("name", "punct") or (token.kind == "name" and token.text in KEYWORDS)


def literal_value(token: Token[Any]) -> Any:
    """The Python value of a literal token."""
    return KEYWORDS[token.text] if token.kind == "name" else token.value
