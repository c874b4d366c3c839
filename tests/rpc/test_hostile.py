"""Hostile input at the edge: each case the fuzzing of the edge found, against a real bus process.

Every answer is JSON that names what was wrong in an object (``error.data``), never an HTTP 500,
never Python's own words; slow or idle connections are closed; one client cannot flood the edge.
"""

from __future__ import annotations

import gzip
import json
import socket
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.settings import DEV_KEYS, Settings
from tests.rpc.conftest import Rpc, call, order, start_bus
from tests.support.processes import Stack

STOREFRONT = {"Authorization": f"Bearer {DEV_KEYS['storefront']}"}


def strict_json(text: str) -> Any:
    """Parse as strict JSON: ``NaN`` and ``Infinity`` are not JSON."""

    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in an answer: not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(
    ("encoding", "body", "says"),
    [
        ("gzip", b"this is not gzip", "not valid gzip"),
        ("gzip", gzip.compress(b'{"jsonrpc": "2.0"', mtime=0)[:-12], "cut short"),
        ("deflate", b"\x00\x01\x02 not deflate", "not valid deflate"),
        ("deflate", zlib.compress(b"[" * 10)[:3], "cut short"),  # aiohttp waited for ever
        ("deflate", b"sj\xfcxe\xc7~6", "deflate"),
        ("gzip", gzip.compress(b"{}", mtime=0) + b"more", "bytes after"),
        ("br", b"not brotli", "'br' is not supported"),
        ("gzip, zstd", b"x", "'zstd' is not supported"),
    ],
)
def test_a_body_that_does_not_decompress_is_a_parse_error_naming_the_body(
    rpc: Rpc, bus: Stack, encoding: str, body: bytes, says: str
) -> None:
    response = rpc.post(raw=body, headers={"Content-Encoding": encoding})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == -32700 and error["data"]["field"] == "body"
    assert says in error["data"]["message"]
    assert "Error handling request" not in bus.processes[0].output()


