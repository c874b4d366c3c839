"""OData v4 URL literals and the tokenizer shared by key predicates, $filter and $skiptoken.

Values are kept as the plain Python types the store uses: ``str`` for Edm.String, Edm.Date
(ISO ``YYYY-MM-DD``) and Edm.DateTimeOffset (UTC, whole seconds: ``YYYY-MM-DDTHH:MM:SSZ``), so
dates and moments compare correctly as strings; ``int``/``float`` for numbers, ``bool`` and
``None``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

from simulators import odata_literals
from simulators.navision.errors import bad_request
from simulators.odata_literals import is_literal, literal_value, parse_number, quote, unquote

TokenKind = Literal["string", "number", "datetime", "date", "name", "punct"]

# Order matters: a moment before a date before a number, or "2024-01-01" would lex as 2024.
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^']|'')*')
    | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2}(?![\d.]))
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[mMdDfFlL]?)
    | (?P<name>[A-Za-z_$][A-Za-z0-9_.$]*)
    | (?P<punct>[(),=/])
    )""",
    re.VERBOSE,
)
#: A token of a key predicate, ``$filter`` or ``$skiptoken``.
Token = odata_literals.Token[TokenKind]


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens.

    Raises:
        NavError: (400 BadRequest) on a character that starts no token, e.g. an unclosed quote.
    """
    return odata_literals.tokenize(text, _TOKEN, bad_request, _decode)


def _decode(kind: TokenKind, raw: str) -> Any:
    if kind == "string":
        return unquote(raw)
    if kind == "number":
        return parse_number(raw)
    if kind == "date":
        return raw
    if kind == "datetime":
        moment = parse_datetime(raw)
        if moment is None:
            raise bad_request(f"The DateTimeOffset literal '{raw}' is not valid.")
        return moment
    return None


def format_datetime(moment: datetime) -> str:
    """An Edm.DateTimeOffset value as the store keeps and NAV writes it (UTC, ``...Z``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(text: str) -> str | None:
    """An ISO date-time with an offset, normalised by :func:`format_datetime`; else ``None``."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None  # a DateTimeOffset states its offset; a bare local time is ambiguous
    return format_datetime(moment)


def format_literal(value: Any) -> str:
    """Render ``value`` the way it appears in an OData URL (keys, $skiptoken)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return quote(str(value))


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
