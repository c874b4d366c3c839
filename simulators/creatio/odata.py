"""One OData 4 operation on an entity set, independent of HTTP so ``$batch`` can reuse it."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from simulators.creatio.entities import EntitySet, parse_guid
from simulators.creatio.errors import CreatioError, bad_request
from simulators.creatio.query import apply, context_suffix, parse_options, render
from simulators.creatio.store import Row, Store

_RESOURCE = re.compile(r"^(?P<set>[A-Za-z_][A-Za-z0-9_]*)(?:\((?P<key>[^)]*)\))?/?$")


@dataclass(frozen=True)
class Call:
    """One OData request.

    Parameters:
        method: the HTTP method.
        resource: the path after the service root, e.g. ``Account`` or ``Account(<guid>)``.
        query: the query options.
        body: the raw request body.
        ieee754: whether Decimal/Int64 values go out as strings.
        root: the service root the client used, e.g. ``http://host/0/odata``.
    """

    method: str
    resource: str
    query: Mapping[str, str]
    body: bytes
    ieee754: bool
    root: str


@dataclass
class Reply:
    """The outcome of a :class:`Call`: status, JSON body (``None`` for none) and headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def json_content_type(ieee754: bool | None = None) -> str:
    """The Content-Type of a JSON answer, with the ``IEEE754Compatible`` flag when given."""
    base = "application/json; odata.metadata=minimal; odata.streaming=true"
    if ieee754 is None:
        return base
    return f"{base}; IEEE754Compatible={'true' if ieee754 else 'false'}"


def wants_ieee754(*header_values: str | None) -> bool:
    """Whether a Content-Type or Accept value carries ``IEEE754Compatible=true``."""
    return any(v and "ieee754compatible=true" in v.replace(" ", "").lower() for v in header_values)


def execute(store: Store, call: Call) -> Reply:
    """Run ``call`` against ``store``; refusals come back as error replies, never raised."""
    try:
        return _dispatch(store, call)
    except CreatioError as error:
        return Reply(error.status, error.body())


def _dispatch(store: Store, call: Call) -> Reply:
    match = _RESOURCE.match(call.resource)
    if match is None:
        raise bad_request(f"The resource path '{call.resource}' is not valid.")
    entity = store.entity(match["set"])
    key_text = match["key"]
    if key_text is None:
        if call.method == "GET":
            return _list(store, entity, call)
        if call.method == "POST":
            return _create(store, entity, call)
    else:
        key = _key(key_text)
        if call.method == "GET":
            return _get(store, entity, key, call)
        if call.method == "PATCH":
            store.update(entity.name, key, _body(call))
            return Reply(204)
        if call.method == "DELETE":
            store.delete(entity.name, key)
            return Reply(204)
    raise CreatioError(405, f"The requested resource does not support http method '{call.method}'.")


def _key(text: str) -> str:
    # Creatio keys are GUIDs without quotes; "Id=<guid>" is the named-key form.
    text = text.removeprefix("Id=")
    key = parse_guid(text) if re.fullmatch(r"[0-9a-fA-F-]{36}", text) else None
    if key is None:
        raise bad_request(f"The key value '{text}' is not a valid Guid.")
    return key


def _body(call: Call) -> dict[str, Any]:
    try:
        body = json.loads(call.body or b"null")
    except ValueError:
        raise bad_request("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    body.pop("@odata.context", None)
    return body


def _list(store: Store, entity: EntitySet, call: Call) -> Reply:
    options = parse_options(entity, call.query)
    page, total = apply(store.rows(entity.name), options)
    body: dict[str, Any] = {
        "@odata.context": f"{call.root}/$metadata#{context_suffix(entity, options.select)}"
    }
    if options.count:
        body["@odata.count"] = total
    body["value"] = [
        _entity_json(store, entity, row, call, options.select, options.expand) for row in page
    ]
    return Reply(200, body)


def _get(store: Store, entity: EntitySet, key: str, call: Call) -> Reply:
    options = parse_options(entity, call.query)
    row = store.get(entity.name, key)
    context = f"{call.root}/$metadata#{context_suffix(entity, options.select)}/$entity"
    body = _entity_json(store, entity, row, call, options.select, options.expand)
    return Reply(200, {"@odata.context": context, **body})


def _create(store: Store, entity: EntitySet, call: Call) -> Reply:
    row = store.create(entity.name, _body(call))
    body = {
        "@odata.context": f"{call.root}/$metadata#{entity.name}/$entity",
        **render(entity, row, None, call.ieee754),
    }
    return Reply(201, body, {"Location": f"{call.root}/{entity.name}({row['Id']})"})


def _entity_json(
    store: Store,
    entity: EntitySet,
    row: Row,
    call: Call,
    select: tuple[str, ...] | None,
    expand: tuple[str, ...],
) -> dict[str, Any]:
    body = render(entity, row, select, call.ieee754)
    for name in expand:
        # A lookup's navigation property: the row it points to, or null when unset.
        target = store.entity(entity.lookups[f"{name}Id"])
        linked = store.tables[target.name].get(row[f"{name}Id"])
        body[name] = None if linked is None else render(target, linked, None, call.ieee754)
    return body
