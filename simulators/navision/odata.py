"""OData system query options and NAV's server-driven paging.

Rows are ordered by ``$orderby`` and then by primary key (NAV's natural order). A page holds at
most the server's page size; the ``$skiptoken`` of the next page lists the sort values of the
last row sent, so paging stays correct when rows are inserted or deleted between pages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from yarl import URL

from simulators.navision.errors import bad_request
from simulators.navision.filters import Predicate, parse_filter
from simulators.navision.literals import format_literal, parse_literal_list
from simulators.navision.schema import EntityType
from simulators.navision.store import Record, Table
from simulators.odata import (
    ListOptions,
    Schema,
    check_options,
    parse_count,
    parse_expand,
    parse_non_negative,
    parse_orderby,
    parse_select,
    sort_rows,
)
from simulators.tables import candidates

# NAV ignores $format/$schemaversion beyond JSON; anything else starting with "$" is an error.
_KNOWN_OPTIONS = frozenset(
    "$filter $select $orderby $top $skip $count $skiptoken $expand $format $schemaversion".split()
)
_QUERY_SAFE = "$'(),:/*"


@dataclass(frozen=True)
class QueryOptions(ListOptions[Predicate]):
    """The parsed query options of one request, with NAV's ``$skiptoken``."""

    skiptoken: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class Page:
    """One response's worth of rows.

    Parameters:
        records: the rows to send.
        total: how many rows match the filter (for ``$count``).
        skiptoken: the token of the next page, or ``None`` on the last page.
        remaining_top: what is left of ``$top`` after this page.
    """

    records: list[Record]
    total: int
    skiptoken: str | None
    remaining_top: int | None


def parse_options(entity: EntityType, query: Mapping[str, str]) -> QueryOptions:
    """Parse the system query options of a request on ``entity``.

    Raises:
        NavError: 400 ``BadRequest`` on an unknown option or an invalid value.
    """
    check_options(query, _KNOWN_OPTIONS, bad_request)
    schema = _schema(entity)
    text = query.get("$filter")
    token = query.get("$skiptoken")
    return QueryOptions(
        filter=parse_filter(entity, text) if text else None,
        select=parse_select(schema, query.get("$select")),
        orderby=parse_orderby(schema, query.get("$orderby")),
        top=parse_non_negative("$top", query.get("$top"), bad_request),
        skip=parse_non_negative("$skip", query.get("$skip"), bad_request) or 0,
        count=parse_count(query.get("$count"), bad_request),
        skiptoken=tuple(parse_literal_list(token)) if token else None,
        expand=parse_expand(schema, query.get("$expand"), lambda name: name == entity.containment),
    )


def run_query(
    entity: EntityType, rows: Table | Iterable[Record], options: QueryOptions, page_size: int
) -> Page:
    """Filter, order and cut one page out of ``rows``."""
    matching = _filtered(rows, options.filter)
    fields = [*(f for f, _ in options.orderby), *entity.key]
    descending = [*(d for _, d in options.orderby), *(False for _ in entity.key)]
    sort_rows(matching, tuple(zip(fields, descending, strict=True)), _value_of)
    start = _start(matching, fields, descending, options)
    limit = page_size if options.top is None else min(page_size, options.top)
    page = matching[start : start + limit]
    more = start + limit < len(matching) and (options.top is None or options.top > limit)
    skiptoken = None
    if more and page:
        last = page[-1].values
        skiptoken = ",".join(format_literal(last[f]) for f in fields)
    return Page(
        records=page,
        total=len(matching),
        skiptoken=skiptoken,
        remaining_top=None if options.top is None else options.top - len(page),
    )


def next_link(url: URL, skiptoken: str, remaining_top: int | None) -> str:
    """The absolute ``@odata.nextLink``: the same request with a ``$skiptoken``."""
    params = [(k, v) for k, v in url.query.items() if k not in ("$skiptoken", "$skip", "$top")]
    if remaining_top is not None:
        params.append(("$top", str(remaining_top)))
    params.append(("$skiptoken", skiptoken))
    query = "&".join(f"{quote(k, safe='$')}={quote(v, safe=_QUERY_SAFE)}" for k, v in params)
    return f"{url.with_query(None)}?{query}"


def _filtered(rows: Table | Iterable[Record], predicate: Predicate | None) -> list[Record]:
    if predicate is None:
        return list(rows)
    # An index answers "Field eq value" instead of a scan of every row.
    test = predicate.test
    return [r for r in candidates(rows, predicate.equalities) if test(r.values)]


def _value_of(field: str) -> Callable[[Record], Any]:
    return lambda record: record.values[field]


def _start(
    records: list[Record], fields: list[str], descending: list[bool], options: QueryOptions
) -> int:
    token = options.skiptoken
    if token is None:
        return options.skip
    if len(token) != len(fields):
        raise bad_request("The skip token does not match the request.")
    try:
        for index, record in enumerate(records):
            if _compare([record.values[f] for f in fields], token, descending) > 0:
                return index
    except TypeError:
        raise bad_request("The skip token does not match the request.") from None
    return len(records)


def _compare(values: list[Any], token: tuple[Any, ...], descending: list[bool]) -> int:
    for value, bound, desc in zip(values, token, descending, strict=True):
        if value != bound:
            result = 1 if value > bound else -1
            return -result if desc else result
    return 0


def _schema(entity: EntityType) -> Schema:
    return Schema(entity.by_name, f"NAV.{entity.name}", bad_request)
