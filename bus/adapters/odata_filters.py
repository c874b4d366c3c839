"""OData ``$filter`` text for "any of these values", cut to fit in a URL.

An ERP read for many codes at once is one request with ``Field eq 'a' or Field eq 'b' …``. A
URL has a limit of its own (IIS, which publishes NAV and often 1C, refuses a query string over
2,048 bytes by default; Apache's request line stops at 8,190), so the clauses are grouped into as
few filters as fit under :data:`MAX_FILTER` bytes once percent-encoded, each a request of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from urllib.parse import quote

#: Percent-encoded bytes one filter may take, leaving room for the path and the other options
#: under IIS's default ``maxQueryString`` of 2,048.
MAX_FILTER = 1500

_OR = " or "


def string_literal(value: str) -> str:
    """``value`` as an OData string literal: in single quotes, each quote doubled."""
    return "'" + value.replace("'", "''") + "'"


def key_segment(value: str) -> str:
    """``value`` as an OData string key in a URL path (``Customer('…')``): a literal, then
    percent-encoded, so that a ``#``, ``?``, ``/``, space or control character in it stays part of
    the key instead of ending the path or starting the query."""
    return quote(string_literal(value), safe="'")


def any_of(
    field: str,
    values: Iterable[str],
    literal: Callable[[str], str] = string_literal,
    limit: int = MAX_FILTER,
) -> list[str]:
    """``field eq <value> or …`` over ``values``, as few filters as fit ``limit`` each.

    A value whose one clause is longer than ``limit`` still gets a filter of its own: the ERP
    then says whether it takes it.
    """
    filters: list[str] = []
    current: list[str] = []
    size = 0
    for value in dict.fromkeys(values):
        clause = f"{field} eq {literal(value)}"
        added = _encoded(clause) + (_encoded(_OR) if current else 0)
        if current and size + added > limit:
            filters.append(_OR.join(current))
            current, size = [], 0
            added = _encoded(clause)
        current.append(clause)
        size += added
    if current:
        filters.append(_OR.join(current))
    return filters


def _encoded(text: str) -> int:
    return len(quote(text, safe=""))
