"""``$batch`` in the OData 4 multipart/mixed format, with change sets.

A request body ``multipart/mixed; boundary=…`` holds ``application/http`` parts (one request
each: request line, headers, blank line, body) and change sets: nested ``multipart/mixed`` parts
of write requests. A change set is atomic: when one of its requests fails, the store is rolled
back to before the change set and the change set answers with that single failure. A part's
``Content-ID`` names the request for ``$<id>`` references (see :mod:`batch`).

The answer is ``multipart/mixed; boundary=batchresponse_<guid>`` with an ``application/http``
part per request (``HTTP/1.1 201 Created``, headers, JSON body) and a nested
``changesetresponse_<guid>`` part per successful change set.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from http import HTTPStatus

from simulators.creatio.batch import (
    References,
    SubRequest,
    continues_on_error,
    count_checked,
    run_request,
)
from simulators.creatio.errors import bad_request
from simulators.creatio.odata import Reply, json_content_type
from simulators.creatio.store import Store

MULTIPART = "multipart/mixed"
_BOUNDARY = re.compile(r'boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)
_LINE = re.compile(rb"\r?\n")
_CRLF = "\r\n"


@dataclass(frozen=True)
class Part:
    """One MIME part: its headers (lowercase names) and raw body."""

    headers: dict[str, str]
    body: bytes


#: A change set: the write requests that succeed or fail together.
ChangeSet = list[SubRequest]


@dataclass(frozen=True)
class BatchAnswer:
    """The multipart answer: its Content-Type (with the boundary) and body."""

    content_type: str
    body: bytes


def boundary_of(content_type: str) -> str:
    """The ``boundary`` parameter of a multipart Content-Type.

    Raises:
        CreatioError: 400 without one.
    """
    match = _BOUNDARY.search(content_type)
    if match is None:
        raise bad_request("The multipart batch has no boundary.")
    return match.group(1) or match.group(2)


def split_parts(body: bytes, boundary: str) -> list[Part]:
    """The parts between ``--boundary`` lines, up to the closing ``--boundary--``.

    Raises:
        CreatioError: 400 when the closing delimiter is missing.
    """
    delimiter, closing = f"--{boundary}".encode(), f"--{boundary}--".encode()
    parts: list[list[bytes]] = []
    current: list[bytes] | None = None
    for line in _LINE.split(body):
        stripped = line.rstrip()
        if stripped == closing:
            if current is not None:
                parts.append(current)
            return [_part(lines) for lines in parts]
        if stripped == delimiter:
            if current is not None:
                parts.append(current)
            current = []
        elif current is not None:
            current.append(line)
    raise bad_request(f"The multipart batch does not end with '--{boundary}--'.")


def _part(lines: list[bytes]) -> Part:
    headers, body = _head_and_body(b"\r\n".join(lines))
    return Part(_header_map(headers), body)


def _head_and_body(raw: bytes) -> tuple[list[str], bytes]:
    """Split header lines from the body at the first blank line."""
    lines = _LINE.split(raw)
    for index, line in enumerate(lines):
        if not line.strip():
            head = [item.decode("latin-1") for item in lines[:index]]
            return head, b"\r\n".join(lines[index + 1 :]).rstrip(b"\r\n")
    return [item.decode("latin-1") for item in lines], b""


def _header_map(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep:
            raise bad_request(f"'{line}' is not a header line.")
        headers[name.strip().lower()] = value.strip()
    return headers


def _sub_request(part: Part, in_change_set: bool) -> SubRequest:
    if not part.headers.get("content-type", "").lower().startswith("application/http"):
        raise bad_request("Every batch part must be application/http or a multipart change set.")
    head, body = _head_and_body(part.body)
    request_line = head[0].split() if head else []
    if len(request_line) != 3 or not request_line[2].upper().startswith("HTTP/"):
        raise bad_request(f"'{head[0] if head else ''}' is not an HTTP request line.")
    method, url, _ = request_line
    if in_change_set and method.upper() == "GET":
        raise bad_request("A change set cannot contain a GET request.")
    headers = _header_map(head[1:])
    content_id = part.headers.get("content-id") or headers.get("content-id")
    return SubRequest(content_id, method, url, headers, body)


def parse_batch(body: bytes, content_type: str) -> list[SubRequest | ChangeSet]:
    """The batch's requests and change sets, in order.

    Raises:
        CreatioError: 400 for a malformed body or more than the allowed number of requests.
    """
    items: list[SubRequest | ChangeSet] = []
    for part in split_parts(body, boundary_of(content_type)):
        part_type = part.headers.get("content-type", "")
        if part_type.lower().startswith(MULTIPART):
            change_set = split_parts(part.body, boundary_of(part_type))
            items.append([_sub_request(inner, True) for inner in change_set])
        else:
            items.append(_sub_request(part, False))
    count_checked(sum(len(item) if isinstance(item, list) else 1 for item in items))
    return items


def run_multipart_batch(
    store: Store, body: bytes, content_type: str, root: str, prefer: str, ieee754: bool
) -> BatchAnswer:
    """Run a multipart batch; a failure stops the rest unless ``Prefer: continue-on-error``.

    Raises:
        CreatioError: 400 for a body that cannot be parsed (nothing has run then).
    """
    items = parse_batch(body, content_type)
    keep_going = continues_on_error(prefer)
    references = References()
    boundary = f"batchresponse_{uuid.uuid4()}"
    chunks: list[str] = []
    for item in items:
        if isinstance(item, list):
            text, failed = _run_change_set(store, item, root, ieee754, references)
        else:
            reply = run_request(store, item, root, ieee754, references)
            text, failed = _http_part(item, reply, ieee754), reply.status >= 400
        chunks.append(f"--{boundary}{_CRLF}{text}")
        if failed and not keep_going:
            break
    chunks.append(f"--{boundary}--{_CRLF}")
    return BatchAnswer(f"{MULTIPART}; boundary={boundary}", "".join(chunks).encode())


def _run_change_set(
    store: Store, requests: ChangeSet, root: str, ieee754: bool, references: References
) -> tuple[str, bool]:
    savepoint = store.snapshot()
    done: list[tuple[SubRequest, Reply]] = []
    for request in requests:
        reply = run_request(store, request, root, ieee754, references)
        if reply.status >= 400:
            store.restore(savepoint)
            for earlier, _ in done:
                references.forget(earlier)
            return _http_part(request, reply, ieee754), True
        done.append((request, reply))
    boundary = f"changesetresponse_{uuid.uuid4()}"
    inner = "".join(f"--{boundary}{_CRLF}{_http_part(r, a, ieee754)}" for r, a in done)
    head = f"Content-Type: {MULTIPART}; boundary={boundary}{_CRLF}{_CRLF}"
    return f"{head}{inner}--{boundary}--{_CRLF}", False


def _http_part(request: SubRequest, reply: Reply, ieee754: bool) -> str:
    """One ``application/http`` response part, ending with a line break."""
    part_headers = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if request.id is not None:
        part_headers.append(f"Content-ID: {request.id}")
    phrase = HTTPStatus(reply.status).phrase
    headers = [f"{name}: {value}" for name, value in reply.headers.items()]
    body = ""
    if reply.body is not None:
        headers.append(f"Content-Type: {json_content_type(ieee754)}")
        body = json.dumps(reply.body)
    headers.append("OData-Version: 4.0")
    lines = [*part_headers, "", f"HTTP/1.1 {reply.status} {phrase}", *headers, "", body]
    return _CRLF.join(lines) + _CRLF
