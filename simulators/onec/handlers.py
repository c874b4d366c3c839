"""The OData operations: one coroutine per (resource kind, HTTP method)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

from simulators.onec import objects, orders
from simulators.onec.balances import balances, chosen_dimensions
from simulators.onec.errors import (
    instance_not_found,
    invalid_value,
    method_forbidden,
    rows_directly,
)
from simulators.onec.filters import parse_filter
from simulators.onec.payload import parse_json_object
from simulators.onec.pricing import slice_last
from simulators.onec.query import QueryOptions, check_format, parse_options, run_query
from simulators.onec.resources import Resource
from simulators.onec.responses import entity_json, key_path, metadata_url, odata_response
from simulators.onec.schema import ENTITY_SETS, ORDER, REGISTERS, EntityType
from simulators.onec.service import OneCService
from simulators.onec.store import Table

Values = dict[str, Any]
#: Kinds written only by the configuration itself (posting), never through OData here.
_READ_ONLY = ("register", "accumulation")
Operation = Callable[[web.Request, OneCService, Resource], Awaitable[web.StreamResponse]]


async def service_document(
    request: web.Request, service: OneCService, resource: Resource
) -> web.StreamResponse:
    """GET the service root: the objects of the standard OData composition."""
    check_format(request.query.get("$format"))
    return odata_response(
        {
            "odata.metadata": f"{service.base(request)}$metadata",
            "value": [{"name": name, "url": name} for name in ENTITY_SETS],
        }
    )


async def get_collection(
    request: web.Request, service: OneCService, resource: Resource
) -> web.StreamResponse:
    """GET a collection with the query options applied."""
    entity = _entity(resource)
    options = parse_options(entity, request.query)
    return _collection_response(request, service, entity, _rows(service, entity), options)


async def get_count(
    request: web.Request, service: OneCService, resource: Resource
) -> web.StreamResponse:
    """GET ``…/$count``: how many rows match ``$filter``, as plain text."""
    entity = _entity(resource)
    options = parse_options(entity, request.query)
    _, total = run_query(entity, _rows(service, entity), QueryOptions(filter=options.filter))
    return web.Response(text=str(total), headers={"DataServiceVersion": "3.0"})


async def get_slice(
    request: web.Request, service: OneCService, resource: Resource
) -> web.StreamResponse:
    """GET ``…/SliceLast(Period=…, Condition='…')``: the latest record per dimensions.

    ``Condition`` filters the records before slicing (as the virtual table's parameter does);
    ``$filter`` filters the slice.
    """
    entity = _entity(resource)
    options = parse_options(entity, request.query)
    records: Iterable[Values] = service.store.prices
    condition = resource.arguments.get("Condition")
    if condition:
        test = parse_filter(entity.by_name, condition).test
        records = [r for r in records if test(r)]
    rows = slice_last(records, resource.arguments.get("Period"))
    return _collection_response(request, service, entity, rows, options)


async def get_balance(
    request: web.Request, service: OneCService, resource: Resource
) -> web.StreamResponse:
    """GET ``…/Balance(Period=…, Condition='…', Dimensions='…')``: balances per dimensions.

    The query options apply to the balance rows (``$filter=ВНаличииBalance gt 0``,
    ``$select``, ``$orderby``, ``$top``…).
    """
    register = REGISTERS[_entity(resource).name]
    arguments = resource.arguments
    dimensions = chosen_dimensions(register, arguments.get("Dimensions"))
    row_type = register.balance_type(dimensions)
    options = parse_options(row_type, request.query)
    rows = balances(
        register,
        service.store.stock,
        dimensions,
        arguments.get("Period"),
        arguments.get("Condition"),
    )
    return _collection_response(request, service, row_type, rows, options)


async def get_entity(
    request: web.Request, service: OneCService, resource: Resource
) -> web.StreamResponse:
    """GET one entity by key (``$select`` and ``$expand`` apply)."""
    entity = _entity(resource)
    options = parse_options(entity, request.query)
    target = _target(service, resource)
    return _entity_response(request, service, entity, target, options)


async def create(
    request: web.Request, service: OneCService, resource: Resource
) -> web.StreamResponse:
    """POST to a catalog or document: 201 with the new object."""
    entity = _entity(resource)
    if entity.kind == "rows":
        raise rows_directly()
    if entity.kind in _READ_ONLY:
        raise method_forbidden(request.method)
    options = parse_options(entity, request.query)
    body = parse_json_object(await request.read())
    if entity is ORDER:
        created = orders.create_order(service.store, body, service.now())
    else:
        created = objects.create_object(service.store, entity, body)
    location = f"{service.base(request)}{key_path(entity, created)}"
    return _entity_response(request, service, entity, created, options, 201, location)


async def update(
    request: web.Request, service: OneCService, resource: Resource
) -> web.StreamResponse:
    """PATCH/MERGE (or PUT) one object; ``If-Match`` is checked against ``DataVersion``."""
    entity = _writable(request, resource)
    options = parse_options(entity, request.query)
    target = _target(service, resource)
    objects.check_if_match(request.headers.get("If-Match"), target["DataVersion"])
    body = parse_json_object(await request.read())
    if entity is ORDER:
        orders.update_order(service.store, target, body)
    else:
        objects.update_object(service.store, entity, target, body)
    return _entity_response(request, service, entity, target, options)


async def delete(
    request: web.Request, service: OneCService, resource: Resource
) -> web.StreamResponse:
    """DELETE one object physically: 204."""
    entity = _writable(request, resource)
    target = _target(service, resource)
    objects.check_if_match(request.headers.get("If-Match"), target["DataVersion"])
    objects.delete_object(service.store, entity, target)
    return web.Response(status=204, headers={"DataServiceVersion": "3.0"})


async def action(
    request: web.Request, service: OneCService, resource: Resource
) -> web.StreamResponse:
    """POST ``…/Post`` or ``…/Unpost``: 200 with an empty body (clients read the object back)."""
    mode = request.query.get("PostingModeOperational", "false")
    if mode not in ("true", "false"):
        raise invalid_value("PostingModeOperational", "ожидается true или false")
    target = _target(service, resource)
    if_match = request.headers.get("If-Match")
    if resource.action == "Post":
        orders.post(service.store, target, if_match)
    else:
        orders.unpost(service.store, target, if_match)
    return web.Response(status=200, headers={"DataServiceVersion": "3.0"})


OPERATIONS: dict[tuple[str, str], Operation] = {
    ("service", "GET"): service_document,
    ("collection", "GET"): get_collection,
    ("collection", "POST"): create,
    ("count", "GET"): get_count,
    ("slice", "GET"): get_slice,
    ("balance", "GET"): get_balance,
    ("entity", "GET"): get_entity,
    ("entity", "PATCH"): update,
    ("entity", "MERGE"): update,
    ("entity", "PUT"): update,
    ("entity", "DELETE"): delete,
    ("action", "POST"): action,
}


def _collection_response(
    request: web.Request,
    service: OneCService,
    entity: EntityType,
    rows: Table | Iterable[Values],
    options: QueryOptions,
) -> web.Response:
    page, total = run_query(entity, rows, options)
    payload: Values = {
        "odata.metadata": metadata_url(service.base(request), entity, options.select)
    }
    if options.count:
        # JSON-light v3 writes the 64-bit count as a string, and so does 1C.
        payload["odata.count"] = str(total)
    payload["value"] = [
        entity_json(service.store, entity, row, options.select, options.expand) for row in page
    ]
    return odata_response(payload)


def _entity_response(
    request: web.Request,
    service: OneCService,
    entity: EntityType,
    target: Values,
    options: QueryOptions,
    status: int = 200,
    location: str | None = None,
) -> web.Response:
    context = metadata_url(service.base(request), entity, options.select, element=True)
    data = entity_json(service.store, entity, target, options.select, options.expand)
    headers = {"Location": location} if location else None
    return odata_response({"odata.metadata": context, **data}, status, headers)


def _rows(service: OneCService, entity: EntityType) -> Table | list[Values]:
    store = service.store
    if entity.kind == "rows":
        return store.order_rows()
    if entity.kind == "register":
        return store.prices
    if entity.kind == "accumulation":
        return store.stock
    return store.tables[entity.name]


def _target(service: OneCService, resource: Resource) -> Values:
    entity, key = _entity(resource), resource.key
    found: Values | None
    if entity.kind in ("catalog", "document"):
        found = service.store.tables[entity.name].get(key["Ref_Key"])
    else:
        candidates = _rows(service, entity)
        found = next((r for r in candidates if all(r[k] == v for k, v in key.items())), None)
    if found is None:
        raise instance_not_found()
    return found


def _writable(request: web.Request, resource: Resource) -> EntityType:
    entity = _entity(resource)
    if entity.kind == "rows":
        raise rows_directly()
    if entity.kind in _READ_ONLY:
        raise method_forbidden(request.method)
    return entity


def _entity(resource: Resource) -> EntityType:
    # The router only sends entity-set resources here; the service document has no entity.
    assert resource.entity is not None
    return resource.entity
