"""``crm.*.list``: ``filter`` with prefix operators, ``select``, ``order`` and 50-row pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cmp_to_key
from typing import Any

from simulators.bitrix24.envelope import Outcome
from simulators.bitrix24.errors import B24Error

#: Bitrix24's page size; clients cannot change it.
PAGE_SIZE = 50
#: Longest first, so ">=" is not read as ">" with a value starting with "=".
_OPERATORS = ("!@", ">=", "<=", "!=", "=%", "%=", ">", "<", "=", "!", "@", "%")

Row = dict[str, Any]
Predicate = Callable[[Any, Any], bool]


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _compare(left: Any, right: Any) -> int:
    """-1/0/1, numerically when both sides are numbers (values are strings on the wire)."""
    a, b = _as_number(left), _as_number(right)
    if a is not None and b is not None:
        return (a > b) - (a < b)
    x, y = str(left or ""), str(right or "")
    return (x > y) - (x < y)


def _values(wanted: Any) -> list[Any]:
    return wanted if isinstance(wanted, list) else [wanted]


def _equal(actual: Any, wanted: Any) -> bool:
    # An array value means IN, for "=" as for no prefix.
    return any(_compare(actual, item) == 0 for item in _values(wanted))


def _like(actual: Any, pattern: Any) -> bool:
    regex = ".*".join(re.escape(part) for part in str(pattern).split("%"))
    return re.fullmatch(regex, str(actual or ""), re.IGNORECASE | re.DOTALL) is not None


_PREDICATES: dict[str, Predicate] = {
    "": _equal,
    "=": _equal,
    "!": lambda a, w: not _equal(a, w),
    "!=": lambda a, w: not _equal(a, w),
    "@": _equal,
    "!@": lambda a, w: not _equal(a, w),
    ">": lambda a, w: _compare(a, w) > 0,
    ">=": lambda a, w: _compare(a, w) >= 0,
    "<": lambda a, w: _compare(a, w) < 0,
    "<=": lambda a, w: _compare(a, w) <= 0,
    "%": lambda a, w: str(w).lower() in str(a or "").lower(),
    "=%": _like,
    "%=": _like,
}


def split_operator(key: str) -> tuple[str, str]:
    """``">=ID"`` -> ``(">=", "ID")``; no prefix means equality."""
    for operator in _OPERATORS:
        if key.startswith(operator):
            return operator, key[len(operator) :]
    return "", key


def matches(row: Row, conditions: dict[str, Any]) -> bool:
    """Whether a rendered record satisfies every filter condition."""
    for key, wanted in conditions.items():
        operator, field = split_operator(key)
        if not _PREDICATES[operator](row.get(field), wanted):
            return False
    return True


def select(row: Row, fields: list[str]) -> Row:
    """The selected fields: ``*`` is every standard field, ``UF_*`` every user field."""
    if not fields:
        return row
    names = {"ID"}
    for name in fields:
        if name == "*":
            names.update(key for key in row if not key.startswith("UF_"))
        elif name == "UF_*":
            names.update(key for key in row if key.startswith("UF_"))
        else:
            names.add(name)
    return {key: value for key, value in row.items() if key in names}


def _sort(rows: list[Row], order: dict[str, Any]) -> list[Row]:
    # Stable sorts applied from the least significant key give a multi-key order.
    result = sorted(rows, key=lambda row: _as_number(row.get("ID")) or 0)
    for field, direction in reversed(list(order.items())):
        descending = str(direction).upper() == "DESC"
        result = _stable_sort(result, field, descending)
    return result


def _stable_sort(rows: list[Row], field: str, descending: bool) -> list[Row]:
    def cmp(a: Row, b: Row) -> int:
        return _compare(a.get(field), b.get(field))

    return sorted(rows, key=cmp_to_key(cmp), reverse=descending)


def _start(value: Any) -> int:
    number = _as_number(value if value not in (None, "") else 0)
    if number is None:
        raise B24Error(400, "", "Failed to get list. General error.")
    return int(number)


def list_rows(rows: list[Row], params: dict[str, Any]) -> Outcome:
    """Filter, order, page and select ``rows`` as a list method does."""
    conditions = params.get("filter") or {}
    order = params.get("order") or {}
    fields = params.get("select") or []
    if not isinstance(conditions, dict) or not isinstance(order, dict):
        raise B24Error(400, "", "Failed to get list. General error.")
    if not isinstance(fields, list):
        fields = [str(fields).upper()]
    found = _sort([row for row in rows if matches(row, conditions)], order)
    start = _start(params.get("start"))
    if start < 0:
        # start=-1: the count is skipped, for fast paging by ID.
        return Outcome([select(row, fields) for row in found[:PAGE_SIZE]], total=0)
    page = [select(row, fields) for row in found[start : start + PAGE_SIZE]]
    more = start + PAGE_SIZE < len(found)
    return Outcome(page, total=len(found), next=start + PAGE_SIZE if more else None)
