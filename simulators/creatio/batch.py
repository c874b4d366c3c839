"""``$batch``: the JSON format, and what it shares with the multipart format.

Requests run in order through :func:`execute`, at most :data:`MAX_REQUESTS` of them; a 4xx/5xx
stops the rest unless ``Prefer: continue-on-error``. A request URL may begin with ``$<id>``
to name the entity an earlier request of the same batch created: ``$1`` becomes that entity's
URL (its ``Location``), so ``PATCH $1`` or ``GET $1?$select=Name`` work. The JSON format's
``atomicityGroup`` is accepted and ignored (each request stands alone).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from yarl import URL

from simulators.creatio.errors import CreatioError, bad_request
from simulators.creatio.odata import Call, Reply, execute, json_content_type, wants_ieee754
from simulators.creatio.store import Store

#: The most requests one batch may carry.
MAX_REQUESTS = 100
_REFERENCE = re.compile(r"^\$(?P<id>[^/?$]+)(?P<rest>.*)$", re.DOTALL)


@dataclass(frozen=True)
class SubRequest:
    """One request inside a batch, whatever the batch's format.

    Parameters:
        id: the request's ``id`` (JSON) or ``Content-ID`` (multipart), if any.
        method: the HTTP method.
        url: the URL as written: absolute, absolute-path, relative to the root or ``$<id>…``.
        headers: its headers, names in lowercase.
        body: the raw body.
    """

    id: str | None
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes


class References:
    """The URLs of the entities created so far in a batch, by request id."""

    def __init__(self) -> None:
        self._locations: dict[str, str] = {}

    def remember(self, request: SubRequest, reply: Reply) -> None:
        """Note the entity a successful create made, under the request's id."""
        location = reply.headers.get("Location")
        if request.id is not None and reply.status == 201 and location:
            self._locations[request.id] = location

    def forget(self, request: SubRequest) -> None:
        """Drop what a request created (its change was rolled back)."""
        if request.id is not None:
            self._locations.pop(request.id, None)

    def resolve(self, url: str) -> str:
        """``url`` with a leading ``$<id>`` replaced by the entity's URL.

        Raises:
            CreatioError: 400 when no earlier request with that id created an entity.
        """
        match = _REFERENCE.match(url)
        if match is None or url.startswith(("$batch", "$metadata")):
            return url
        location = self._locations.get(match["id"])
        if location is None:
            raise bad_request(
                f"The reference '${match['id']}' does not name an entity created earlier "
                "in the batch."
            )
        return location + match["rest"]


def continues_on_error(prefer: str) -> bool:
    """Whether ``Prefer`` asks to go on after a failed request."""
    return "continue-on-error" in prefer.lower()


def run_request(
    store: Store, request: SubRequest, root: str, ieee754: bool, references: References
) -> Reply:
    """Resolve references and run one sub-request; refusals come back as error replies."""
    try:
        url = URL(references.resolve(request.url))
    except CreatioError as error:
        return Reply(error.status, error.body())
    # A sub-request URL may be absolute, absolute-path or relative to the service root.
    path = url.path
    for prefix in (URL(root).path + "/", "/0/odata/", "/odata/"):
        if path.startswith(prefix):
            path = path[len(prefix) :]
            break
    headers = request.headers
    call = Call(
        method=request.method.upper(),
        resource=path.lstrip("/"),
        query=dict(url.query),
        body=request.body,
        ieee754=ieee754 or wants_ieee754(headers.get("content-type"), headers.get("accept")),
        root=root,
    )
    reply = execute(store, call)
    references.remember(request, reply)
    return reply


def count_checked(count: int) -> None:
    """Refuse a batch of more than :data:`MAX_REQUESTS` requests."""
    if count > MAX_REQUESTS:
        raise CreatioError(
            400,
            f"The number of requests in the batch ({count}) exceeds the limit of {MAX_REQUESTS}.",
        )


def run_batch(store: Store, raw: bytes, root: str, prefer: str, ieee754: bool) -> Reply:
    """Run a JSON batch body (``{"requests": [...]}``)."""
    items = _requests(raw)
    keep_going = continues_on_error(prefer)
    references = References()
    responses: list[dict[str, Any]] = []
    for item in items:
        reply = run_request(store, _sub_request(item), root, ieee754, references)
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
    count_checked(len(requests))
    return requests


def _sub_request(item: dict[str, Any]) -> SubRequest:
    body = item.get("body")
    request_id = item.get("id")
    return SubRequest(
        id=None if request_id is None else str(request_id),
        method=str(item.get("method", "GET")),
        url=str(item.get("url", "")),
        headers={str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()},
        body=b"" if body is None else json.dumps(body).encode(),
    )


def _response(item: dict[str, Any], reply: Reply) -> dict[str, Any]:
    response: dict[str, Any] = {"id": item.get("id"), "status": reply.status}
    headers = dict(reply.headers)
    if reply.body is not None:
        headers["Content-Type"] = json_content_type()
        response["headers"] = headers
        response["body"] = reply.body
    else:
        response["headers"] = headers
    return response
