"""The agreed formats on disk (schemas/json/) are the ones the models enforce."""

from __future__ import annotations

import json

from schemas.catalog import METHODS
from schemas.export import JSON_DIR, generated_files, render


def test_the_json_schema_files_match_the_models() -> None:
    expected = generated_files()
    on_disk = {path.name: path.read_text(encoding="utf-8") for path in JSON_DIR.glob("*.json")}
    assert sorted(on_disk) == sorted(expected), "run: python -m schemas.export"
    drifted = [name for name, document in expected.items() if on_disk[name] != render(document)]
    assert drifted == [], f"{drifted} drifted from the models; run: python -m schemas.export"


def test_the_openrpc_document_describes_every_method_with_its_params_and_errors() -> None:
    document = json.loads((JSON_DIR / "openrpc.json").read_text(encoding="utf-8"))
    assert document["openrpc"] == "1.2.6"
    assert [m["name"] for m in document["methods"]] == sorted(METHODS)
    submit = next(m for m in document["methods"] if m["name"] == "order.submit")
    params = {p["name"]: p for p in submit["params"]}
    assert params["lines"]["required"] and not params["comment"]["required"]
    assert params["lines"]["schema"]["items"] == {"$ref": "#/components/schemas/OrderLine"}
    assert {"code": -32010, "message": "Idempotency key reused with a different payload"} in (
        submit["errors"]
    )
    for method in document["methods"]:  # every reference resolves inside the document
        for ref in _refs(method):
            assert ref.rsplit("/", 1)[1] in document["components"]["schemas"], ref


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []
