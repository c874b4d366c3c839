"""How NAV writes its answers: OData JSON (minimal metadata), context URLs and errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from simulators.navision.errors import NavError, error_body
from simulators.navision.etags import make_etag
from simulators.navision.resources import company_segment
from simulators.navision.schema import EntityType
from simulators.navision.store import Record
from simulators.odata_service import json_response

CONTENT_TYPE = "application/json; odata.metadata=minimal"
_HEADERS = {"Content-Type": CONTENT_TYPE, "OData-Version": "4.0"}


def odata_response(
    payload: Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """An OData JSON response with NAV's headers."""
    return json_response(payload, status, _HEADERS, headers)


def error_response(error: NavError) -> web.Response:
    """NAV's error envelope for ``error``."""
    return odata_response(error_body(error.code, error.message), error.status, error.headers)


def etag_of(entity: EntityType, record: Record) -> str:
    """The record's current etag."""
    return make_etag(entity.key_of(record.values), record.version)


def entity_json(
    entity: EntityType, record: Record, select: Sequence[str] | None = None
) -> dict[str, Any]:
    """One entity: ``@odata.etag`` first, then the (selected) properties in page order."""
    values = record.values
    data: dict[str, Any] = {"@odata.etag": etag_of(entity, record)}
    for name in select if select is not None else entity.by_name:
        data[name] = values[name]
    return data


def context_url(
    root: str,
    company: str,
    path: str,
    select: Sequence[str] | None = None,
    expand: Sequence[str] = (),
    entity: bool = False,
) -> str:
    """``@odata.context``, e.g. ``…/$metadata#Company('CRONUS')/Customer(No,Name)/$entity``."""
    projection = [*(select or ()), *(f"{name}()" for name in expand)]
    shape = f"({','.join(projection)})" if projection else ""
    suffix = "/$entity" if entity else ""
    return f"{root}/$metadata#{company_segment(company)}/{path}{shape}{suffix}"
