"""OData system query options on a list: ``$filter $select $orderby $top $skip $count $expand``.

Paging is the client's job (``$top``/``$skip``); a result of more than :data:`MAX_ROWS` rows
without ``$top`` fails with 500, as observed on a real Creatio.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from simulators.creatio.entities import EntitySet, to_json
from simulators.creatio.errors import CreatioError, bad_request
from simulators.creatio.filters import Predicate, parse_filter
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

Row = dict[str, Any]
#: The most rows one response may hold.
MAX_ROWS = 20_000
_KNOWN = frozenset("$filter $select $orderby $top $skip $count $expand $format".split())


@dataclass(frozen=True)
class QueryOptions(ListOptions[Predicate]):
    """The parsed query options of one request (Creatio has no server-driven paging)."""


def parse_options(entity: EntitySet, query: Mapping[str, str]) -> QueryOptions:
    """Parse and validate the query options for ``entity``.

    Raises:
        CreatioError: 400 for an unknown option, column or malformed value.
    """
    check_options(query, _KNOWN, bad_request)
    schema = _schema(entity)
    text = query.get("$filter")
    return QueryOptions(
        filter=parse_filter(entity, text) if text else None,
        select=parse_select(schema, query.get("$select")),
        orderby=parse_orderby(schema, query.get("$orderby")),
        top=parse_non_negative("$top", query.get("$top"), bad_request),
        skip=parse_non_negative("$skip", query.get("$skip"), bad_request) or 0,
        count=parse_count(query.get("$count"), bad_request),
        expand=parse_expand(
            schema, query.get("$expand"), lambda name: f"{name}Id" in entity.lookups
        ),
    )


def apply(rows: list[Row], options: QueryOptions) -> tuple[list[Row], int]:
    """The rows of the page and how many matched the filter in all."""
    keep = options.filter
    matched = [row for row in rows if keep(row)] if keep else list(rows)
    sort_rows(matched, options.orderby, _nulls_first)
    page = matched[options.skip :]
    if options.top is not None:
        page = page[: options.top]
    elif len(page) > MAX_ROWS:
        raise CreatioError(
            500, f"The query returned more than {MAX_ROWS} rows.", "System.Exception"
        )
    return page, len(matched)


def _nulls_first(column: str) -> Callable[[Row], tuple[bool, Any]]:
    # None sorts first ascending, like SQL Server's NULLs.
    return lambda row: (row[column] is not None, row[column])


def render(
    entity: EntitySet, row: Row, select: tuple[str, ...] | None, ieee754: bool
) -> dict[str, Any]:
    """A row as a response shows it."""
    columns = select if select is not None else tuple(entity.columns)
    return {column: to_json(entity.columns[column], row[column], ieee754) for column in columns}


def context_suffix(entity: EntitySet, select: tuple[str, ...] | None) -> str:
    """``Account`` or ``Account(Id,Name)`` for ``@odata.context``."""
    return entity.name + (f"({','.join(select)})" if select is not None else "")


def _schema(entity: EntitySet) -> Schema:
    return Schema(entity.columns, entity.type_name, bad_request)
