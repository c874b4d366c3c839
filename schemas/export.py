"""Write the JSON Schema of every method's params and result, and the OpenRPC document.

``python -m schemas.export`` writes ``schemas/json/``; a test fails when the files and the models
drift apart, so the agreed formats on disk are always the ones the bus enforces.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas.catalog import METHODS

#: Where the generated files live.
JSON_DIR = Path(__file__).parent / "json"


def generated_files() -> dict[str, Any]:
    """Every file of ``schemas/json/`` by name, as the models describe them now."""
    from bus import __version__
    from bus.errors import CALL_ERRORS
    from schemas.openrpc import openrpc_document

    files: dict[str, Any] = {}
    for method in METHODS.values():
        files[f"{method.name}.params.json"] = method.params.model_json_schema()
        files[f"{method.name}.result.json"] = method.result.model_json_schema()
    errors = [(error.code, error.message) for error in CALL_ERRORS]
    files["openrpc.json"] = openrpc_document(__version__, errors)
    return files


def render(document: Any) -> str:
    """A file's text: stable key order, two-space indent, a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main() -> None:
    """Write the files (and drop stale ones)."""
    JSON_DIR.mkdir(exist_ok=True)
    files = generated_files()
    for stale in set(p.name for p in JSON_DIR.glob("*.json")) - set(files):
        (JSON_DIR / stale).unlink()
    for name, document in files.items():
        (JSON_DIR / name).write_text(render(document), encoding="utf-8")
    print(f"wrote {len(files)} files to {JSON_DIR}")


if __name__ == "__main__":
    main()
