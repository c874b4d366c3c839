"""``$batch`` in its JSON format: up to 100 requests run in order through :func:`execute`."""

from __future__ import annotations

import json
from typing import Any

from yarl import URL

from simulators.creatio.errors import CreatioError, bad_request
from simulators.creatio.odata import Call, Reply, execute, wants_ieee754
from simulators.creatio.store import Store

#: The most requests one batch may carry.
MAX_REQUESTS = 100
_JSON = "application/json; odata.metadata=minimal; odata.streaming=true"


def run_batch(store: Store, raw: bytes, root: str, prefer: str, ieee754: bool) -> Reply:
    """Run a JSON batch body; a 4xx/5xx stops the rest unless ``Prefer: continue-on-error``."""
    requests = _requests(raw)
    keep_going = "continue-on-error" in prefer.lower()
    responses: list[dict[str, Any]] = []
    for item in requests:
        reply = execute(store, _call(item, root, ieee754))
        responses.append(_response(item, reply))
        if reply.status >= 400 and not keep_going:
            break
    return Reply(200, {"responses": responses})


def _requests(raw: bytes) -> list[dict[str, Any]]:
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise bad_request("The batch body is not valid JSON.") from None
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not all(isinstance(r, dict) for r in requests):
        raise bad_request('The batch body must be {"requests": [...]}.')
    if len(requests) > MAX_REQUESTS:
        raise CreatioError(
            400,
            f"The number of requests in the batch ({len(requests)}) exceeds the limit "
            f"of {MAX_REQUESTS}.",
        )
    return requests


def _call(item: dict[str, Any], root: str, ieee754: bool) -> Call:
    url = URL(str(item.get("url", "")))
    # A sub-request URL may be absolute, absolute-path or relative to the service root.
    path = url.path
    root_path = URL(root).path
    for prefix in (root_path + "/", "/0/odata/", "/odata/"):
        if path.startswith(prefix):
            path = path[len(prefix) :]
            break
    headers = {str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()}
    body = item.get("body")
    raw = b"" if body is None else json.dumps(body).encode()
    return Call(
        method=str(item.get("method", "GET")).upper(),
        resource=path.lstrip("/"),
        query=dict(url.query),
        body=raw,
        ieee754=ieee754 or wants_ieee754(headers.get("content-type"), headers.get("accept")),
        root=root,
    )


def _response(item: dict[str, Any], reply: Reply) -> dict[str, Any]:
    response: dict[str, Any] = {"id": item.get("id"), "status": reply.status}
    headers = dict(reply.headers)
    if reply.body is not None:
        headers["Content-Type"] = _JSON
        response["headers"] = headers
        response["body"] = reply.body
    else:
        response["headers"] = headers
    return response
