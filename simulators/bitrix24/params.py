"""Call parameters from a query string, a JSON body or a form body, as one dict.

Bitrix24 (PHP) reads nested form keys with brackets: ``fields[TITLE]=x&select[]=ID&
rows[0][PRICE]=5``. The same call may come as JSON, so both are turned into the same
nested dicts and lists. Parameter names are case-insensitive, so top-level keys are
lowercased, and field names (inside ``fields``, ``filter``, ``order``, ``select``) uppercased.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

Params = dict[str, Any]

_SEGMENT = re.compile(r"\[([^\]]*)\]")
#: Top-level parameters whose keys (or items) name entity fields.
_FIELD_KEYED = ("fields", "filter", "order")


class ParamsError(ValueError):
    """A body that cannot be read as parameters."""


def parse_php_pairs(pairs: list[tuple[str, str]]) -> Params:
    """Build nested parameters from flat ``name[a][b]=value`` pairs, as PHP does."""
    root: dict[str, Any] = {}
    for name, value in pairs:
        head, _, rest = name.partition("[")
        path = [head] + _SEGMENT.findall("[" + rest) if rest else [head]
        _assign(root, path, value)
    return {key: _listify(value) for key, value in root.items()}


def parse_query_string(query: str) -> Params:
    """Parse a ``a=1&b[c]=2`` string (a batch command's params, for example)."""
    return parse_php_pairs(parse_qsl(query, keep_blank_values=True))


def _assign(node: dict[str, Any], path: list[str], value: str) -> None:
    for depth, segment in enumerate(path):
        last = depth == len(path) - 1
        if segment == "":
            # "x[]" appends: PHP gives it the next integer key.
            segment = str(sum(1 for key in node if key.isdigit()))
        if last:
            node[segment] = value
            return
        child = node.get(segment)
        if not isinstance(child, dict):
            child = node[segment] = {}
        node = child


def _listify(value: Any) -> Any:
    # PHP arrays keyed 0..n-1 are what JSON calls lists; make both encodings look alike.
    if not isinstance(value, dict):
        return value
    items = {key: _listify(item) for key, item in value.items()}
    if items and list(items) == [str(n) for n in range(len(items))]:
        return list(items.values())
    return items


def normalise(params: Params) -> Params:
    """Lowercase the parameter names and uppercase the field names inside them."""
    result: Params = {}
    for key, value in params.items():
        name = key.lower()
        if name in _FIELD_KEYED and isinstance(value, dict):
            value = {str(field).upper(): item for field, item in value.items()}
        elif name == "select" and isinstance(value, list):
            value = [str(item).upper() for item in value]
        result[name] = value
    return result


async def read_params(request: web.Request) -> Params:
    """The call's parameters: the query string, overlaid by a JSON or form body.

    Raises:
        ParamsError: for a JSON body that does not parse or is not an object.
    """
    params = parse_php_pairs(list(request.query.items()))
    raw = await request.read()
    if raw:
        params.update(_body_params(request.content_type, raw))
    return normalise(params)


def _body_params(content_type: str, raw: bytes) -> Params:
    text = raw.decode("utf-8", errors="replace")
    if content_type == "application/json":
        try:
            body = json.loads(text)
        except ValueError as exc:
            raise ParamsError(f"Invalid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ParamsError("The JSON body must be an object")
        return body
    # Form bodies (and clients that omit the content type) use PHP brackets.
    return parse_query_string(text)
