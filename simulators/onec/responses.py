"""How 1C writes its answers: JSON-light v3 with ``odata.metadata``, navigation links, errors.

Every reference ``X_Key`` is followed by ``X@navigationLinkUrl`` (relative to the service
root), or by the referenced object itself when ``$expand=X`` asked for it; ``LineNumber``
(``Edm.Int64``) and ``odata.count`` are strings, as JSON-light v3 writes 64-bit integers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from simulators.odata_service import json_response
from simulators.onec.errors import OneCError, error_body
from simulators.onec.literals import format_literal
from simulators.onec.payload import number
from simulators.onec.schema import ENTITY_SETS, EntityType, Property
from simulators.onec.store import Store

Values = dict[str, Any]

CONTENT_TYPE = "application/json;odata=minimalmetadata;streaming=true;charset=utf-8"
_HEADERS = {"Content-Type": CONTENT_TYPE, "DataServiceVersion": "3.0"}


def odata_response(
    payload: Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON-light response with 1C's headers."""
    return json_response(payload, status, _HEADERS, headers)


def error_response(error: OneCError) -> web.Response:
    """The ``odata.error`` envelope for ``error``."""
    return odata_response(error_body(error.code, error.message), error.status, error.headers)


def metadata_url(
    base: str, entity: EntityType, select: Sequence[str] | None = None, element: bool = False
) -> str:
    """``odata.metadata``: ``…/$metadata#Catalog_Контрагенты[/@Element][&$select=…]``."""
    url = f"{base}$metadata#{entity.name}"
    if element:
        url += "/@Element"
    if select is not None:
        url += f"&$select={','.join(select)}"
    return url


def key_path(entity: EntityType, values: Values) -> str:
    """The path of one entity: ``Set(guid'…')`` or ``Set(Name=literal, …)``."""
    if entity.key == ("Ref_Key",):
        return f"{entity.name}(guid'{values['Ref_Key']}')"
    pairs = (
        f"{name}={format_literal(entity.by_name[name].edm, values[name])}" for name in entity.key
    )
    return f"{entity.name}({', '.join(pairs)})"


def entity_json(
    store: Store,
    entity: EntityType,
    values: Values,
    select: Sequence[str] | None = None,
    expand: Sequence[str] = (),
) -> Values:
    """One entity in 1C's property order (the ``$select``-ed ones), with its rows."""
    data: Values = {}
    path = key_path(entity, values)
    for prop in entity.properties:
        if select is None or prop.name in select:
            data[prop.name] = _value(prop, values[prop.name])
            _navigation(store, data, prop, values[prop.name], path, expand)
    section = entity.section
    if section is not None and (select is None or section.name in select):
        # A register's record set has no entity set of rows to link to, so no links.
        rows_entity = ENTITY_SETS.get(f"{entity.name}_{section.name}")
        data[section.name] = [
            _row_json(rows_entity, section.properties, values, row) for row in values[section.name]
        ]
    return data


def _row_json(
    rows_entity: EntityType | None, properties: Sequence[Property], owner: Values, row: Values
) -> Values:
    data: Values = {}
    path = (
        "" if rows_entity is None else key_path(rows_entity, {"Ref_Key": owner["Ref_Key"], **row})
    )
    for prop in properties:
        data[prop.name] = _value(prop, row[prop.name])
        if prop.navigation and rows_entity is not None:
            data[f"{prop.navigation}@navigationLinkUrl"] = f"{path}/{prop.navigation}"
    return data


def _navigation(
    store: Store, data: Values, prop: Property, ref: Any, path: str, expand: Sequence[str]
) -> None:
    nav = prop.navigation
    if nav is None or prop.ref is None:
        return
    if nav not in expand:
        data[f"{nav}@navigationLinkUrl"] = f"{path}/{nav}"
        return
    target = store.tables[prop.ref].get(ref) if prop.ref in store.tables else None
    data[nav] = None if target is None else entity_json(store, ENTITY_SETS[prop.ref], target)


def _value(prop: Property, value: Any) -> Any:
    if prop.edm == "Edm.Int64":
        return str(value)
    if prop.edm == "Edm.Double":
        return number(value)
    return value
