"""The OpenRPC 1.2.6 document of the bus, generated from :data:`schemas.catalog.METHODS`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from schemas.catalog import METHODS, MethodSchema

OPENRPC_VERSION = "1.2.6"
_REF = "#/components/schemas/{model}"


def openrpc_document(
    version: str,
    errors: Iterable[tuple[int, str]] = (),
    methods: Iterable[MethodSchema] | None = None,
) -> dict[str, Any]:
    """The document describing ``methods`` (all by default).

    Parameters:
        version: the bus's version, for ``info``.
        errors: the application error codes every method may answer, as ``(code, message)``.
    """
    chosen = sorted(METHODS.values() if methods is None else methods, key=lambda m: m.name)
    models: list[type[BaseModel]] = [m.params for m in chosen] + [m.result for m in chosen]
    refs, definitions = models_json_schema(
        [(model, "validation") for model in dict.fromkeys(models)], ref_template=_REF
    )
    shared = definitions.get("$defs", {})
    described_errors = [{"code": code, "message": message} for code, message in errors]
    return {
        "openrpc": OPENRPC_VERSION,
        "info": {"title": "bus", "version": version},
        "methods": [_method(m, shared, refs, described_errors) for m in chosen],
        "components": {"schemas": shared},
    }


def _method(
    method: MethodSchema,
    shared: dict[str, Any],
    refs: dict[Any, dict[str, Any]],
    errors: list[dict[str, Any]],
) -> dict[str, Any]:
    params_schema = shared[refs[(method.params, "validation")]["$ref"].rsplit("/", 1)[1]]
    required = set(params_schema.get("required", []))
    return {
        "name": method.name,
        "summary": method.summary,
        "paramStructure": "by-name",
        "params": [
            {"name": name, "required": name in required, "schema": schema}
            for name, schema in params_schema.get("properties", {}).items()
        ],
        "result": {"name": "result", "schema": refs[(method.result, "validation")]},
        "errors": errors,
    }