def test_a_compressed_body_is_read_and_its_expansion_capped(rpc: Rpc) -> None:
    request = json.dumps(call("rpc.discover", id="z")).encode()
    for encoding, body in (("gzip", gzip.compress(request)), ("deflate", zlib.compress(request))):
        answer = rpc.post(raw=body, headers={"Content-Encoding": encoding}).json()
        assert answer["id"] == "z" and "result" in answer
    bomb = gzip.compress(b" " * 1_000_000)  # about 1 KB that expands past the 64 KiB limit
    response = rpc.post(raw=bomb, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413 and response.json()["error"]["code"] == -32006


@pytest.mark.parametrize("key", [b"Bearer \xff\xfe", b"Bearer caf\xe9", b"\xc3\x28 x"])
def test_a_key_that_is_not_utf8_is_unauthenticated(rpc: Rpc, key: bytes) -> None:
    body = json.dumps(call("rpc.discover")).encode()
    response = rpc.http.post(rpc.url, content=body, headers={"Authorization": key})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == -32001


def bitrix24_event(bus: Stack, deal_id: str) -> httpx.Response:
    token = Settings().bitrix24.application_token.get_secret_value()
    form = {
        "event": "ONCRMDEALUPDATE",
        "data[FIELDS][ID]": deal_id,
        "auth[application_token]": token,
    }
    return httpx.post(f"{bus.api_url}/hooks/bitrix24", data=form, timeout=30)


@pytest.mark.parametrize("deal_id", ["²", "١٢٣", "1" * 4301, "9" * 19, "-1", " 12", ""])
def test_a_bitrix24_event_for_no_deal_id_is_refused(bus: Stack, deal_id: str) -> None:
    response = bitrix24_event(bus, deal_id)
    assert response.status_code == 400, response.text
    assert "deal id" in response.json()["error"]


def test_a_bitrix24_event_body_that_does_not_decompress_is_refused(bus: Stack) -> None:
    response = httpx.post(
        f"{bus.api_url}/hooks/bitrix24",
        content=b"not gzip at all",
        headers={
            "Content-Encoding": "gzip",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert response.status_code == 415 and "error" in response.json()


@pytest.mark.parametrize("number", ["1e309", "-1e400", "123456789e999"])
def test_a_number_json_cannot_carry_back_is_a_parse_error(rpc: Rpc, number: str) -> None:
    for where in (f'"id": {number}', f'"id": 1, "params": {{"x": {number}}}'):
        raw = f'{{"jsonrpc": "2.0", "method": "rpc.discover", {where}}}'.encode()
        response = rpc.post(raw=raw)
        answer = strict_json(response.text)
        assert answer["error"]["code"] == -32700 and answer["id"] is None
        assert answer["error"]["data"]["field"] == "body"


def test_a_parse_error_says_where_not_what_python_said(rpc: Rpc) -> None:
    answer = rpc.post(raw=b'{"jsonrpc": "2.0",\n "method": }').json()
    assert answer["error"]["code"] == -32700
    assert answer["error"]["data"] == {
        "field": "body",
        "message": "not valid JSON",
        "line": 2,
        "column": 12,
    }
    assert "Expecting" not in json.dumps(answer)


def test_a_param_named_context_is_an_unknown_field(rpc: Rpc) -> None:
    answer = rpc.post(call("balance.get", {"customer": "10000", "context": 1})).json()
    assert answer["error"]["code"] == -32602
    assert [f["field"] for f in answer["error"]["data"]["fields"]] == ["context"]
    assert "multiple values" not in json.dumps(answer)


def every_kind_of_error(rpc: Rpc) -> Iterator[tuple[int, httpx.Response]]:
    """One request for each error code the edge answers without a journal or an ERP."""
    yield -32700, rpc.post(raw=b"{")
    yield -32600, rpc.post(raw=b"[]")
    yield -32600, rpc.post({"jsonrpc": "1.0", "method": "x", "id": 1})
    yield -32601, rpc.post(call("no.such.method"))
    yield -32602, rpc.post(call("balance.get", {"customer": ""}))
    yield -32001, rpc.post(call("rpc.discover"), key=None)
    yield -32003, rpc.post(call("order.submit", order()), key="crm")
    yield -32006, rpc.post([call("rpc.discover", id=n) for n in range(11)])
    yield -32011, rpc.post(call("message.get", {"message_id": "0" * 26}))


def test_error_data_is_an_object_for_every_code(rpc: Rpc) -> None:
    for code, response in every_kind_of_error(rpc):
        error = response.json()["error"]
        assert error["code"] == code
        assert isinstance(error["data"], dict), (code, error)


def test_method_not_found_names_the_method(rpc: Rpc) -> None:
    answer = rpc.post(call("no.such.method", id="m")).json()
    assert answer == {
        "jsonrpc": "2.0",
        "error": {
            "code": -32601,
            "message": "Method not found",
            "data": {"method": "no.such.method"},
        },
        "id": "m",
    }
    assert rpc.post({"jsonrpc": "2.0", "method": "no.such.method"}).status_code == 204


def test_a_batch_of_discovers_is_answered_from_one_document(tmp_path: Path) -> None:
    stack = start_bus(tmp_path)  # the default max_batch: 100
    try:
        with Rpc(stack.api_url) as rpc:
            one = rpc.post(call("rpc.discover")).json()["result"]
            batch = [call("rpc.discover", id=n) for n in range(100)]
            started = time.monotonic()
            response = rpc.post(batch)
            seconds = time.monotonic() - started
            answers = response.json()
            assert len(answers) == 100 and all(a["result"] == one for a in answers)
            # It took 4.2 s when every call rebuilt the document; once built, it is copied.
            assert seconds < 2.0, f"a batch of 100 discovers took {seconds:.2f} s"
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def strict_bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A bus with short read timeouts and small per-client limits."""
    stack = start_bus(
        tmp_path_factory.mktemp("strict"),
        BUS_LIMITS__HEADER_TIMEOUT="1",
        BUS_LIMITS__BODY_TIMEOUT="1",
        BUS_LIMITS__CLIENT_RATE="2",
        BUS_LIMITS__CLIENT_BURST="5",
        BUS_LIMITS__CLIENT_CONCURRENCY="2",
    )
    yield stack
    stack.stop()


def connect(stack: Stack) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", stack.api_port), timeout=10)
    return sock


def closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Read until the server closes (True) or ``seconds`` pass (False); with what it sent."""
    sock.settimeout(0.2)
    received = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return True, received
        if not chunk:
            return True, received
        received += chunk
    return False, received


def headers_for(length: int, key: str = "storefront") -> bytes:
    return (
        f"POST /rpc HTTP/1.1\r\nHost: bus\r\nAuthorization: Bearer {DEV_KEYS[key]}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def test_an_idle_connection_is_closed(strict_bus: Stack) -> None:
    with connect(strict_bus) as sock:
        closed, _ = closed_within(sock, 10)
    assert closed


def test_headers_sent_a_byte_at_a_time_are_cut_off(strict_bus: Stack) -> None:
    with connect(strict_bus) as sock:
        started = time.monotonic()
        closed = False
        for byte in b"POST /rpc HTTP/1.1\r\nHost: bus\r\nX-Slow: " + b"a" * 40:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            closed, _ = closed_within(sock, 0.3)
            if closed:
                break
        assert closed and time.monotonic() - started < 10


def test_a_body_that_does_not_arrive_in_time_is_refused(strict_bus: Stack) -> None:
    with connect(strict_bus) as sock:
        sock.sendall(headers_for(100) + b'{"jsonrpc":')
        closed, received = closed_within(sock, 10)
    status_line, _, rest = received.partition(b"\r\n")
    assert b" 408 " in status_line, received
    answer = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert answer["error"]["code"] == -32600 and answer["error"]["data"]["field"] == "body"


def test_a_client_that_aborts_mid_body_leaves_one_log_line(strict_bus: Stack) -> None:
    api = strict_bus.processes[0]
    before = len(api.output())
    with connect(strict_bus) as sock:
        sock.sendall(headers_for(1000) + b'{"jsonrpc": "2.0"')
        time.sleep(0.2)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    deadline = time.monotonic() + 10
    while "before its body arrived" not in api.output()[before:] and time.monotonic() < deadline:
        time.sleep(0.1)
    logged = api.output()[before:]
    assert logged.count("before its body arrived") == 1, logged
    assert "Traceback" not in logged and "ERROR" not in logged, logged


def test_a_client_over_its_rate_is_told_when_to_come_back(strict_bus: Stack) -> None:
    with Rpc(strict_bus.api_url) as rpc:
        time.sleep(3)  # a full bucket: 5 calls
        batch = [call("rpc.discover", id=n) for n in range(5)]
        assert rpc.post(batch).status_code == 200
        refused = rpc.post(call("rpc.discover"))
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["code"] == -32029 and error["data"]["limit"] == "rate"
        assert 0 < error["data"]["retry_after"] <= 1
        assert refused.headers["Retry-After"] == "1"
        # another client has its own bucket
        assert rpc.post(call("rpc.discover"), key="ops").status_code == 200
        time.sleep(error["data"]["retry_after"])
        assert rpc.post(call("rpc.discover")).status_code == 200


def test_a_client_over_its_concurrency_is_refused_at_once(strict_bus: Stack) -> None:
    held = [connect(strict_bus) for _ in range(2)]
    try:
        for sock in held:  # two requests of the crm in flight: their bodies are on their way
            sock.sendall(headers_for(1000, key="crm") + b"[")
        time.sleep(0.3)
        with Rpc(strict_bus.api_url) as rpc:
            refused = rpc.post(call("rpc.discover"), key="crm")
            assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
            assert refused.json()["error"]["data"]["limit"] == "concurrency"
            assert rpc.post(call("rpc.discover"), key="erp").status_code == 200
    finally:
        for sock in held:
            sock.close()
    with Rpc(strict_bus.api_url) as rpc:
        deadline = time.monotonic() + 10
        while rpc.post(call("rpc.discover"), key="crm").status_code != 200:
            assert time.monotonic() < deadline, "the crm's slots were never given back"
            time.sleep(0.2)
