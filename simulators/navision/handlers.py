"""The OData operations: one coroutine per (resource kind, HTTP method)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from simulators.navision import b2brequests, crud, orders
from simulators.navision.errors import NavError
from simulators.navision.etags import check_if_match
from simulators.navision.odata import QueryOptions, next_link, parse_options, run_query
from simulators.navision.payload import parse_json_object
from simulators.navision.resources import Resource, company_segment
from simulators.navision.responses import context_url, entity_json, etag_of, odata_response
from simulators.navision.schema import (
    B2B_REQUESTS,
    ENTITY_SETS,
    SALES_LINE,
    SALES_ORDER,
    EntityType,
)
from simulators.navision.service import NavService
from simulators.navision.store import Record, Table

Operation = Callable[[web.Request, NavService, Resource], Awaitable[web.StreamResponse]]
_MAX_PAGE_SIZE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)")


async def get_collection(
    request: web.Request, service: NavService, resource: Resource
) -> web.StreamResponse:
    """GET a collection: query options and server-driven paging."""
    entity = _entity(resource)
    options = parse_options(entity, request.query)
    page_size, preference = _page_size(request, service.max_page_size)
    page = run_query(entity, _rows(service, resource), options, page_size)
    payload: dict[str, Any] = {
        "@odata.context": context_url(
            service.root(request),
            resource.company,
            resource.collection_path,
            options.select,
            options.expand,
        ),
    }
    if options.count:
        payload["@odata.count"] = page.total
    payload["value"] = [_represent(service, entity, r, options) for r in page.records]
    if page.skiptoken is not None:
        payload["@odata.nextLink"] = next_link(request.url, page.skiptoken, page.remaining_top)
    return odata_response(payload, headers=preference)


async def get_count(
    request: web.Request, service: NavService, resource: Resource
) -> web.StreamResponse:
    """GET ``…/$count``: the number of matching rows as plain text."""
    entity = _entity(resource)
    options = parse_options(entity, request.query)
    page = run_query(entity, _rows(service, resource), options, 0)
    return web.Response(text=str(page.total), headers={"OData-Version": "4.0"})


async def get_entity(
    request: web.Request, service: NavService, resource: Resource
) -> web.StreamResponse:
    """GET one entity by key (``$select`` and ``$expand`` apply)."""
    entity, record = _entity(resource), _record(resource)
    options = parse_options(entity, request.query)
    return _entity_response(request, service, resource, record, options)


async def create(
    request: web.Request, service: NavService, resource: Resource
) -> web.StreamResponse:
    """POST to a collection: 201 with the new entity, ``Location`` and ``ETag``."""
    entity = _entity(resource)
    if entity.read_only:
        raise _not_allowed(request, entity)
    options = parse_options(entity, request.query)
    body = parse_json_object(await request.read())
    store, today = service.store, service.today()
    if resource.parent is not None:
        record = orders.add_line(store, resource.parent, body)
    elif entity is SALES_ORDER:
        record = orders.create_order(store, body, today)
    elif entity is B2B_REQUESTS:
        record = b2brequests.create_request(store, body, service.now())
    else:
        record = crud.create_record(store, entity, body, today)
    if entity.containment in body and entity.containment not in options.expand:
        # Answer a deep insert with the lines it created.
        options = QueryOptions(select=options.select, expand=(*options.expand, entity.containment))
    location = _location(service.root(request), resource, record)
    return _entity_response(request, service, resource, record, options, 201, location)


async def update(
    request: web.Request, service: NavService, resource: Resource
) -> web.StreamResponse:
    """PATCH/PUT/MERGE one entity; ``If-Match`` is mandatory, as in NAV."""
    entity, record = _entity(resource), _record(resource)
    _ensure_changeable(request, entity)
    check_if_match(request.headers.get("If-Match"), etag_of(entity, record))
    body = parse_json_object(await request.read())
    store, today = service.store, service.today()
    if resource.parent is not None:
        orders.update_line(store, resource.parent, record, body)
    elif entity is SALES_ORDER:
        orders.update_order(store, record, body, today)
    else:
        crud.update_record(store, entity, record, body, today)
    options = parse_options(entity, request.query)
    return _entity_response(request, service, resource, record, options)


async def delete(
    request: web.Request, service: NavService, resource: Resource
) -> web.StreamResponse:
    """DELETE one entity; ``If-Match`` is mandatory. A sales order takes its lines along."""
    entity, record = _entity(resource), _record(resource)
    _ensure_changeable(request, entity)
    check_if_match(request.headers.get("If-Match"), etag_of(entity, record))
    if resource.parent is not None:
        orders.delete_line(service.store, resource.parent, record)
    elif entity is SALES_ORDER:
        orders.delete_order(service.store, record)
    else:
        crud.delete_record(service.store, entity, record)
    return web.Response(status=204, headers={"OData-Version": "4.0"})


async def service_document(
    request: web.Request, service: NavService, resource: Resource
) -> web.StreamResponse:
    """GET the service root: the published entity sets."""
    names = ["Company", *ENTITY_SETS]
    return odata_response(
        {
            "@odata.context": f"{service.root(request)}/$metadata",
            "value": [{"name": n, "kind": "EntitySet", "url": n} for n in names],
        }
    )


async def get_companies(
    request: web.Request, service: NavService, resource: Resource
) -> web.StreamResponse:
    """GET ``Company``: the companies of the database (one here)."""
    context = f"{service.root(request)}/$metadata#Company"
    return odata_response({"@odata.context": context, "value": [_company_json(service)]})


async def get_company(
    request: web.Request, service: NavService, resource: Resource
) -> web.StreamResponse:
    """GET ``Company('…')``."""
    context = f"{service.root(request)}/$metadata#Company/$entity"
    return odata_response({"@odata.context": context, **_company_json(service)})


OPERATIONS: dict[tuple[str, str], Operation] = {
    ("service", "GET"): service_document,
    ("companies", "GET"): get_companies,
    ("company", "GET"): get_company,
    ("collection", "GET"): get_collection,
    ("collection", "POST"): create,
    ("count", "GET"): get_count,
    ("entity", "GET"): get_entity,
    ("entity", "PATCH"): update,
    ("entity", "PUT"): update,
    ("entity", "MERGE"): update,
    ("entity", "DELETE"): delete,
}


def _entity_response(
    request: web.Request,
    service: NavService,
    resource: Resource,
    record: Record,
    options: QueryOptions,
    status: int = 200,
    location: str | None = None,
) -> web.Response:
    entity = _entity(resource)
    context = context_url(
        service.root(request),
        resource.company,
        resource.collection_path,
        options.select,
        options.expand,
        entity=True,
    )
    payload = {"@odata.context": context, **_represent(service, entity, record, options)}
    headers = {"ETag": etag_of(entity, record)}
    if location is not None:
        headers["Location"] = location
    return odata_response(payload, status, headers)


def _represent(
    service: NavService, entity: EntityType, record: Record, options: QueryOptions
) -> dict[str, Any]:
    data = entity_json(entity, record, options.select)
    if options.expand:
        lines = service.store.lines_of(record)
        data[SALES_LINE.name] = [entity_json(SALES_LINE, line) for line in lines]
    return data


def _rows(service: NavService, resource: Resource) -> Table | list[Record]:
    if resource.parent is not None:
        return service.store.lines_of(resource.parent)
    return service.store.tables[_entity(resource).name]


def _page_size(request: web.Request, max_page_size: int) -> tuple[int, dict[str, str]]:
    """The page size and the ``Preference-Applied`` header for ``Prefer: odata.maxpagesize``."""
    match = _MAX_PAGE_SIZE.search(request.headers.get("Prefer", ""))
    if match is None:
        return max_page_size, {}
    size = max(1, min(int(match.group(1)), max_page_size))
    return size, {"Preference-Applied": f"odata.maxpagesize={size}"}


def _location(root: str, resource: Resource, record: Record) -> str:
    return f"{root}/{company_segment(resource.company)}/{resource.entity_path(record)}"


def _company_json(service: NavService) -> dict[str, Any]:
    return {
        "Name": service.company,
        "Display_Name": service.company,
        "Id": str(uuid.uuid5(uuid.NAMESPACE_URL, service.company)),
    }


def _ensure_changeable(request: web.Request, entity: EntityType) -> None:
    """Refuse a write to an insert-only or read-only page before looking at ``If-Match`` or the
    body."""
    if entity.insert_only or entity.read_only:
        raise _not_allowed(request, entity)


def _not_allowed(request: web.Request, entity: EntityType) -> NavError:
    return NavError(
        405,
        "BadRequest_MethodNotAllowed",
        f"'{request.method}' requests for '{entity.name}' of EdmType 'Entity' are not "
        "allowed within Dynamics NAV OData web services.",
    )


def _entity(resource: Resource) -> EntityType:
    if resource.entity is None:
        raise NavError(404, "BadRequest_NotFound", "The resource is not an entity set.")
    return resource.entity


def _record(resource: Resource) -> Record:
    if resource.record is None:
        raise NavError(404, "BadRequest_NotFound", "The resource is not an entity.")
    return resource.record
