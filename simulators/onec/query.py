"""The system query options of 1C's OData v3 interface and their evaluation.

``$filter``, ``$select``, ``$orderby``, ``$top``, ``$skip``, ``$expand`` (references of the
addressed object), ``$inlinecount=allpages|none`` and ``$format=json``. 1C has no server-driven
paging: a collection comes whole unless the client cuts it with ``$top``/``$skip``. Parameters
without ``$`` (``allowedOnly=true``, ``PostingModeOperational``) are not query options.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from simulators.odata import (
    ListOptions,
    Schema,
    check_options,
    parse_expand,
    parse_non_negative,
    parse_orderby,
    parse_select,
    sort_rows,
)
from simulators.onec.errors import bad_option, unsupported_representation
from simulators.onec.filters import Predicate, fold, parse_filter
from simulators.onec.schema import EntityType
from simulators.onec.store import Table
from simulators.tables import candidates

Values = dict[str, Any]

_KNOWN_OPTIONS = frozenset(
    "$filter $select $orderby $top $skip $expand $inlinecount $format".split()
)
_JSON_FORMATS = ("json", "application/json")


@dataclass(frozen=True)
class QueryOptions(ListOptions[Predicate]):
    """The parsed options of one request; ``count`` is ``$inlinecount=allpages``."""


@dataclass(frozen=True)
class _Schema(Schema):
    """The shared option parsers' schema, complaining in 1C's language."""

    def unknown_property(self, name: str) -> Exception:
        """400, code 14, naming the property and the type."""
        return bad_option(f"не найдено свойство '{name}' типа '{self.type_name}'")


def parse_options(entity: EntityType, query: Mapping[str, str]) -> QueryOptions:
    """Parse the system query options of a request on ``entity``.

    Raises:
        OneCError: 400, code 14, for an unknown option or an invalid value; 400, code 3, for
            a representation other than JSON.
    """
    check_options(query, _KNOWN_OPTIONS, bad_option)
    check_format(query.get("$format"))
    schema = _Schema(entity.selectable, f"StandardODATA.{entity.name}", bad_option)
    orderby = parse_orderby(schema, query.get("$orderby"))
    if entity.section is not None and any(f == entity.section.name for f, _ in orderby):
        raise bad_option(f"упорядочивание по табличной части '{entity.section.name}'")
    text = query.get("$filter")
    return QueryOptions(
        filter=parse_filter(entity.by_name, text) if text else None,
        select=parse_select(schema, query.get("$select")),
        orderby=orderby,
        top=parse_non_negative("$top", query.get("$top"), bad_option),
        skip=parse_non_negative("$skip", query.get("$skip"), bad_option) or 0,
        count=_inlinecount(query.get("$inlinecount")),
        expand=parse_expand(schema, query.get("$expand"), entity.navigations.__contains__),
    )


def check_format(text: str | None) -> None:
    """Accept ``$format=json`` (the only representation the simulator writes).

    Raises:
        OneCError: 400, code 3, for ``atom``/``xml``: the real server has them, the
            simulator does not.
    """
    if text is None or text.split(";")[0].strip().lower() in _JSON_FORMATS:
        return
    raise unsupported_representation(text)


def run_query(
    entity: EntityType, rows: Table | Iterable[Values], options: QueryOptions
) -> tuple[list[Values], int]:
    """Filter, order and cut ``rows``; also how many rows matched before the cut."""
    matching = _filtered(rows, options.filter)
    sort_rows(matching, options.orderby, _sort_key(entity))
    end = None if options.top is None else options.skip + options.top
    return matching[options.skip : end], len(matching)


def _inlinecount(text: str | None) -> bool:
    if text is None or text == "none":
        return False
    if text == "allpages":
        return True
    raise bad_option(f"недопустимое значение $inlinecount '{text}' (allpages или none)")


def _filtered(rows: Table | Iterable[Values], predicate: Predicate | None) -> list[Values]:
    if predicate is None:
        return list(rows)
    # An index answers "НомерПоДаннымКлиента eq '…'" instead of a scan of every order.
    test = predicate.test
    return [row for row in candidates(rows, predicate.equalities) if test(row)]


def _sort_key(entity: EntityType) -> Callable[[str], Callable[[Values], Any]]:
    def key(field: str) -> Callable[[Values], Any]:
        edm = entity.by_name[field].edm
        return lambda row: fold(edm, row[field])

    return key
