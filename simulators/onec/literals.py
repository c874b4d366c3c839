"""OData v3 URL literals as 1C reads them, and the tokenizer of key predicates and ``$filter``.

The shared tokenizer (:mod:`simulators.odata_literals`) takes the token pattern from its
caller, so the v3 forms live here: ``guid'…'``, ``datetime'2026-11-22T10:00:00'``, ``'text'``
(``''`` escapes a quote), numbers with an optional type suffix (``5``, ``95.5``, ``10M``),
``true``/``false``/``null``, and names in any script (``Контрагент_Key``). Values are kept as
the store keeps them: a GUID as its lowercase canonical text, a date as ``YYYY-MM-DDTHH:MM:SS``.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Literal

from simulators import odata_literals
from simulators.odata import ErrorFactory
from simulators.odata_literals import literal_value, parse_number, quote, unquote
from simulators.onec.schema import Edm

TokenKind = Literal["guid", "datetime", "string", "number", "name", "punct"]

# Typed literals come first: "guid" and "datetime" would otherwise lex as names.
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<guid>guid'[^']*')
    | (?P<datetime>datetime'[^']*')
    | (?P<string>'(?:[^']|'')*')
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[mMdDfFlL]?)
    | (?P<name>[^\W\d]\w*)
    | (?P<punct>[(),=/])
    )""",
    re.VERBOSE,
)
#: A token of a key predicate or ``$filter``.
Token = odata_literals.Token[TokenKind]


def tokenize(text: str, error: ErrorFactory) -> list[Token]:
    """Split ``text`` into tokens.

    Raises:
        The ``error`` for a character that starts no token or a malformed typed literal.
    """
    return odata_literals.tokenize(text, _TOKEN, error, lambda kind, raw: _decode(kind, raw, error))


def _decode(kind: TokenKind, raw: str, error: ErrorFactory) -> Any:
    if kind == "guid":
        return parse_guid(raw[5:-1], error)
    if kind == "datetime":
        return parse_datetime(raw[9:-1], error)
    if kind == "string":
        return unquote(raw)
    if kind == "number":
        return parse_number(raw)
    return None


def parse_guid(text: str, error: ErrorFactory) -> str:
    """The canonical lowercase text of a GUID.

    Raises:
        The ``error`` when ``text`` is not a GUID.
    """
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise error(f"Неверное значение типа Edm.Guid: '{text}'") from None


def parse_datetime(text: str, error: ErrorFactory) -> str:
    """A v3 ``Edm.DateTime`` (no offset) as ``YYYY-MM-DDTHH:MM:SS``; a bare date means midnight.

    Raises:
        The ``error`` for another shape or a value with a UTC offset (that is
        ``Edm.DateTimeOffset``, which 1C does not use for its dates).
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is not None:
        raise error(f"Неверное значение типа Edm.DateTime: '{text}'")
    return format_datetime(moment)


def format_datetime(moment: datetime) -> str:
    """A date as 1C sends it: ``2026-11-22T10:00:00``, seconds precision, no offset."""
    return moment.replace(microsecond=0, tzinfo=None).isoformat()


def literal_edm(token: Token) -> str:
    """The type a literal token denotes, as 1C names it in messages."""
    value = literal_value(token)
    if token.kind == "guid":
        return "Edm.Guid"
    if token.kind == "datetime":
        return "Edm.DateTime"
    if isinstance(value, bool):
        return "Edm.Boolean"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return "Edm.Double"
    return "Edm.String"


def accepts(edm: Edm, token: Token) -> bool:
    """Whether a property of type ``edm`` can be compared with the literal ``token``."""
    value = literal_value(token)
    if value is None:
        return True
    if edm in ("Edm.Double", "Edm.Int64"):
        return token.kind == "number"
    if edm == "Edm.Boolean":
        return isinstance(value, bool)
    kinds = {"Edm.Guid": "guid", "Edm.DateTime": "datetime", "Edm.String": "string"}
    return token.kind == kinds[edm]


def format_literal(edm: Edm, value: Any) -> str:
    """Render ``value`` as it appears in a key predicate (navigation links, keys)."""
    if edm == "Edm.Guid":
        return f"guid'{value}'"
    if edm == "Edm.DateTime":
        return f"datetime'{value}'"
    if edm == "Edm.Boolean":
        return "true" if value else "false"
    if edm in ("Edm.Double", "Edm.Int64"):
        return str(value)
    return quote(str(value))
